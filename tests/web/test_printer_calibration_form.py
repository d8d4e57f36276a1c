"""The calibration form on a printer's register page, through the app in this process (its test
client, no browser): a pass shows the next due date, the profile's interval after today; a fail
leaves the printer taking no batch, as its card on the printers page says; a value that is not a
number is told beside its field on the printer's own page (Post/Redirect/Get) and records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from printmed.jobs import register
from printmed.store import Store
from printmed.store.models import AuditEntry, User
from tests.records.builders import PROFILE_ID, add_users
from tests.web.in_process import app_in_process, form_token, sign_in

INTERVAL_DAYS = 30  # fixtures/printers/equipment/fdm-pharma-04.json
CALIBRATED = {"e_steps": 100.2, "bed_level": 0.04, "nozzle_temperature": -1.5}


@dataclass(frozen=True)
class Bench:
    """The app's test client signed in as a pharmacist, and the app's store."""

    client: TestClient
    store: Store
    pharmacist: User


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    with app_in_process(tmp_path_factory.mktemp("calibration-form")) as (client, store):
        pharmacist = add_users(store, "pharm")["pharm"]
        sign_in(client, "pharm")
        yield Bench(client, store, pharmacist)


def registered(bench: Bench, name: str, *, calibrated: bool = False) -> None:
    with bench.store.session() as session:
        register.add_printer(
            session,
            bench.pharmacist,
            name=name,
            profile_id=PROFILE_ID,
            serial_number=f"SN-{name.upper()}",
            location="clean room 2, bench A",
            connection=register.Connection("sim"),
        )
        if calibrated:
            register.record_calibration(session, bench.pharmacist, name, CALIBRATED)


def calibrate(bench: Bench, name: str, typed: dict[str, str]) -> httpx.Response:
    """The calibration form sent from the printer's page; the answer, not followed."""
    page = bench.client.get(f"/printers/register/{name}")
    return bench.client.post(
        f"/printers/register/{name}/calibrate",
        data={**typed, "csrf_token": form_token(page)},
        follow_redirects=False,
    )


def shown(page: httpx.Response, xpath: str) -> str:
    """The text of the one element at `xpath`, its white space collapsed."""
    (element,) = lxml.html.fromstring(page.text).xpath(xpath)
    return " ".join(element.text_content().split())


def audit_entries(bench: Bench) -> int:
    with bench.store.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_passing_calibration_shows_the_next_due_date_the_profiles_interval_after_today(
    bench: Bench,
) -> None:
    registered(bench, "fdm-cal-pass")  # no calibration on record yet: calibration due
    answer = calibrate(
        bench,
        "fdm-cal-pass",
        {"e_steps": "100.2", "bed_level": "0,04", "nozzle_temperature": "-1.5", "notes": "probe"},
    )
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/printers/register/fdm-cal-pass?done=pass",
    )
    due = (register.today() + dt.timedelta(days=INTERVAL_DAYS)).isoformat()
    page = bench.client.get(answer.headers["location"])
    assert shown(page, '//div[@role="status"]') == "fdm-cal-pass: calibration passed."
    status = shown(page, '(//section[@aria-labelledby="state-head"]//p)[1]')
    assert status.startswith(f"in service. Calibration due: {due}.")
    newest = shown(page, '//section[@aria-labelledby="calibrate-head"]//tbody/tr[1]')
    assert "E-steps: extruded over 100 mm asked for: 100.2 mm ✓" in newest
    assert "bed level: largest deviation from the mesh: 0.04 mm ✓" in newest
    assert newest.endswith(f"probe pass {due}")  # the notes, the result and the next due date
    card = shown(bench.client.get("/printers"), '//section[@data-printer="fdm-cal-pass"]')
    assert (
        f"in service Serial SN-FDM-CAL-PASS · clean room 2, bench A · calibration due {due}" in card
    )
    assert "Takes no batch" not in card


def test_a_failed_calibration_leaves_the_printer_taking_no_batch(bench: Bench) -> None:
    registered(bench, "fdm-cal-fail", calibrated=True)
    answer = calibrate(
        bench,
        "fdm-cal-fail",
        {"e_steps": "98.9", "bed_level": "0.04", "nozzle_temperature": "-1.5"},
    )
    assert answer.headers["location"] == "/printers/register/fdm-cal-fail?done=fail"
    page = bench.client.get(answer.headers["location"])
    assert shown(page, '//div[@role="status"]') == (
        "fdm-cal-fail: calibration failed; it takes no batch until one passes."
    )
    status = shown(page, '(//section[@aria-labelledby="state-head"]//p)[1]')
    assert status.startswith("calibration due calibration failed: e_steps.")
    newest = shown(page, '//section[@aria-labelledby="calibrate-head"]//tbody/tr[1]')
    assert "98.9 mm ✗ out of tolerance" in newest
    assert newest.endswith("fail —")  # no next due date after a fail
    printers = bench.client.get("/printers")
    card = shown(printers, '//section[@data-printer="fdm-cal-fail"]')
    assert "Takes no batch: calibration due: calibration failed: e_steps." in card
    assert "Clear the line" not in card
    with bench.store.read_session() as session:
        assert not register.readiness(register.get(session, "fdm-cal-fail")).ready


def test_a_calibration_value_that_is_not_a_number_is_told_beside_its_field(bench: Bench) -> None:
    registered(bench, "fdm-cal-typo")
    before = audit_entries(bench)
    typed = {"e_steps": "1OO.2", "bed_level": "0.04", "nozzle_temperature": "-1.5"}
    answer = calibrate(bench, "fdm-cal-typo", typed)
    # back to the printer's own page, so a reload sends nothing again
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/printers/register/fdm-cal-typo",
    )
    page = bench.client.get(answer.headers["location"])
    field = '//form[@action="/printers/register/fdm-cal-typo/calibrate"]'
    assert shown(page, f'{field}//*[@id="c-e-steps-error"]') == (
        "E-steps (mm) '1OO.2' is not a number."
    )
    (e_steps,) = lxml.html.fromstring(page.text).xpath(f'{field}//input[@id="c-e-steps"]')
    assert (e_steps.get("aria-invalid"), e_steps.get("value")) == ("true", "1OO.2")
    assert shown(page, f'{field}//*[@id="c-bed-error"]') == ""
    again = bench.client.get(answer.headers["location"])
    assert shown(again, f'{field}//*[@id="c-e-steps-error"]') == ""  # told once
    assert audit_entries(bench) == before
    with bench.store.read_session() as session:
        assert register.calibrations(session, register.get(session, "fdm-cal-typo")) == []
