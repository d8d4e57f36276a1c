"""The printer register in Chromium, on the embedded default (`printmed serve --sim-printers`):
its simulated printers registered at first start, a printer registered through the form, one
marked calibration due that takes nothing, a wrong lot refused at line clearance beside its
field, a printed batch offering the next step (weighing) on the printers page, and the two
printers of one profile printing two queued batches at once, each recorded with its serial.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from printmed import audit
from printmed.jobs import register, service
from printmed.settings import load_settings
from printmed.store import Store, open_store
from tests.records.builders import PASSWORD, PROFILE_ID, add_users, queued_job
from tests.web.conftest import REPO, browser_page, screenshot, serving

README_SCREENSHOT = REPO / "docs" / "screenshots" / "6-printer-register.png"
TWO_AT_ONCE_SCREENSHOT = REPO / "docs" / "screenshots" / "6-printers-two-at-once.png"
LOT = "LOT-TEST-001"  # the lot of the test batches (tests.records.builders.FORMULATION)
# the two simulated printers of the FDM profile the embedded default registers, and serials
SERIALS = {"fdm-pharma-04-a": "SIM-FDM-PHARMA-04-001", "fdm-pharma-04-b": "SIM-FDM-PHARMA-04-002"}
CALIBRATED = {"e_steps": 100.2, "bed_level": 0.04, "nozzle_temperature": -1.5}
# one unit prints for ~9 s on the embedded default's simulator; the second line is cleared ~2 s
# after the first, while the first printer still prints
TWO_AT_ONCE_UNITS = 1


@contextlib.contextmanager
def embedded_default(data_dir: Path) -> Iterator[tuple[str, Store]]:
    """`printmed serve --sim-printers` on a free port with a fresh data folder; the store."""
    env = dict(
        os.environ,
        PRINTMED_DATA_DIR=str(data_dir),
        PRINTMED_PHARMACY_NAME="St Elsewhere Children's Hospital, Pharmacy",
    )
    env.pop("DATABASE_URL", None)
    # its own service key, beside the data folder (never the user's ~/.config/printmed/keys)
    env["PRINTMED_KEY_DIR"] = f"{data_dir}-keys"
    store = open_store(load_settings(env).database_url)
    try:
        command = ["-m", "printmed", "serve", "--sim-printers"]
        with serving(command, env, data_dir / "serve.log") as url:
            yield url, store
    finally:
        store.dispose()


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/(prescriptions/new|batches)$"))


@pytest.fixture
def default_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Store]]:
    # this process writes users and batches into the service's store: the same key folder as
    # the service, whose trail they must verify in (an account the trail did not make signs in
    # to nothing)
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PRINTMED_KEY_DIR", f"{tmp_path}-keys")
    with embedded_default(tmp_path) as running:
        yield running


def test_the_register_on_the_embedded_default(
    browser: Browser, default_service: tuple[str, Store]
) -> None:
    url, store = default_service
    users = add_users(store, "tech", "pharm", "pharm2")
    with browser_page(browser, url) as page:
        sign_in(page, "pharm")
        page.goto("/printers/register")
        rows = page.locator("main table tbody tr")
        expect(rows).to_have_count(4)  # two simulated printers of each profile, at first start
        expect(page.get_by_role("cell", name="SIM-FDM-PHARMA-04-001")).to_be_visible()

        # registering a printer: a refused field is told beside it, nothing is registered
        page.get_by_label("Name").fill("fdm-bench-c")
        page.get_by_label("Model (profile)").select_option(PROFILE_ID)
        page.get_by_label("Location").fill("Clean room 2, bench C")
        page.get_by_label("Connection").select_option("usb")
        page.get_by_label("USB port").fill("/dev/ttyACM0")
        page.get_by_role("button", name="Register printer").click()
        expect(page.locator("#p-serial-error")).to_have_text("Serial number is required.")
        expect(rows).to_have_count(4)
        page.get_by_label("Serial number").fill("PMF04-2611-0173")
        page.get_by_role("button", name="Register printer").click()
        page.wait_for_url(re.compile(r".*/printers/register\?added=fdm-bench-c$"))
        expect(rows).to_have_count(5)
        new_row = rows.filter(has_text="fdm-bench-c")
        expect(new_row).to_contain_text("calibration due")  # no calibration on record yet

        # a printer marked calibration due, with the reason
        page.get_by_role("link", name="fdm-pharma-04-b: status and calibrations").click()
        page.get_by_label("New status").select_option("calibration_due")
        page.get_by_label("Reason").fill("nozzle replaced")
        page.get_by_role("button", name="Set status").click()
        page.wait_for_url(re.compile(r".*/printers/register/fdm-pharma-04-b\?done=.*"))
        expect(page.locator("main")).to_contain_text("calibration due nozzle replaced")
        page.goto("/printers/register")
        screenshot(page, "printer-register")
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_SCREENSHOT), full_page=True)

    first = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    with browser_page(browser, url) as page:
        sign_in(page, "tech")
        page.goto("/printers")
        due = page.locator('[data-printer="fdm-pharma-04-b"]')
        expect(due).to_contain_text("Takes no batch: calibration due: nozzle replaced.")
        expect(due.get_by_role("button", name=re.compile("Clear the line"))).to_have_count(0)

        # a wrong lot is refused beside the field, and nothing is cleared
        card = page.locator('[data-printer="fdm-pharma-04-a"]')
        card.get_by_label("Lot number loaded").fill("LOT-TEST-002")
        card.get_by_label(re.compile("The build plate is clear")).check()
        card.get_by_role("button", name="Clear the line on fdm-pharma-04-a").click()
        card = page.locator('[data-printer="fdm-pharma-04-a"]')
        expect(card.get_by_label("Lot number loaded")).to_have_attribute("aria-invalid", "true")
        expect(card.locator("[id^=lc-lot-][id$=-error]")).to_have_text(
            f"Lot number 'LOT-TEST-002' is not the lot of {first} ({LOT}): not cleared."
        )
        screenshot(page, "printer-wrong-lot")
        with store.read_session() as session:
            assert register.get(session, "fdm-pharma-04-a").cleared_batch is None
            assert service.get_batch(session, first).state == "queued"

        # the right lot: the printer takes the batch; when it is printed the page says so
        card.get_by_label("Lot number loaded").fill(LOT)
        card.get_by_label(re.compile("The build plate is clear")).check()
        card.get_by_role("button", name="Clear the line on fdm-pharma-04-a").click()
        page.wait_for_url(re.compile(rf".*/printers\?cleared={first}$"))
        card = page.locator('[data-printer="fdm-pharma-04-a"]')
        expect(card.get_by_role("link", name="Weigh its units")).to_be_visible(timeout=120_000)
        expect(card).to_contain_text(f"Batch {first} is printed.")
        expect(card.locator("[data-field=job]")).to_have_text("none")
        screenshot(page, "printer-printed-next-step")
        card.get_by_role("link", name="Weigh its units").click()
        page.wait_for_url(re.compile(rf".*/batches/{first}/weigh$"))
        page.goto(f"/batches/{first}/release")
        expect(page.locator("main")).to_contain_text(
            "fdm-pharma-04-a, serial SIM-FDM-PHARMA-04-001 (profile fdm-pharma-04)"
        )
    with store.read_session() as session:
        printed = service.get_batch(session, first)
        assert (printed.state, printed.printer, printed.printer_serial) == (
            "printed",
            "fdm-pharma-04-a",
            "SIM-FDM-PHARMA-04-001",
        )
        assert register.get(session, "fdm-pharma-04-b").cleared_batch is None

    # a passing calibration puts -b back in service: the two printers of the profile take two
    # queued batches at once, each the one its line is cleared for
    with store.session() as session:
        register.record_calibration(session, users["pharm"], "fdm-pharma-04-b", CALIBRATED)
    batches = {
        printer: queued_job(store, users["tech"], printer=PROFILE_ID, units=TWO_AT_ONCE_UNITS)
        for printer in SERIALS
    }
    with browser_page(browser, url) as page:
        sign_in(page, "tech")
        page.goto("/printers")
        for printer, batch in batches.items():
            card = page.locator(f'[data-printer="{printer}"]')
            card.get_by_label("Batch", exact=True).select_option(batch)
            card.get_by_label("Lot number loaded").fill(LOT)
            card.get_by_label(re.compile("The build plate is clear")).check()
            card.get_by_role("button", name=f"Clear the line on {printer}").click()
            page.wait_for_url(re.compile(rf".*/printers\?cleared={batch}$"))
            # the page is drawn afresh once the batch begins: then the next printer's form
            expect(page.locator(f'[data-printer="{printer}"] [data-field=job]')).to_have_text(batch)
        states = page.locator(
            ", ".join(f'[data-printer="{p}"] [data-field=state]' for p in SERIALS)
        )
        # one look at the page finds both printing (the live update draws every card at once)
        expect(states.filter(has_text=re.compile("^printing$"))).to_have_count(2)
        queue = page.get_by_role("region", name="Queue")
        for printer, batch in batches.items():
            expect(page.locator(f'[data-printer="{printer}"] [data-field=job]')).to_have_text(batch)
            expect(queue.get_by_role("row", name=re.compile(batch))).to_contain_text("printing")
            card = page.locator(f'[data-printer="{printer}"]')
            expect(card).not_to_contain_text("it prints next")  # the claim used the clearance up
            expect(card).to_contain_text("No queued batch for this printer.")
        screenshot(page, "printers-two-at-once")
        TWO_AT_ONCE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(TWO_AT_ONCE_SCREENSHOT), full_page=True)
        for printer, batch in batches.items():
            expect(page.locator(f'[data-printer="{printer}"]')).to_contain_text(
                f"Batch {batch} is printed.", timeout=120_000
            )
    with store.read_session() as session:
        for printer, batch in batches.items():
            job = service.get_batch(session, batch)
            assert (job.state, job.printer, job.printer_serial) == (
                "printed",
                printer,
                SERIALS[printer],
            )
        trail = [
            (entry.action, entry.seq)
            for batch in batches.values()
            for entry in audit.entries_for(session, batch)
        ]
    starts = [seq for action, seq in trail if action == "job.print.start"]
    ends = [seq for action, seq in trail if action == "job.print.printed"]
    assert len(starts) == len(ends) == 2
    assert max(starts) < min(ends)  # each began before either ended: under way at once
