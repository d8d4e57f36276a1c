"""Post/Redirect/Get on the pages (issue 15): every form that changes something answers 303 to
a page the browser then GETs, so a reload never sends a form again; and the record page that a
batch walked through those forms ends on says what each of its line counts counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dosing.prescription import parse_prescription
from printers.program import GcodeProgram
from printmed.auth.users import get_user
from printmed.jobs.making import enter_prescription
from printmed.records.batch_record import load_record
from printmed.store.models import StoredGcode
from tests.web.conftest import (
    PEOPLE,
    PRINTER,
    Service,
    browser_page,
    log_in,
    running_service,
)

# 10 units of propranolol 1 mg/kg for a 12.4 kg child: 12.5 mg per tablet
PROPRANOLOL = {
    "patient": {"id": "TEST-PATIENT-11", "weight_kg": 12.4, "height_cm": 88.0},
    "drug": {"name": "propranolol"},
    "dose": {"value": 1.0, "unit": "mg/kg"},
    "max_single_dose_mg": 40.0,
    "frequency_per_day": 2,
    "units": 10,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}
# unit masses (mg) within ±1 % of the 126.8 mg a 12.5 mg tablet of a 9.86 % lot weighs
WEIGHTS_MG = [126.5, 127.1, 126.9, 126.2, 127.4, 126.8, 127.0, 126.6, 126.3, 127.2]
PRINT_S = 60
# a POST's path, its status, the Location it names and the status of the GET of that page
Answer = tuple[str, int, str, int]


def _entered(service: Service, rx_id: str) -> str:
    """A batch tess entered through the real dose gate on the shared FDM printer."""
    with service.store.session() as session:
        tess = get_user(session, "tess")
        batch = enter_prescription(
            session,
            tess,
            parse_prescription(PROPRANOLOL | {"id": rx_id}),
            printer=PRINTER,
            profile_id=PRINTER,
        )
        return batch.batch_number


class Poster:
    """Forms sent as the browser sends them (the page's cookies and CSRF token), each answer
    kept with the path it answered."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.answers: list[Answer] = []

    def post(self, path: str, form: dict[str, str]) -> str:
        """POST `form` to `path` without following the redirect; the Location it names."""
        token = self.page.locator('input[name="csrf_token"]').first.get_attribute("value")
        sent: dict[str, str | float | bool] = {**form, "csrf_token": token or ""}
        answer = self.page.request.post(path, form=sent, max_redirects=0)
        location = answer.headers.get("location", "")
        # what the browser does with a 303: GET the page it names
        shown = self.page.goto(location) if location else None
        self.answers.append((path, answer.status, location, shown.status if shown else 0))
        return location


@pytest.fixture(scope="module")
def walked(
    browser: Browser, service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[Answer]]]:
    """One batch from screening to release, a second returned and rejected, and the admin's
    forms, all through the pages' POSTs; the released batch and every POST's answer."""
    batch, other = _entered(service, "RX-WEB-PRG-1"), _entered(service, "RX-WEB-PRG-2")
    answers: list[Answer] = []
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        phil = Poster(page)
        phil.post(
            f"/batches/{batch}/screen",
            {"password": PEOPLE["phil"][2], "note": "dose checked against the patient"},
        )
        phil.post(f"/batches/{other}/return", {"reason": "weight is a month old"})
        phil.post(
            f"/batches/{other}/reject", {"reason": "prescription cancelled", "confirmed": "yes"}
        )
        answers += phil.answers

    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        tess = Poster(page)
        tess.post(f"/batches/{batch}/queue", {})
        card = page.locator(f'[data-printer="{PRINTER}"]')
        expect(card.locator("[data-field=job]")).to_have_text(batch, timeout=20_000)
        tess.post(f"/printers/{PRINTER}/pause", {})
        expect(card.locator("[data-field=state]")).to_have_text("paused")
        tess.post(f"/printers/{PRINTER}/resume", {})
        expect(card.locator("[data-field=job]")).to_have_text("none", timeout=PRINT_S * 1000)
        page.goto(f"/batches/{batch}/weigh")
        weights = {f"w{n}": str(w) for n, w in enumerate(WEIGHTS_MG, start=1)}
        tess.post(f"/batches/{batch}/weigh", weights)
        answers += tess.answers

    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/release")
        phil = Poster(page)
        phil.post(f"/batches/{batch}/sign", {"password": PEOPLE["phil"][2], "meaning": "released"})
        answers += phil.answers

    with browser_page(browser, service.url) as page:
        log_in(page, "alma")
        alma = Poster(page)
        alma.post(
            "/users", {"username": "prg-tech", "full_name": "Pat Redirect", "role": "technician"}
        )
        alma.post("/users/prg-tech/password", {"reason": "forgotten"})
        alma.post("/users/prg-tech/active", {"active": "no", "reason": "left the pharmacy"})
        alma.post(
            "/clients",
            {"client_id": "prg-epma", "name": "PRG ePMA", "scope-prescriptions.read": "yes"},
        )
        alma.post("/clients/prg-epma/rotate", {"reason": "yearly rotation"})
        alma.post("/clients/prg-epma/active", {"active": "no", "reason": "replaced"})
        alma.post("/logout", {})
        answers += alma.answers

    # a registered printer changes who claims jobs: the register's forms on a service of their own
    data_dir = tmp_path_factory.mktemp("printmed-prg-register")
    with (
        running_service(data_dir, f"{PRINTER}:120") as own,
        browser_page(browser, own.url) as page,
    ):
        log_in(page, "alma")
        alma = Poster(page)
        alma.post(
            "/printers/register",
            {
                "name": "fdm-prg-bench",
                "profile_id": PRINTER,
                "serial_number": "SN-PRG-1",
                "location": "Room 2, bench 3",
                "connection": "sim",
            },
        )
        alma.post(
            "/printers/register/fdm-prg-bench/status",
            {"status": "out_of_service", "reason": "nozzle replaced"},
        )
        alma.post("/logout", {})
        answers += alma.answers
    yield batch, answers


def test_every_form_that_changes_something_answers_303_to_a_page(
    walked: tuple[str, list[Answer]], service: Service
) -> None:
    _, answers = walked
    assert len(answers) == 18  # every form the walk sends
    assert [(path, status) for path, status, _, _ in answers if status != 303] == []
    assert [(path, location, got) for path, _, location, got in answers if got != 200] == []


def test_the_record_says_the_file_has_lines_and_the_printer_acknowledged_commands(
    walked: tuple[str, list[Answer]], page: Page, service: Service
) -> None:
    batch, _ = walked
    with service.store.read_session() as session:
        record = load_record(session, batch)
        stored = session.get(StoredGcode, record.fields["gcode_sha256"])
    assert stored is not None
    commands = len(GcodeProgram.from_text(stored.text))
    assert record.gcode_lines is not None and record.gcode_lines > commands
    log_in(page, "phil")
    page.goto(f"/batches/{batch}/release")
    process = page.get_by_role("region", name="Process")
    expect(process).to_contain_text(
        f"{record.gcode_lines} lines ({commands} commands sent to the printer; "
        "comments and blank lines are not sent)"
    )
    expect(process).to_contain_text(f"completed, {commands} of {commands} commands acknowledged")
    expect(process).not_to_contain_text("lines acknowledged")
