"""Clinical screening in the browser: the pharmacist sees the order (patient with where and when
they were weighed, the dose trail, the maxima, the lot, the tablet) and screens it with their
password and a note, or returns it with a reason; the technician queues only a screened batch.
Each refusal is shown beside its field or as the page's answer, and leaves the batch as it was.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from dosing.prescription import parse_prescription
from printmed.audit import entries_for
from printmed.auth.users import get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from tests.web.conftest import (
    HYDROCORTISONE,
    PEOPLE,
    SSE_PRINTER,
    Service,
    browser_page,
    log_in,
    screenshot,
)

# batches here are queued on a printer no worker drives, so no other test's batch waits behind
BENCH = "sse-bench-screening"
NOTE = "4 mg/m2 for 0.73 m2, 3 a day: within 10 mg a dose"
WEIGHED = {
    "value": 18.0,
    "unit": "kg",
    "status": "final",
    "subject": "TEST-PATIENT-8",
    "effective": "2026-11-20T09:30:00Z",
    "source": "Observation/w-screen-1",
}


def entered(service: Service, username: str, rx_id: str) -> str:
    """A verified batch of the hydrocortisone order (its weight from an Observation) entered by
    `username`; its batch number."""
    patient = {**HYDROCORTISONE["patient"], "weight": WEIGHED, "age_years": 4}
    del patient["weight_kg"]
    rx = parse_prescription(
        HYDROCORTISONE
        | {
            "id": rx_id,
            "patient": patient,
            "authored_at": "2026-11-21T10:00:00Z",
            "indication": "Adrenal insufficiency (congenital adrenal hyperplasia)",
            "prescriber_words": [
                {"kind": "patient", "text": "with breakfast, lunch and supper; more if unwell"}
            ],
        }
    )
    with service.store.session() as session:
        user = get_user(session, username)
        return enter_prescription(
            session, user, rx, printer=BENCH, profile_id=SSE_PRINTER
        ).batch_number


def state_and_trail(service: Service, batch: str) -> tuple[str, list[str]]:
    with service.store.session() as session:
        state = jobs.get_batch(session, batch).state
        return state, [e.action for e in entries_for(session, batch)]


def csrf(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def test_a_pharmacist_sees_the_order_and_screens_it_and_the_technician_then_queues_it(
    browser: Browser, service: Service
) -> None:
    batch = entered(service, "tess", "RX-WEB-SCREEN-1")
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto("/batches")
        page.get_by_role("link", name=f"Clinical screening: {batch}").click()
        page.wait_for_url(re.compile(rf".*/batches/{batch}/screen$"))
        expect(page.locator("[data-field=weight]")).to_contain_text("18 kg")
        expect(page.locator("[data-field=weight]")).to_contain_text("Observation/w-screen-1")
        expect(page.locator("[data-field=weight]")).to_contain_text("2026-11-20 09:30:00 UTC")
        expect(page.get_by_text("4 years")).to_be_visible()
        expect(page.locator("[data-field=indication]")).to_have_text(
            "Adrenal insufficiency (congenital adrenal hyperplasia)"
        )
        expect(page.locator("[data-field=prescriber-words]")).to_contain_text(
            "“with breakfast, lunch and supper; more if unwell” — instruction for the patient"
        )
        expect(page.get_by_text("body surface area (mosteller)")).to_be_visible()
        expect(page.locator("[data-field=prescribed-maxima]")).to_contain_text("10 mg a dose")
        expect(page.locator("[data-field=formulary-maxima]")).to_contain_text("mg/kg")
        expect(page.get_by_text("SSE-HC-2611-C")).to_be_visible()
        page.get_by_label("What you checked").fill(NOTE)
        page.get_by_label("Your password").fill(PEOPLE["phil"][2])
        screenshot(page, "10-screening")
        page.get_by_role("button", name="Screen", exact=True).click()
        page.wait_for_url(re.compile(rf".*/batches/{batch}/screen$"))
        expect(page.locator("main .badge").first).to_have_text("screened")
        expect(page.locator("[data-decision=screened]")).to_contain_text(
            "Screened by Phil Pharmacist (phil)"
        )
        expect(page.locator("[data-decision=screened]")).to_contain_text(NOTE)
    assert state_and_trail(service, batch)[0] == "screened"
    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        page.goto(f"/batches/{batch}/review")
        page.get_by_role("button", name=f"Queue on {BENCH}").click()
        page.wait_for_url(re.compile(r".*/printers\?queued=.*"))
    state, trail = state_and_trail(service, batch)
    assert state == "queued"
    assert trail[-3:] == ["record.sign.screened", "record.screen", "job.queue"]


def test_a_wrong_password_is_told_beside_the_field_and_screens_nothing(
    browser: Browser, service: Service
) -> None:
    batch = entered(service, "tess", "RX-WEB-SCREEN-2")
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/screen")
        page.get_by_label("What you checked").fill(NOTE)
        page.get_by_label("Your password").fill("not the password")
        with page.expect_response(f"**/batches/{batch}/screen") as answer:
            page.get_by_role("button", name="Screen", exact=True).click()
        assert answer.value.status == 303  # back to the page: a reload sends nothing again
        expect(page).to_have_url(re.compile(rf".*/batches/{batch}/screen$"))
        expect(page.locator("#password-error")).to_have_text(
            "The password is not right; nothing was signed."
        )
        expect(page.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("What you checked")).to_have_value(NOTE)
    assert state_and_trail(service, batch) == ("verified", ["job.create", "job.verify"])


def test_a_screening_without_a_note_is_told_beside_the_note(
    browser: Browser, service: Service
) -> None:
    batch = entered(service, "tess", "RX-WEB-SCREEN-3")
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/screen")
        page.get_by_label("Your password").fill(PEOPLE["phil"][2])
        page.get_by_role("button", name="Screen", exact=True).click()
        expect(page.locator("#note-error")).to_have_text(
            "Write what you checked; nothing was signed."
        )
    assert state_and_trail(service, batch) == ("verified", ["job.create", "job.verify"])


def test_the_technician_who_entered_it_cannot_screen_it_nor_queue_it_unscreened(
    browser: Browser, service: Service
) -> None:
    batch = entered(service, "tess", "RX-WEB-SCREEN-4")
    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        page.goto(f"/batches/{batch}/screen")
        expect(page.get_by_role("button", name="Screen", exact=True)).to_have_count(0)
        expect(page.get_by_role("note")).to_contain_text("may not screen a batch clinically")
        form = {"csrf_token": csrf(page), "note": NOTE, "password": PEOPLE["tess"][2]}
        screened = page.request.post(f"/batches/{batch}/screen", form=form)
        assert screened.status == 403
        assert "Your role (technician) may not screen a batch clinically" in screened.text()
        page.goto(f"/batches/{batch}/review")
        expect(page.get_by_role("button", name=f"Queue on {BENCH}")).to_have_count(0)
        queued = page.request.post(f"/batches/{batch}/queue", form={"csrf_token": csrf(page)})
        assert queued.url.endswith(f"/batches/{batch}/review")  # redirected to the page
        assert "State: &#39;verified&#39; is not screened" in queued.text()
    assert state_and_trail(service, batch) == ("verified", ["job.create", "job.verify"])


def test_the_pharmacist_who_entered_it_is_refused_by_four_eyes(
    browser: Browser, service: Service
) -> None:
    batch = entered(service, "phil", "RX-WEB-SCREEN-5")
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/screen")
        expect(page.get_by_role("note")).to_contain_text("four eyes")
        form = {"csrf_token": csrf(page), "note": NOTE, "password": PEOPLE["phil"][2]}
        screened = page.request.post(f"/batches/{batch}/screen", form=form)
        assert screened.url.endswith(f"/batches/{batch}/screen")  # redirected to the page
        assert "they entered or made this batch (four eyes)" in screened.text()
    assert state_and_trail(service, batch) == ("verified", ["job.create", "job.verify"])


def test_a_returned_batch_shows_why_and_is_never_queued(browser: Browser, service: Service) -> None:
    batch = entered(service, "tess", "RX-WEB-SCREEN-6")
    with browser_page(browser, service.url) as page:
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/screen")
        page.get_by_role("button", name="Return to technician").click()
        expect(page.locator("#reason-error")).to_have_text(
            "Say what must change; the batch was not returned."
        )
        assert state_and_trail(service, batch)[0] == "verified"
        page.get_by_label("Reason to return it to the technician").fill("weigh the child again")
        page.get_by_role("button", name="Return to technician").click()
        page.wait_for_url(re.compile(rf".*/batches/{batch}/screen$"))
        expect(page.locator("main .badge").first).to_have_text("returned")
        expect(page.locator("[data-decision=returned]")).to_contain_text("weigh the child again")
        screenshot(page, "11-returned")
    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        page.goto(f"/batches/{batch}/screen")
        expect(page.get_by_role("note")).to_contain_text("enter the prescription again")
        queued = page.request.post(f"/batches/{batch}/queue", form={"csrf_token": csrf(page)})
        assert queued.url.endswith(f"/batches/{batch}/review")  # redirected to the page
        assert "State: &#39;returned&#39; is not screened" in queued.text()
        assert state_and_trail(service, batch)[0] == "returned"
        page.get_by_label("Reason to reject").fill("entered again with a new weight")
        page.get_by_role("button", name="Reject batch").click()
        page.get_by_role("dialog").get_by_role("button", name="Reject batch").click()
        page.wait_for_url(re.compile(rf".*/batches/{batch}/release$"))
    state, trail = state_and_trail(service, batch)
    assert state == "rejected"
    assert trail[-2:] == ["record.return", "job.reject"]
