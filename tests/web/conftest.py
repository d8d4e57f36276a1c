"""The pages under test: the real service in its own process on 127.0.0.1 (a free port, a temp
data folder, a fast simulated printer) and Debian's Chromium driven by Playwright.

Screenshots of each page go to test-artifacts/web/ (git-ignored). Fictional patients only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from sqlalchemy.orm import Session

from dosing.prescription import parse_prescription
from gcode.profile import load_profile
from printmed import catalog
from printmed.auth.users import create_user, get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from printmed.manufacture import make_batch
from printmed.records import screening
from printmed.records.signatures import authenticate_signer
from printmed.settings import load_settings
from printmed.store import Store, open_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# A 10-inch tablet in landscape.
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PRINTER = "fdm-pharma-04"
HYDROCORTISONE = {
    "id": "RX-WEB-0002",
    "patient": {"id": "TEST-PATIENT-8", "weight_kg": 18.0, "height_cm": 108.0},
    "drug": {"name": "hydrocortisone"},
    "dose": {"value": 4.0, "unit": "mg/m2"},
    "max_single_dose_mg": 10.0,
    "frequency_per_day": 3,
    "units": 3,
    "formulation": "hydrocortisone-paste-5",
    "shape": "caplet",
}
# the shared service drives no SSE printer: `printed_batch` prints there by hand; the
# emergency-stop test has a service of its own that drives it, slowly
SSE_PRINTER = "sse-syringe-08"
PEOPLE = {
    "tess": ("Tess Technician", "technician", "tess-bench-password"),
    "phil": ("Phil Pharmacist", "pharmacist", "phil-release-password"),
    "alma": ("Alma Admin", "admin", "alma-accounts-password"),
}
# a balance in continuous output prints its reading about ten times a second
BALANCE_PRINT_PERIOD_S = 0.1


@dataclass(frozen=True)
class Service:
    url: str
    data_dir: Path
    store: Store
    balance: int  # the master end of the pty the service reads as its bench balance

    @contextlib.contextmanager
    def balance_printing(self, *lines: str) -> Iterator[None]:
        """The balance prints `lines` (as `S S     0.12530 g`) over and over, as one in
        continuous output does, until the block ends. The service drops what came before it
        opened the port, so the reading it takes is one printed after it was ready, whenever
        that is; what nobody reads is lost, as from a real balance."""
        stop = threading.Event()
        reading = "".join(line + "\r\n" for line in lines).encode()

        def speak() -> None:
            while not stop.is_set():
                with contextlib.suppress(BlockingIOError):
                    os.write(self.balance, reading)
                stop.wait(BALANCE_PRINT_PERIOD_S)

        thread = threading.Thread(target=speak, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def warm_slicer() -> None:
    """Slice one tablet here first: Numba compiles the slicer's kernels into its on-disk cache
    (20 s or so on a fresh clone), which the service process then loads instead."""
    rx = parse_prescription(HYDROCORTISONE | {"units": 1})
    lot = catalog.formulation(rx.formulation)
    make_batch(rx, lot, load_profile(SSE_PRINTER))


PHARMACY = "St Elsewhere Children's Hospital, Pharmacy"


@contextlib.contextmanager
def running_service(
    data_dir: Path, printers: str, pharmacy_name: str | None = PHARMACY
) -> Iterator[Service]:
    """printmed on a free port with a technician and a pharmacist, stopped on leaving.

    printers: `profile:speed_factor,…`, the simulated printers the service drives.
    pharmacy_name: PRINTMED_PHARMACY_NAME (None: unset, as on a fresh embedded default).
    """
    balance, balance_port = os.openpty()
    tty.setraw(balance_port)  # a serial line: no echo, no line editing
    fcntl.fcntl(balance, fcntl.F_SETFL, fcntl.fcntl(balance, fcntl.F_GETFL) | os.O_NONBLOCK)
    env = dict(os.environ)
    env.update(
        PRINTMED_DATA_DIR=str(data_dir),
        PRINTMED_TEST_PRINTERS=printers,
        PRINTMED_BALANCE_PORT=os.ttyname(balance_port),
    )
    env.pop("DATABASE_URL", None)
    env.pop("PRINTMED_PHARMACY_NAME", None)
    env.pop("PRINTMED_PHARMACY_ADDRESS", None)
    if pharmacy_name is not None:
        env["PRINTMED_PHARMACY_NAME"] = pharmacy_name
    store = open_store(load_settings(env).database_url)
    with store.session() as session:
        for username, (full_name, role, password) in PEOPLE.items():
            create_user(
                session,
                None,
                username=username,
                full_name=full_name,
                role=role,
                password=password,
            )
    command = ["-m", "uvicorn", "tests.web.service_app:app_factory", "--factory"]
    command += ["--host", "127.0.0.1", "--log-level", "warning"]
    try:
        with serving(command, env, data_dir / "service.log") as url:
            yield Service(url, data_dir, store, balance)
    finally:
        store.dispose()
        os.close(balance)
        os.close(balance_port)


@contextlib.contextmanager
def serving(arguments: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`python <arguments> --port <free port>` started in `env`, its output in `log_path`;
    its base URL once /login answers, and stopped on leaving (its log's tail if it never
    answers)."""
    port = _free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, *arguments, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service most tests share (its FDM printer, fast), for the session."""
    warm_slicer()
    with running_service(tmp_path_factory.mktemp("printmed-web"), f"{PRINTER}:120") as running:
        yield running


@pytest.fixture
def lone_service(tmp_path: Path) -> Iterator[Service]:
    """A service of its own for one test, for a printer left halted (an emergency stop)."""
    with running_service(tmp_path, f"{SSE_PRINTER}:15") as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@contextlib.contextmanager
def browser_page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) at a tablet's size, on the service at `url`."""
    context = browser.new_context(viewport=VIEWPORT, base_url=url, accept_downloads=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    with browser_page(browser, service.url) as fresh:
        yield fresh


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PEOPLE[username][2])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/(prescriptions/new|batches)$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/login$"))


def screen_as(session: Session, batch_number: str, pharmacist: str = "phil") -> None:
    """`pharmacist` clinically screens the batch with their password and a note."""
    signer = authenticate_signer(session, pharmacist, PEOPLE[pharmacist][2], "screened")
    screening.screen(session, batch_number, signer, "dose checked against the patient")


def printed_batch(service: Service, username: str, rx: dict[str, object], printer: str) -> str:
    """A batch entered by `username` through the real dose gate on `printer`, screened by phil,
    queued, claimed and finished as printed here in one transaction (no worker sees it); its
    batch number."""
    prescription = parse_prescription(rx)
    with service.store.session() as session:
        user = get_user(session, username)
        batch = enter_prescription(session, user, prescription, printer=printer, profile_id=printer)
        screen_as(session, batch.batch_number)
        jobs.queue(session, batch, user)
        bench = catalog.printer_identity(printer)  # a test bench reporting the profile's machine
        firmware = {
            "name": "Marlin (test bench)",
            "fields": {"FIRMWARE_NAME": "Marlin (test bench)", "MACHINE_TYPE": bench.machine_type},
        }
        claimed = jobs.claim_next(session, printer, "test-bench", firmware)
        assert claimed is not None and claimed.batch_number == batch.batch_number
        jobs.finish_print(session, claimed, "test-bench", "printed", {"complete": True})
        return batch.batch_number
