"""The emergency stop in the browser, on a service of its own: after M112 the simulated board
stays halted, so no other test shares that printer.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from dosing.prescription import parse_prescription
from printmed.audit import entries_for
from printmed.auth.users import get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from tests.web.conftest import (
    HYDROCORTISONE,
    SSE_PRINTER,
    Service,
    browser_page,
    log_in,
    screen_as,
    screenshot,
)


def test_an_emergency_stop_after_confirmation_fails_the_batch_and_names_who_stopped_it(
    browser: Browser, lone_service: Service
) -> None:
    service = lone_service
    rx = parse_prescription(HYDROCORTISONE | {"id": "RX-WEB-0007", "units": 21})
    with service.store.session() as session:
        tess = get_user(session, "tess")
        batch = enter_prescription(session, tess, rx, printer=SSE_PRINTER, profile_id=SSE_PRINTER)
        screen_as(session, batch.batch_number)
        jobs.queue(session, batch, tess)
        batch_number = batch.batch_number
    with browser_page(browser, service.url) as page:
        log_in(page, "tess")
        page.goto("/printers")
        card = page.locator(f'[data-printer="{SSE_PRINTER}"]')
        expect(card.locator("[data-field=job]")).to_have_text(batch_number, timeout=20_000)
        expect(card.locator("[data-field=state]")).to_have_text("printing")
        card.get_by_role("button", name="Emergency stop").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Emergency stop {SSE_PRINTER} now?")
        dialog.get_by_role("button", name="Emergency stop").click()
        expect(card.locator("[data-field=job]")).to_have_text("none", timeout=20_000)
        expect(card.locator("[data-field=state]")).to_have_text("offline")
        screenshot(page, "14-after-emergency-stop")

    with service.store.session() as session:
        job = jobs.get_batch(session, batch_number)
        report = jobs.column_value(job, "stream_report_json")
        stops = [
            e.actor
            for e in entries_for(session, batch_number)
            if e.action == "printer.emergency_stop"
        ]
        assert job.state == "failed"
        assert report["complete"] is False
        assert 0 < report["lines_acknowledged"] < report["lines_total"]
        assert stops == ["tess"]
