"""The new-prescription page through the app in this process (its test client, no browser): it
offers the registered printers in service with their model; a batch made for one is queued for
it, with the weighing's date and who entered it in the trail; a machine of another model or a
weighing too old for the patient's age is told beside its field and records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from printmed.app import create_app
from printmed.jobs import register, service
from printmed.settings import load_settings
from printmed.store import Store, open_store
from printmed.store.models import Batch
from tests.records.builders import PASSWORD, PROFILE_ID, add_users
from tests.web.in_process import PRESCRIPTION_FORM, days_ago

CALIBRATED = {"e_steps": 100.2, "bed_level": 0.04, "nozzle_temperature": -1.5}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PRINTERS = {  # name → (profile, in service)
    "fdm-a": (PROFILE_ID, True),
    "fdm-down": (PROFILE_ID, False),
    "sse-a": ("sse-syringe-08", True),
}


FORM = PRESCRIPTION_FORM


@dataclass(frozen=True)
class Bench:
    client: TestClient
    store: Store


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """The app with three registered printers (one out of service), tina signed in."""
    folder = tmp_path_factory.mktemp("prescription-pages")
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PRINTMED_KEY_DIR", f"{folder}-keys")
        settings = load_settings(
            {"PRINTMED_DATA_DIR": str(folder), "PRINTMED_PHARMACY_NAME": "St Elsewhere Pharmacy"}
        )
        with TestClient(create_app(settings)) as client:
            store = open_store(settings.database_url)
            people = add_users(store, "tech", "pharm")
            with store.session() as session:
                for name, (profile, in_service) in PRINTERS.items():
                    register.add_printer(
                        session,
                        people["pharm"],
                        name=name,
                        profile_id=profile,
                        serial_number=f"SN-{name.upper()}",
                        location="clean room 2",
                        connection=register.Connection("sim"),
                    )
                    register.record_calibration(session, people["pharm"], name, CALIBRATED)
                    if not in_service:
                        register.set_status(
                            session, people["pharm"], name, "out_of_service", "belt worn"
                        )
            login = client.get("/login")
            signed_in = client.post(
                "/login",
                data={"username": "tech", "password": PASSWORD, "csrf_token": _token(login)},
            )
            assert signed_in.status_code == 200, signed_in.text[:500]
            yield Bench(client, store)
            store.dispose()


def _token(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def submit(bench: Bench, **changes: str) -> httpx.Response:
    page = bench.client.get("/prescriptions/new")
    return bench.client.post(
        "/prescriptions",
        data={**FORM, **changes, "csrf_token": _token(page)},
        follow_redirects=False,
    )


def beside(page: httpx.Response, field: str) -> str:
    (slot,) = lxml.html.fromstring(page.text).xpath(f'//p[@data-error-for="{field}"]')
    return " ".join(slot.text_content().split())


def batches(bench: Bench) -> int:
    with bench.store.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Batch)) or 0)


def test_the_form_offers_the_machines_in_service_each_with_its_model(bench: Bench) -> None:
    page = lxml.html.fromstring(bench.client.get("/prescriptions/new").text)
    offered = {
        option.get("value"): option.get("data-profile")
        for option in page.xpath('//select[@name="printer_name"]/option[@value!=""]')
    }
    assert offered == {"fdm-a": PROFILE_ID, "sse-a": "sse-syringe-08"}


def test_a_batch_made_for_one_machine_is_queued_for_it_with_the_weighing_in_the_trail(
    bench: Bench,
) -> None:
    answer = submit(bench, id="RX-PAGE-MACHINE", printer_name="fdm-a")
    assert answer.status_code == 303, answer.text[-2000:]
    batch_number = answer.headers["location"].split("/")[2]
    with bench.store.read_session() as session:
        batch = service.get_batch(session, batch_number)
        weighed = service.column_value(batch, "dose_json")["trail"][0]["inputs"]
    assert batch.printer == "fdm-a"
    assert (weighed["effective"], weighed["source"]) == (
        f"{days_ago(3)}T00:00:00+00:00",
        "ward scales, entered by tech",
    )


def refused_page(bench: Bench, answer: httpx.Response) -> httpx.Response:
    """The form a refused submission is sent back to (303), as the browser then GETs it."""
    assert (answer.status_code, answer.headers["location"]) == (303, "/prescriptions/new")
    return bench.client.get(answer.headers["location"])


def test_a_machine_of_another_model_is_told_beside_it_and_nothing_recorded(bench: Bench) -> None:
    before = batches(bench)
    answer = refused_page(bench, submit(bench, id="RX-PAGE-SSE", printer_name="sse-a"))
    assert beside(answer, "printer_name") == (
        "Which machine: sse-a is a printer of profile sse-syringe-08, not fdm-pharma-04 "
        "(chosen under Printer)"
    )
    assert batches(bench) == before


def test_a_weighing_too_old_for_the_age_is_told_beside_its_date(bench: Bench) -> None:
    before = batches(bench)
    answer = refused_page(
        bench, submit(bench, id="RX-PAGE-OLD", **{"patient.weighed_on": days_ago(120)})
    )
    assert beside(answer, "patient.weighed_on") == (
        f"Weighed on: {days_ago(120)} is 120 days old; for a patient aged 2.5 years it must "
        "be at most 90 days old"
    )
    assert batches(bench) == before
