"""What the pages refuse, seen in the browser: messages next to the fields of a wrong
prescription, release by a technician, an action a role may not take (by the same rule as the
API), a form without its CSRF token, an idle session.
"""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from dosing.prescription import parse_prescription
from printmed.auth.rules import Action, may
from printmed.auth.users import get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from printmed.records.weighing import record_weights
from printmed.store.models import AuditEntry, StaffSession, User
from tests.web.conftest import (
    HYDROCORTISONE,
    PEOPLE,
    SSE_PRINTER,
    Service,
    browser_page,
    log_in,
    printed_batch,
    screenshot,
)

# the event stream looks at the session every second; a loaded machine may take a while longer
# to send `ended` and load the login page, and the wait ends with the navigation, not a clock
ENDED_WITHIN_MS = 30_000


def make_idle(service: Service, username: str) -> None:
    """The user's open sessions were last used an hour ago."""
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    with service.store.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        session.execute(
            update(StaffSession)
            .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
            .values(last_seen_at=long_ago)
        )


def audit_entries(service: Service) -> int:
    """Entries other than sign-ins (each sign-in is recorded, refused or not, by design)."""
    with service.store.session() as session:
        return len(session.scalars(select(AuditEntry).where(AuditEntry.entity != "sign_in")).all())


def batch_count(service: Service) -> int:
    with service.store.session() as session:
        return len(jobs.list_batches(session))


def error_of(page: Page, dom_id: str) -> str:
    return page.locator(f"#{dom_id}-error").inner_text()


def test_an_empty_prescription_shows_a_message_next_to_every_required_field(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    before = batch_count(service)
    page.get_by_role("button", name=re.compile("Calculate, design")).click()
    expect(page.locator("#error-summary")).to_contain_text("The prescription was not accepted")
    assert error_of(page, "f-id") == "Prescription number is required"
    assert error_of(page, "f-patient-id") == "Patient identifier is required"
    assert error_of(page, "f-patient-weight-kg") == "Weight (kg) is required"
    assert error_of(page, "f-dose-value") == "Dose is required"
    assert error_of(page, "f-formulation") == "Formulation lot is required"
    assert error_of(page, "f-printer") == "Printer is required"
    assert error_of(page, "f-patient-height-cm") == ""
    expect(page.locator("#f-dose-value")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-dose-value")).to_have_attribute(
        "aria-describedby", "f-dose-value-error"
    )
    screenshot(page, "10-prescription-refused")
    assert batch_count(service) == before


def test_live_checks_name_the_lot_that_does_not_carry_the_drug_and_a_dose_above_the_cap(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    for label, value in {
        "Prescription number": "RX-WEB-0003",
        "Patient identifier": "TEST-PATIENT-9",
        "Weight (kg)": "70",
        "Weighed on": dt.datetime.now(dt.UTC).date().isoformat(),
        "Drug": "theophylline",
        "Dose": "300",
        "Maximum single dose (mg) (optional)": "250",
        "Doses a day": "2",
        "Doses to supply": "14",
    }.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Dose unit").select_option("mg")
    page.get_by_label("Printer").select_option("fdm-pharma-04")
    page.get_by_label("Formulation lot").select_option("propranolol-pva-10")
    expect(page.locator("#f-formulation-error")).to_contain_text("not the prescribed theophylline")
    page.get_by_label("Formulation lot").select_option("theophylline-eudragit-30")
    expect(page.locator("#f-dose-value-error")).to_have_text(
        "Dose: 300 mg is above the maximum single dose of 250"
    )
    expect(page.locator("#f-formulation-error")).to_have_text("")


def test_expired_lots_are_not_offered(page: Page, service: Service) -> None:
    log_in(page, "tess")
    offered = page.locator("#f-formulation option").all_inner_texts()
    assert len(offered) == 5  # "Choose…" and the four lots in date with an assay
    assert all("expires 2027" in text for text in offered[1:])


def test_a_technician_sees_the_record_but_cannot_release(page: Page, service: Service) -> None:
    batch = printed_batch(service, "tess", HYDROCORTISONE, SSE_PRINTER)
    with service.store.session() as session:
        tess = get_user(session, "tess")
        job = jobs.get_batch(session, batch)
        record_weights(session, job, tess, [54.1, 53.8, 54.4])
    log_in(page, "tess")
    page.goto(f"/batches/{batch}/release")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("button", name="Sign", exact=True)).to_have_count(0)
    expect(page.get_by_role("note")).to_contain_text("may not release")
    screenshot(page, "11-technician-cannot-release")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"/batches/{batch}/sign",
        form={"csrf_token": token or "", "meaning": "released", "password": "tess-bench-password"},
    )
    assert answer.status == 403
    with service.store.session() as session:
        assert jobs.get_batch(session, batch).state == "weighed"


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    before = audit_entries(service)
    for path, form in (
        ("/printers/fdm-pharma-04/emergency_stop", {"confirmed": "yes"}),
        ("/prescriptions", {"id": "RX-WEB-0009"}),
        ("/logout", {}),
    ):
        answer = page.request.post(path, form=form)
        assert answer.status == 403, path
    assert audit_entries(service) == before
    page.goto("/printers")
    expect(page.get_by_role("heading", name="Printers")).to_be_visible()  # still logged in


def test_a_session_idle_longer_than_the_configured_time_ends_at_the_login_page(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    make_idle(service, "tess")
    page.goto("/printers")
    expect(page).to_have_url(re.compile(r".*/login\?ended=1$"))
    expect(page.get_by_role("status")).to_contain_text("Your session ended")


def test_a_printers_page_left_open_still_times_out(page: Page, service: Service) -> None:
    log_in(page, "tess")
    page.goto("/printers")
    # the live stream is open: its request (the last use of the session) is behind us
    expect(page.locator("[data-printer-events]")).to_have_attribute(
        "data-live", "open", timeout=ENDED_WITHIN_MS
    )
    make_idle(service, "tess")
    page.wait_for_url(re.compile(r".*/login\?ended=1$"), timeout=ENDED_WITHIN_MS)
    expect(page.get_by_role("status")).to_contain_text("Your session ended")


def test_the_printers_event_stream_of_an_ended_session_says_where_to_go(
    page: Page, service: Service
) -> None:
    """Not a 401, which an EventSource reconnecting after the session ended would swallow."""
    log_in(page, "tess")
    make_idle(service, "tess")
    answer = page.request.get("/printers/events", headers={"Accept": "text/event-stream"})
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text() == 'event: ended\ndata: {"location": "/login?ended=1"}\n\n'


def test_pages_need_a_login(page: Page, service: Service) -> None:
    page.goto("/batches")
    expect(page).to_have_url(re.compile(r".*/login$"))


def test_pages_are_not_cached_framed_or_fed_from_elsewhere(page: Page, service: Service) -> None:
    answer = page.goto("/login")
    assert answer is not None
    headers = answer.headers
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]


def test_a_batch_not_yet_printed_cannot_be_weighed_and_an_unknown_one_is_named(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    answer = page.goto("/batches/PM-19990101-0001/weigh")
    assert answer is not None and answer.status == 409
    expect(page.get_by_role("alert")).to_contain_text("'PM-19990101-0001' is not a batch")
    with service.store.session() as session:
        rx = parse_prescription(HYDROCORTISONE | {"id": "RX-WEB-0006"})
        tess = get_user(session, "tess")
        batch = enter_prescription(session, tess, rx, printer=SSE_PRINTER, profile_id=SSE_PRINTER)
        batch_number = batch.batch_number
    answer = page.goto(f"/batches/{batch_number}/weigh")
    assert answer is not None and answer.status == 409
    expect(page.get_by_role("heading", name=f"Batch {batch_number} is verified")).to_be_visible()


def test_rejecting_a_batch_asks_for_confirmation_and_records_who_and_why(
    page: Page, service: Service
) -> None:
    with service.store.session() as session:
        rx = parse_prescription(HYDROCORTISONE | {"id": "RX-WEB-0008"})
        tess = get_user(session, "tess")
        batch_number = enter_prescription(
            session, tess, rx, printer=SSE_PRINTER, profile_id=SSE_PRINTER
        ).batch_number
    log_in(page, "tess")
    page.goto(f"/batches/{batch_number}/review")
    page.get_by_label("Reason to reject instead").fill("prescription cancelled by the ward")
    page.get_by_role("button", name="Reject batch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Reject batch {batch_number}?")
    dialog.get_by_role("button", name="Reject batch").click()
    page.wait_for_url(re.compile(rf".*/batches/{batch_number}/release$"))
    expect(page.locator("main .badge").first).to_have_text("rejected")
    expect(page.get_by_role("row", name=re.compile(r"job\.reject"))).to_contain_text(
        "prescription cancelled by the ward"
    )
    with service.store.session() as session:
        assert jobs.get_batch(session, batch_number).state == "rejected"


def test_every_page_action_is_refused_by_the_rule_the_api_uses_and_only_by_it(
    browser: Browser, service: Service
) -> None:
    """For each role and each action a page takes: the not-permitted page (403) exactly when
    printmed.auth.rules says no. Allowed requests here are harmless: a confirmation page, a
    wrong password, a batch in the wrong state."""
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0010"}, SSE_PRINTER)
    # the actions each request takes, in the order the page asks the rule
    requests = [
        ((Action.ENTER_PRESCRIPTION,), "GET", "/prescriptions/new", {}),
        ((Action.READ_RECORD,), "GET", f"/batches/{batch}/release", {}),
        ((Action.DOWNLOAD_LABEL,), "GET", f"/batches/{batch}/label.pdf", {}),
        ((Action.WEIGH,), "GET", f"/batches/{batch}/weigh", {}),
        ((Action.QUEUE,), "POST", f"/batches/{batch}/queue", {}),
        ((Action.REJECT,), "POST", f"/batches/{batch}/reject", {"reason": "test"}),
        ((Action.CONTROL_PRINTER,), "POST", f"/printers/{SSE_PRINTER}/cancel", {}),
        ((Action.SIGN,), "POST", f"/batches/{batch}/sign", {"meaning": "reviewed"}),
        ((Action.SIGN, Action.RELEASE), "POST", f"/batches/{batch}/sign", {"meaning": "released"}),
    ]
    before = audit_entries(service)
    for username, (_, role, _) in PEOPLE.items():
        with browser_page(browser, service.url) as page:
            log_in(page, username)
            token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
            for actions, method, path, form in requests:
                if method == "GET":
                    answer = page.request.get(path)
                else:
                    form = form | {"csrf_token": token, "password": "not the password"}
                    answer = page.request.post(path, form=form)
                refused = [action for action in actions if not may(role, action)]
                assert (answer.status == 403) is bool(refused), (role, actions, answer.status)
                if refused:
                    assert answer.headers["content-type"].startswith("text/html")
                    assert f"Your role ({role}) may not {refused[0]}." in answer.text()
    assert audit_entries(service) == before


def test_a_technician_downloads_the_dispensing_label_and_an_admin_is_not_offered_it(
    browser: Browser, service: Service
) -> None:
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0011"}, SSE_PRINTER)
    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        page.goto(f"/batches/{batch}/release")
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Dispensing label (PDF)").click()
        assert download_info.value.suggested_filename == f"{batch}-label.pdf"
    with browser_page(browser, service.url) as page:
        log_in(page, "alma")
        expect(page.get_by_role("link", name="New prescription")).to_have_count(0)
        page.goto(f"/batches/{batch}/release")
        expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
        expect(page.get_by_role("link", name="Dispensing label (PDF)")).to_have_count(0)
        expect(page.get_by_role("button", name="Reject batch")).to_have_count(0)
        answer = page.goto(f"/batches/{batch}/label.pdf")
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("alert")).to_have_text(
            "Your role (admin) may not download a dispensing label."
        )
        screenshot(page, "15-admin-not-permitted")


def test_a_weight_that_is_not_a_mass_is_named_by_its_unit_and_nothing_is_recorded(
    page: Page, service: Service
) -> None:
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0012"}, SSE_PRINTER)
    log_in(page, "tess")
    page.goto(f"/batches/{batch}/weigh")
    page.get_by_label("Unit 1 (mg)").fill("54,1")  # a decimal comma is a point
    page.get_by_label("Unit 2 (mg)").fill("5x")
    panel = page.locator("[data-qc-panel]")
    expect(panel).to_have_text("Unit 2: '5x' is not a mass in mg")
    page.get_by_label("Unit 2 (mg)").fill("-54")
    expect(panel).to_have_text("Unit 2: '-54' is not a positive mass in mg")
    page.get_by_role("button", name="Record weights").click()
    expect(page.get_by_role("alert")).to_have_text("Unit 2: '-54' is not a positive mass in mg")
    page.get_by_label("Unit 2 (mg)").fill("53.9")
    expect(panel).to_contain_text("2 of 3 units weighed")
    with service.store.session() as session:
        assert jobs.get_batch(session, batch).state == "printed"
