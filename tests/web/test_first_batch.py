"""The whole path in a real browser: a technician enters a prescription and reviews it; a
pharmacist screens it clinically; the technician prints it on the simulated printer and weighs
the units; the screening pharmacist, who made none of it, releases the batch.

Screenshots of every page are saved to test-artifacts/web/ for people to look at.
"""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from printmed.jobs import service as jobs
from tests.web.conftest import PRINTER, VIEWPORT, Service, log_in, log_out, screenshot

# 10 units of propranolol 1 mg/kg for a 12.4 kg child (weighed and measured two days ago):
# 12.5 mg per tablet
MEASURED_ON = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
PRESCRIPTION = {
    "Prescription number": "RX-WEB-0001",
    "Patient identifier": "TEST-PATIENT-7",
    "Weight (kg)": "12.4",
    "Weighed on": MEASURED_ON,
    "Height (cm) (optional)": "88",
    "Height measured on (optional)": MEASURED_ON,
    "Drug": "propranolol",
    "Dose": "1",
    "Maximum single dose (mg) (optional)": "40",
    "Doses a day": "2",
    "Doses to supply": "10",
}
SELECTS = {
    "Formulation lot": "propranolol-pva-10",
    "Dose unit": "mg/kg",
    "Tablet shape": "round",
    "Printer": PRINTER,
}
SLICING_S = 120  # generous: on a fresh clone the slicer's Numba kernels compile on first use
PORTRAIT = {"width": 800, "height": 1280}
# unit masses (mg) within ±1 % of the 126.8 mg a 12.5 mg tablet of a 9.86 % lot weighs
WEIGHTS_MG = [126.5, 127.1, 126.9, 126.2, 127.4, 126.8, 127.0, 126.6, 126.3, 127.2]


def screenshot_portrait(page: Page, name: str) -> None:
    """The page on a 10-inch tablet held upright: nothing may need sideways scrolling."""
    page.set_viewport_size(PORTRAIT)
    assert page.evaluate("document.documentElement.scrollWidth") <= PORTRAIT["width"]
    screenshot(page, name)
    page.set_viewport_size(VIEWPORT)


def enter_prescription(page: Page) -> None:
    for label, value in PRESCRIPTION.items():
        page.get_by_label(label, exact=True).fill(value)
    for label, value in SELECTS.items():
        page.get_by_label(label, exact=True).select_option(value)


def test_a_technician_prints_and_weighs_and_a_pharmacist_releases(
    page: Page, service: Service
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/login")
    screenshot(page, "01-login")
    log_in(page, "tess")

    # New prescription: a live message next to the field, then a valid order
    expect(page.get_by_role("heading", name="New prescription")).to_be_visible()
    enter_prescription(page)
    weight = page.get_by_label("Weight (kg)", exact=True)
    weight.fill("400")
    weight.press("Tab")
    expect(page.locator("#f-patient-weight-kg-error")).to_have_text(
        "Weight (kg) must be at most 350"
    )
    expect(weight).to_have_attribute("aria-invalid", "true")
    screenshot(page, "02-prescription-live-error")
    weight.fill("12.4")
    weight.press("Tab")
    expect(page.locator("#f-patient-weight-kg-error")).to_have_text("")
    expect(page.locator("[data-preview]")).to_contain_text("12.5 mg per dose")
    screenshot(page, "03-prescription")
    page.get_by_role("button", name=re.compile("Calculate, design")).click()

    # Review: dose with its trail, lot, tablet, layers, read-back dose, print time
    page.wait_for_url(re.compile(r".*/batches/[A-Z0-9-]+/review$"), timeout=SLICING_S * 1000)
    batch = page.url.split("/")[-2]
    expect(page.locator(".big").first).to_have_text(re.compile(r"12\.5\s*mg per dose"))
    expect(page.get_by_text("weight-based dose")).to_be_visible()
    expect(page.get_by_text("PVA-PRL-2611-A")).to_be_visible()
    expect(page.get_by_text("10 / 10")).to_be_visible()
    for image in page.locator("main img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")
    screenshot(page, "04-review")
    screenshot_portrait(page, "04-review-portrait")
    # nothing is queued before a pharmacist's clinical screening
    expect(page.get_by_role("button", name=f"Queue on {PRINTER}")).to_have_count(0)
    log_out(page)

    # Clinical screening by a pharmacist: patient, dose trail, maxima, lot, tablet; then signed
    log_in(page, "phil")
    page.goto(f"/batches/{batch}/screen")
    expect(page.locator("[data-field=weight]")).to_contain_text("12.4 kg")
    expect(page.locator("[data-field=weight]")).to_contain_text("ward scales, entered by tess")
    expect(page.get_by_text("weight-based dose")).to_be_visible()
    expect(page.locator("[data-field=prescribed-maxima]")).to_contain_text("40 mg a dose")
    page.get_by_label("What you checked").fill("1 mg/kg for 12.4 kg, under 2 mg/kg: in range")
    page.get_by_label("Your password").fill("phil-release-password")
    screenshot(page, "04b-screening")
    page.get_by_role("button", name="Screen", exact=True).click()
    page.wait_for_url(re.compile(rf".*/batches/{batch}/screen$"))
    expect(page.locator("main .badge").first).to_have_text("screened")
    log_out(page)

    log_in(page, "tess")
    page.goto(f"/batches/{batch}/review")
    page.get_by_role("button", name=f"Queue on {PRINTER}").click()

    # Printers: live progress over server-sent events; pause and resume on the way
    page.wait_for_url(re.compile(r".*/printers\?queued=.*"))
    card = page.locator(f'[data-printer="{PRINTER}"]')
    expect(card.locator("[data-field=job]")).to_have_text(batch, timeout=20_000)
    page.wait_for_function(
        "el => Number(el.getAttribute('aria-valuenow')) >= 10",
        arg=card.get_by_role("progressbar").element_handle(),
    )
    card.get_by_role("button", name="Pause").click()
    page.wait_for_url(re.compile(r".*/printers$"))
    expect(card.locator("[data-field=state]")).to_have_text("paused")
    percent = card.locator("[data-field=percent]").inner_text()
    screenshot(page, "05-printers-paused")
    card.get_by_role("button", name="Resume").click()
    expect(card.locator("[data-field=state]")).to_have_text("printing")
    expect(card.locator("[data-field=percent]")).not_to_have_text(percent)
    screenshot(page, "06-printers-printing")
    expect(card.locator("[data-field=job]")).to_have_text("none", timeout=60_000)

    # Weighing: QC appears as weights come in
    page.goto(f"/batches/{batch}/weigh")
    for n, weight_mg in enumerate(WEIGHTS_MG, start=1):
        page.get_by_label(f"Unit {n} (mg)").fill(str(weight_mg))
    expect(page.locator("[data-qc-panel]")).to_contain_text("Passes — 10 of 10 units weighed")
    expect(page.locator("[data-qc-panel]")).to_contain_text("Acceptance value")
    screenshot(page, "07-weighing")
    screenshot_portrait(page, "07-weighing-portrait")
    page.get_by_role("button", name="Record weights").click()
    page.wait_for_url(re.compile(rf".*/batches/{batch}/release$"))
    expect(page.get_by_text("may not release")).to_be_visible()
    log_out(page)

    # Release by a pharmacist who made no step of the batch (screening is not one)
    log_in(page, "phil")
    page.goto(f"/batches/{batch}/release")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r"^record\.weigh"))).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r"^printer\.pause"))).to_be_visible()
    screenshot(page, "08-release-review")
    page.get_by_label("Meaning").select_option("released")
    page.get_by_label("Your password").fill("phil-release-password")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url(re.compile(rf".*/batches/{batch}/release$"))
    expect(page.locator("main .badge").first).to_have_text("released")
    expect(page.get_by_text("Phil Pharmacist (phil) — released")).to_be_visible()
    screenshot(page, "09-released")
    for link, kind in (("Batch record (PDF)", "record"), ("Dispensing label (PDF)", "label")):
        with page.expect_download() as download_info:
            page.get_by_role("link", name=link).click()
        download = download_info.value
        assert download.suggested_filename == f"{batch}-{kind}.pdf"
        with open(download.path(), "rb") as pdf:
            assert pdf.read(5) == b"%PDF-"

    page.goto("/batches")
    expect(page.get_by_role("row", name=re.compile(batch))).to_contain_text("released")
    screenshot(page, "09b-batches")
    assert problems == []  # no script error or blocked resource on any page

    with service.store.session() as session:
        job = jobs.get_batch(session, batch)
        assert job.state == "released"
        assert jobs.column_value(job, "stream_report_json")["complete"] is True
        assert jobs.column_value(job, "weights_json")["weights_mg"] == WEIGHTS_MG
