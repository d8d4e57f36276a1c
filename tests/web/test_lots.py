"""Material lots in Chromium: the lots page, one lot's ledger and its goods-in form (refusals
beside the field, nothing booked), a batch drawing its material when queued, and the
reconciliation on the batch record page.

A service of its own: once stock is booked every batch must draw from its lot, which the
shared service's other tests do not expect.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from printmed.jobs import calibration, stock
from printmed.store.models import LotCalibration
from tests.web.conftest import (
    HYDROCORTISONE,
    PEOPLE,
    SSE_PRINTER,
    Service,
    browser_page,
    log_in,
    log_out,
    printed_batch,
    screenshot,
)

LOT = "SSE-HC-2611-C"  # fixtures/materials/hydrocortisone-paste-5.json


def _ledger(service: Service) -> stock.LotLedger:
    with service.store.read_session() as session:
        return stock.ledger(session, LOT)


def test_goods_in_on_the_lot_page_with_refusals_beside_the_field(
    browser: Browser, lone_service: Service
) -> None:
    with browser_page(browser, lone_service.url) as page:
        log_in(page, "tess")
        page.goto("/lots")
        expect(page.locator(f'tr[data-lot="{LOT}"] [data-field="remaining"]')).to_have_text("0.000")
        page.get_by_role("link", name=LOT).click()
        page.wait_for_url(re.compile(f".*/lots/{LOT}$"))

        page.get_by_label("Quantity received (g)").fill("lots")
        page.get_by_label("Reason (e.g. the delivery note)").fill("DN 4711")
        page.get_by_role("button", name="Receive").click()
        expect(page.locator('[data-error-for="grams"]')).to_contain_text("'lots' is not a quantity")
        expect(page.get_by_label("Quantity received (g)")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Reason (e.g. the delivery note)")).to_have_value("DN 4711")
        expect(page).to_have_url(
            re.compile(f".*/lots/{LOT}$")
        )  # redirected: a reload sends nothing

        page.get_by_label("Quantity received (g)").fill("-2")
        page.get_by_role("button", name="Receive").click()
        expect(page.locator('[data-error-for="grams"]')).to_contain_text(
            "is not a quantity above 0"
        )

        page.get_by_label("Quantity received (g)").fill("50")
        page.get_by_label("Reason (e.g. the delivery note)").fill("")
        page.get_by_role("button", name="Receive").click()
        expect(page.locator('[data-error-for="reason"]')).to_contain_text("is required")
        assert _ledger(lone_service).entries == ()

        page.get_by_label("Reason (e.g. the delivery note)").fill("DN 4711")
        page.get_by_role("button", name="Receive").click()
        page.wait_for_url(re.compile(f".*/lots/{LOT}$"))
        expect(page.locator('[data-field="received"]')).to_have_text("50.000 g")
        expect(page.locator('[data-field="remaining"]')).to_have_text("50.000 g")
        expect(page.locator('tr[data-kind="receipt"]')).to_contain_text("DN 4711")
        screenshot(page, "lots-ledger")
        log_out(page)

        # the batch draws its paste when queued; the record page reconciles it
        batch = printed_batch(lone_service, "tess", HYDROCORTISONE, SSE_PRINTER)
        ledger = _ledger(lone_service)
        assert ledger.entries[-1]["batch_number"] == batch
        assert 0 < ledger.used_g < 1.0
        log_in(page, "phil")
        page.goto(f"/batches/{batch}/release")
        section = page.locator("#reconciliation")
        expect(section.locator('[data-field="units"]')).to_have_text(
            "planned 3, printed 3, weighed 0, rejected 0, released 3"
        )
        expect(section.locator('[data-field="lot-stock"]')).to_contain_text(
            f"drawn {ledger.used_g:.3f} g; received 50.000 g"
        )
        expect(section.locator('[data-field="material"]')).to_contain_text("mL of paste")
        screenshot(page, "record-reconciliation")


def test_an_admin_sees_the_ledger_but_no_goods_in_form(
    browser: Browser, lone_service: Service
) -> None:
    with browser_page(browser, lone_service.url) as page:
        log_in(page, "alma")
        page.goto(f"/lots/{LOT}")
        expect(page.locator('[data-field="remaining"]')).to_have_text("0.000 g")
        expect(page.get_by_role("button", name="Receive")).to_have_count(0)
        expect(page.get_by_text("None proposed: batches use the lot's own factor.")).to_be_visible()
        page.goto("/lots/NO-SUCH-LOT")
        expect(page.get_by_role("heading", name="No such lot")).to_be_visible()


def _proposal(service: Service, proposed_by: str) -> int:
    """A proposed factor for the lot on a printer, as `jobs.calibration.propose` records it
    from a fit (written here directly: the fit itself is tests/records/test_calibration_loop)."""
    with service.store.session() as session:
        row = LotCalibration(
            lot=LOT,
            printer="sse-bench-a",
            profile_id=SSE_PRINTER,
            factor_before=1.0,
            factor=1.0312,
            fit_json="{}",
            status="proposed",
            proposed_by=proposed_by,
            proposed_at="2026-11-29T10:00:00+00:00",
            reason="",
        )
        session.add(row)
        session.flush()
        return row.id


def test_a_second_pharmacist_approves_a_factor_on_the_lot_page(
    browser: Browser, lone_service: Service
) -> None:
    own = _proposal(lone_service, "phil")
    other = _proposal(lone_service, "peter")
    with browser_page(browser, lone_service.url) as page:
        log_in(page, "phil")
        page.goto(f"/lots/{LOT}")
        # his own proposal: no form, a second pharmacist approves it
        expect(page.locator(f'[data-calibration-note="{own}"]')).to_contain_text(
            "a second pharmacist approves it"
        )
        expect(page.get_by_role("button", name=f"Approve calibration {own}")).to_have_count(0)
        # a wrong password and a missing reason, each beside the field
        page.get_by_label(f"Reason for approving calibration {other}").fill("fit of 20 units")
        page.get_by_label(f"Your password (e-signature) for calibration {other}").fill("wrong")
        page.get_by_role("button", name=f"Approve calibration {other}").click()
        expect(page.locator(f'[data-error-for="calibration-{other}"]')).to_have_text(
            "The password is not right; nothing was signed."
        )
        expect(page).to_have_url(re.compile(rf".*/lots/{LOT}$"))  # redirected: no resend
        expect(page.get_by_label(f"Reason for approving calibration {other}")).to_have_value(
            "fit of 20 units"
        )
        page.get_by_label(f"Reason for approving calibration {other}").fill("")
        page.get_by_role("button", name=f"Approve calibration {other}").click()
        expect(page.locator(f'[data-error-for="calibration-{other}"]')).to_contain_text(
            "Give the reason"
        )
        with lone_service.store.read_session() as session:
            assert [c.status for c in calibration.of_lot(session, LOT)] == ["proposed"] * 2
        page.get_by_label(f"Reason for approving calibration {other}").fill("fit of 20 units")
        page.get_by_label(f"Your password (e-signature) for calibration {other}").fill(
            PEOPLE["phil"][2]
        )
        page.get_by_role("button", name=f"Approve calibration {other}").click()
        expect(page.locator(f'tr[data-calibration="{other}"]')).to_contain_text("approved")
        screenshot(page, "lot-calibrations")
    with lone_service.store.read_session() as session:
        approved = calibration.approved(session, LOT, "sse-bench-a", SSE_PRINTER)
        assert approved is not None and approved.id == other and approved.decided_by == "phil"
