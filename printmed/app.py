"""The web application: FastAPI factory with the API, FHIR and page routers, the store opened
for its lifetime, request limits and refusal formats installed; `printmed serve` runs it.

Routers are listed in ROUTERS (module path, attribute); the pages add theirs there.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from printers.interface import Printer
from printmed import catalog
from printmed.api.limits import RequestLimits
from printmed.api.openapi import install_openapi
from printmed.api.problems import install_error_handlers
from printmed.intake import fhir_order
from printmed.jobs.worker import PrinterWorker
from printmed.manufacture import keep_sliced_parts, warm_up
from printmed.settings import Settings, load_settings
from printmed.store import Store, open_store

ROUTERS: tuple[tuple[str, str], ...] = (
    # first: a request is matched against the routes in this order, and prescribing systems'
    # FHIR orders are most of the traffic (behind nine routers, ~75 routes were tried for each)
    ("printmed.fhir.routes", "router"),
    ("printmed.api.sign_in", "router"),
    ("printmed.api.prescriptions", "router"),
    ("printmed.api.meshes", "router"),
    ("printmed.api.lots", "router"),
    ("printmed.api.batches", "router"),
    ("printmed.api.printers", "router"),
    ("printmed.api.users", "router"),
    ("printmed.api.sites", "router"),
    ("printmed.api.masterfile", "router"),
    ("printmed.web.lots_pages", "router"),
    ("printmed.web.site_pages", "router"),
    ("printmed.web.masterfile_pages", "router"),
    ("printmed.web", "router"),
)
DESCRIPTION = """Point-of-care printing of personalised tablets.

Prescribing systems send FHIR R4 MedicationRequests to /fhir (or native JSON to
/api/v1/prescriptions) with an OAuth2 client-credentials JWT; staff use a bearer token from
/api/v1/auth/token or the pages' session cookie. Refusals are application/problem+json under
/api and OperationOutcome under /fhir. Creating POSTs honour `Idempotency-Key`.
"""
log = logging.getLogger("printmed.app")


def routers() -> list[APIRouter]:
    found = []
    for module_name, attribute in ROUTERS:
        module = importlib.import_module(module_name)
        found.append(getattr(module, attribute))
    return found


WORKER_JOIN_S = 30.0


def start_workers(
    store: Store, printers: Mapping[str, Printer], stop: threading.Event, poll_s: float
) -> list[threading.Thread]:
    """One thread per printer running the job service's worker (recover, then print queued
    jobs until `stop`)."""
    threads = []
    for name, printer in printers.items():
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{name}"
        worker = PrinterWorker(store, name, printer, worker_id, poll_s=poll_s)

        def run(worker: PrinterWorker = worker) -> None:
            try:
                worker.run(stop)
            except Exception:
                log.exception("worker %s stopped on a defect", worker.worker_id)
            finally:
                worker.printer.disconnect()

        thread = threading.Thread(target=run, name=f"worker-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def simulated_printers(store: Store, site_code: str = "main") -> dict[str, Printer]:
    """The embedded default's printers: on first start (an empty register) two simulated
    printers of each profile are registered (`jobs.register.register_simulators`); every
    simulated printer in the register of this service's site (PRINTMED_SITE) then gets a
    simulator standing in for its profile."""
    from printmed.jobs import register
    from printmed.jobs.printers import simulated_printer
    from printmed.records.sites import service_site

    with store.session() as session:
        for made in register.register_simulators(session):
            log.info("registered simulated printer %s (%s)", made.name, made.serial_number)
        site = service_site(session, site_code)
        return {
            printer.name: simulated_printer(printer.profile_id)
            for printer in register.simulators(session, site.id)
        }


def _warm_up() -> None:
    """What the first order in a process would otherwise pay for (~0.6 s): the slicer's, the
    writer's and the reader's compiled code, and the FHIR models; done as the service starts."""
    warm_up()
    bundled = catalog.fixtures_dir() / "prescriptions" / "propranolol-child.fhir.json"
    fhir_order.warm_up(json.loads(bundled.read_text(encoding="utf-8")))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store for the app's life and run a worker per printer given to create_app
    (with `sim_printers`, per simulated printer in the register)."""
    settings: Settings = app.state.settings
    store = open_store(settings.database_url)
    app.state.store = store
    from printmed.records import masterfile

    masterfile.start(store)  # first start: the fixtures as version 1
    catalog.use_store(store)  # the pages and the API read the store's approved versions
    keep_sliced_parts(settings.sliced_parts_kept)
    await asyncio.to_thread(_warm_up)
    await asyncio.to_thread(store.warm)
    if not gc.get_freeze_count():
        # What start-up made (modules, compiled code, models) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it mid-order. Once.
        gc.collect()
        gc.freeze()
    if app.state.sim_printers:
        app.state.printers.update(simulated_printers(store, settings.site_code))
    stop = threading.Event()
    threads = start_workers(store, app.state.printers, stop, app.state.worker_poll_s)
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(WORKER_JOIN_S)
        catalog.use_store(None)
        store.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    printers: Mapping[str, Printer] | None = None,
    worker_poll_s: float = 1.0,
    sim_printers: bool = False,
) -> FastAPI:
    """The application for `settings` (default: from the environment).

    printers: printer name → Printer whose queued jobs this process prints (none: the workers
    run elsewhere, e.g. `printmed worker`).
    sim_printers: drive the register's simulated printers too (registered on first start).
    """
    settings = settings or load_settings()
    # /docs and /redoc with Swagger UI and ReDoc served by the app itself: no CDN on a ward network.
    app = FastAPIOffline(
        title="printmed",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    catalog.use_data_dir(settings.data_dir)  # uploaded meshes (POST /api/v1/meshes)
    app.state.printers = dict(printers or {})
    app.state.worker_poll_s = worker_poll_s
    app.state.sim_printers = sim_printers
    install_error_handlers(app)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_request_bytes,
        per_minute=settings.rate_limit_per_minute,
    )
    for router in routers():
        app.include_router(router)
    install_openapi(app)
    return app
