"""The pages a pharmacist reviews and signs on: the review shows the prescribed maxima and each
body measurement as recorded (value and unit as written, date, status, source); the signing
password goes through the sign-in defence, and what it says is told beside the password field,
on the record's own page (a refused signing redirects there, so a reload sends nothing again).

The signing tests have a service of their own with a small policy (a guessing computer would hold
up the shared service's other tests) and a first wait of 10 minutes, long enough that no test
can outrun it. The browser is 127.0.0.1; other callers use other loopback addresses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from dosing.prescription import parse_prescription
from printmed.auth.users import create_user, get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from printmed.records.weighing import record_weights, target_mass_mg
from printmed.store.models import AuditEntry, SignInAttempt
from tests.web.conftest import (
    PEOPLE,
    PRINTER,
    Service,
    browser_page,
    log_in,
    printed_batch,
    running_service,
    screenshot,
)

POLICY = {
    "PRINTMED_SIGN_IN_ADDRESS_FREE_FAILURES": "2",
    "PRINTMED_SIGN_IN_ACCOUNT_FREE_FAILURES": "4",
    "PRINTMED_SIGN_IN_FIRST_DELAY_S": "600",
    "PRINTMED_SIGN_IN_LOCK_FAILURES": "4",
    "PRINTMED_SIGN_IN_LOCK_ADDRESSES": "2",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PIA = ("pia", "Pia Pharmacist", "pia-release-password")
ORDER_NUMBERS = itertools.count(1)
MEASURED = {
    "id": "RX-WEB-MEASURED",
    "patient": {
        "id": "TEST-PATIENT-21",
        "weight": {
            "value": 12400,
            "unit": "g",
            "status": "final",
            "subject": "TEST-PATIENT-21",
            "effective": "2026-11-20T08:15:00Z",
            "source": "Observation/weight-21",
        },
        "height": {
            "value": 0.88,
            "unit": "m",
            "status": "amended",
            "subject": "TEST-PATIENT-21",
            "effective": "2026-11-18T10:00:00Z",
            "source": "Observation/height-21",
        },
        "age_years": 2.5,
    },
    "drug": {"name": "propranolol", "code": "372772003"},
    "dose": {"value": 1.0, "unit": "mg/kg"},
    "max_single_dose_mg": 12.5,
    "max_daily_dose_mg": 25.0,
    "frequency_per_day": 2,
    "units": 10,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}


def test_the_review_shows_the_prescribed_maxima_and_the_measurements_as_recorded(
    page: Page, service: Service
) -> None:
    with service.store.session() as session:
        tess = get_user(session, "tess")
        batch = enter_prescription(
            session, tess, parse_prescription(MEASURED), printer=PRINTER, profile_id=PRINTER
        ).batch_number
    log_in(page, "tess")
    page.goto(f"/batches/{batch}/review")
    expect(page.locator("#prescribed-maxima")).to_have_text("12.5 mg a dose; 25 mg a day")
    expect(page.locator("#measured-1")).to_have_text(
        "12400 g (= 12.4 kg), measured 2026-11-20T08:15:00Z, status final, "
        "source Observation/weight-21"
    )
    expect(page.locator("#measured-2")).to_have_text(
        "0.88 m (= 88 cm), measured 2026-11-18T10:00:00Z, status amended, "
        "source Observation/height-21"
    )
    screenshot(page, "review-maxima-and-measurements")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with pytest.MonkeyPatch.context() as environment:
        for name, value in POLICY.items():
            environment.setenv(name, value)
        folder = tmp_path_factory.mktemp("signing-prompt")
        with running_service(Path(folder), f"{PRINTER}:120") as running:
            with running.store.session() as session:
                username, full_name, password = PIA
                create_user(
                    session,
                    None,
                    username=username,
                    full_name=full_name,
                    role="pharmacist",
                    password=password,
                )
            yield running


@pytest.fixture
def guarded_page(browser: Browser, guarded: Service) -> Iterator[Page]:
    with browser_page(browser, guarded.url) as fresh:
        yield fresh


def weighed_batch(service: Service) -> str:
    """A batch made and weighed by tess, for a pharmacist to release."""
    rx = {**MEASURED, "id": f"RX-WEB-SIGN-{next(ORDER_NUMBERS)}"}
    batch = printed_batch(service, "tess", rx, PRINTER)
    with service.store.session() as session:
        job = jobs.get_batch(session, batch, for_update=True)
        target = target_mass_mg(job)
        weights = [round(target * (1 + (n % 3 - 1) / 200), 2) for n in range(10)]
        record_weights(session, job, get_user(session, "tess"), weights)
    return batch


def attempts(service: Service, username: str) -> list[tuple[str, str, str]]:
    with service.store.session() as session:
        rows = session.scalars(
            select(SignInAttempt)
            .where(SignInAttempt.username == username)
            .order_by(SignInAttempt.id)
        )
        return [(a.address, a.channel, a.outcome) for a in rows]


def state(service: Service, batch: str) -> str:
    with service.store.session() as session:
        return jobs.get_batch(session, batch).state


def test_wrong_signing_passwords_are_told_beside_the_field_then_the_computer_waits(
    guarded_page: Page, guarded: Service
) -> None:
    page = guarded_page
    batch = weighed_batch(guarded)
    log_in(page, "phil")
    page.goto(f"/batches/{batch}/release")
    record_page = f"{guarded.url}/batches/{batch}/release"
    password = page.get_by_label("Your password")
    told = page.locator(".field", has=password).locator("#sign-password-error")
    for _ in range(2):
        page.get_by_label("Your password").fill("not my password")
        page.get_by_role("button", name="Sign", exact=True).click()
        expect(told).to_have_text("The password is not right; nothing was signed.")
        expect(page).to_have_url(record_page)  # redirected to the record, not left at /sign
    expect(password).to_have_attribute("aria-describedby", "sign-password-error")
    expect(password).to_have_attribute("aria-invalid", "true")

    # a reload asks for the record again (GET) and sends no password: the message was told once
    before = attempts(guarded, "phil")
    with page.expect_request(record_page) as reloaded:
        page.reload()
    assert reloaded.value.method == "GET"
    expect(told).to_be_empty()
    assert attempts(guarded, "phil") == before

    password.fill(PEOPLE["phil"][2])  # even the right one waits now
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(told).to_have_text(
        re.compile(
            r"^Too many wrong passwords from this computer\. Wait (10 min 00 s|9 min \d\d s) "
            r"before trying again; nothing was signed\.$"
        )
    )
    screenshot(page, "sign-throttled")
    assert state(guarded, batch) == "weighed"
    assert attempts(guarded, "phil")[-3:] == [
        ("127.0.0.1", "page", "wrong_password"),
        ("127.0.0.1", "page", "wrong_password"),
        ("127.0.0.1", "page", "throttled"),
    ]
    with guarded.store.session() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "sign_in.throttled")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None
        assert entry.reason == "refused unchecked: too many recent failures (for an e-signature)"


def login_form(client: httpx.Client, username: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )


def at(service: Service, address: str) -> httpx.Client:
    """A browser at `address` (its cookies kept)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=service.url, transport=transport, timeout=30)


def test_a_locked_pharmacist_cannot_sign_even_with_the_right_password(guarded: Service) -> None:
    batch = weighed_batch(guarded)
    username, _, right = PIA
    with at(guarded, "127.0.0.4") as bench:
        assert login_form(bench, username, right).status_code == 303  # signed in first
        for address in ("127.0.0.2", "127.0.0.3"):  # then guessed at from two computers
            with at(guarded, address) as guesser:
                for _ in range(2):
                    refused = login_form(guesser, username, "not her password")
                    assert (refused.status_code, refused.headers["location"]) == (303, "/login")
        form = bench.get(f"/batches/{batch}/release")
        token = CSRF.search(form.text)
        assert token is not None
        refused = bench.post(
            f"/batches/{batch}/sign",
            data={"meaning": "released", "password": right, "csrf_token": token.group(1)},
        )
        assert (refused.status_code, refused.headers["location"]) == (
            303,
            f"/batches/{batch}/release",
        )
        shown = bench.get(refused.headers["location"])
        again = bench.get(refused.headers["location"])
    assert shown.status_code == 200
    assert (
        '<p class="field-error" id="sign-password-error" aria-live="polite">Your account is '
        "locked after repeated wrong passwords and cannot sign. Ask an administrator to unlock "
        "it.</p>"
    ) in shown.text
    assert "Your account is locked" not in again.text  # told once: a reload sends nothing
    assert attempts(guarded, username)[-1] == ("127.0.0.4", "page", "locked")
    assert state(guarded, batch) == "weighed"
