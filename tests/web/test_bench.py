"""The bench in the browser beyond the main path: an order that came over the API is picked up
from the entry page, a print is cancelled only after confirmation, and every field of every
page has a label a screen reader can announce.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from printmed.audit import entries_for
from printmed.jobs import service as jobs
from tests.web.conftest import (
    HYDROCORTISONE,
    PRINTER,
    SSE_PRINTER,
    Service,
    log_in,
    printed_batch,
    screen_as,
    screenshot,
)

API_ORDER = {
    "id": "RX-API-0001",
    "patient": {"id": "TEST-PATIENT-11", "weight_kg": 14.0, "height_cm": 95.0},
    "drug": {"name": "propranolol", "code": "372772003"},
    "dose": {"value": 1.0, "unit": "mg/kg"},
    "max_single_dose_mg": 40,
    "frequency_per_day": 2,
    "units": 4,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}


def test_an_order_from_the_api_is_picked_up_from_the_entry_page_and_cancelled_with_confirmation(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    answer = page.request.post(
        f"/api/v1/prescriptions?printer={PRINTER}",
        data=API_ORDER,
        headers={"Idempotency-Key": "web-test-order-1"},
    )
    assert answer.status == 201, answer.text()
    page.goto("/prescriptions/new")
    order = page.get_by_role("row", name=re.compile("RX-API-0001"))
    expect(order).to_contain_text("TEST-PATIENT-11")
    expect(order).to_contain_text("14 mg")
    screenshot(page, "12-order-from-the-api")
    order.get_by_role("link", name="Review order RX-API-0001").click()
    expect(page.get_by_text("weight-based dose")).to_be_visible()
    batch = page.url.split("/")[-2]
    expect(page.get_by_role("button", name=f"Queue on {PRINTER}")).to_have_count(0)
    with service.store.session() as session:
        screen_as(session, batch)  # a pharmacist screens it before anything is made
    page.reload()
    page.get_by_role("button", name=f"Queue on {PRINTER}").click()

    card = page.locator(f'[data-printer="{PRINTER}"]')
    expect(card.locator("[data-field=job]")).to_have_text(batch, timeout=20_000)
    card.get_by_role("button", name="Pause").click()
    expect(card.locator("[data-field=state]")).to_have_text("paused")
    card.get_by_role("button", name="Cancel print").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Cancel the print on {PRINTER}?")
    screenshot(page, "13-cancel-confirmation")
    dialog.get_by_role("button", name="Go back").click()
    expect(dialog).to_be_hidden()
    expect(card.locator("[data-field=state]")).to_have_text("paused")
    card.get_by_role("button", name="Cancel print").click()
    dialog.get_by_role("button", name="Cancel print").click()
    expect(card.locator("[data-field=job]")).to_have_text("none", timeout=20_000)

    with service.store.session() as session:
        assert jobs.get_batch(session, batch).state == "failed"
        controls = [
            (e.actor, e.action)
            for e in entries_for(session, batch)
            if e.action.startswith("printer.")
        ]
        assert controls == [("tess", "printer.pause"), ("tess", "printer.cancel")]


def test_every_field_on_every_page_has_a_label(page: Page, service: Service) -> None:
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0004"}, SSE_PRINTER)
    log_in(page, "tess")
    pages = [
        "/prescriptions/new",
        "/batches",
        "/printers",
        f"/batches/{batch}/review",
        f"/batches/{batch}/weigh",
        f"/batches/{batch}/release",
    ]
    for path in pages:
        page.goto(path)
        fields = page.locator("main input:not([type=hidden]), main select, main textarea")
        for field in fields.all():
            name = field.evaluate(
                "el => (el.labels && el.labels.length ? el.labels[0].innerText : '')"
                " || el.getAttribute('aria-label') || ''"
            )
            assert name.strip(), f"{path}: {field.evaluate('el => el.outerHTML')}"
        assert page.locator("main h1").count() == 1, path


def test_the_login_form_works_from_the_keyboard(page: Page, service: Service) -> None:
    page.goto("/login")
    # the username field takes the focus on its own (autofocus), once the page has settled:
    # typing before then would send the first letters nowhere
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("tess")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("tess-bench-password")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r".*/prescriptions/new$"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_weights_are_read_from_the_bench_balance_one_unit_at_a_time(
    page: Page, service: Service
) -> None:
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0005"}, SSE_PRINTER)
    log_in(page, "tess")
    page.goto(f"/batches/{batch}/weigh")
    read = page.get_by_role("button", name="Read next unit from the balance")
    for unit, lines, shown in (
        (1, ["S D     0.05000 g", "S S     0.05412 g"], "54.12"),
        (2, ["S S     0.05398 g"], "53.98"),
    ):
        with service.balance_printing(*lines):
            read.click()
            expect(page.get_by_label(f"Unit {unit} (mg)")).to_have_value(shown)
    expect(page.get_by_role("status").filter(has_text="from the balance")).to_have_text(
        "Unit 2: 53.98 mg from the balance."
    )
    page.get_by_label("Unit 3 (mg)").fill("54.30")
    expect(page.locator("[data-qc-panel]")).to_contain_text("3 of 3 units weighed")
    page.get_by_role("button", name="Record weights").click()
    page.wait_for_url(re.compile(rf".*/batches/{batch}/release$"))
    with service.store.session() as session:
        weights = jobs.column_value(jobs.get_batch(session, batch), "weights_json")
    assert weights == {"weights_mg": [54.12, 53.98, 54.3], "source": "balance: units 1, 2; manual"}
