"""The technician's and pharmacist's pages: server-rendered, every asset served by the app itself.

`router` holds every page, the static files at /static, and a lifespan that starts a worker
thread per configured printer (see printmed.web.fleet) once the app has opened its store.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from printmed.web import batch_pages, login_pages, pictures, prescription_pages, printer_pages
from printmed.web.fleet import Fleet, configured_printers
from printmed.web.rendering import STATIC_DIR


@asynccontextmanager
async def printers_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the printers' worker threads on the app's store; stop them at shutdown."""
    instance = f"{socket.gethostname()}:{os.getpid()}"
    fleet = Fleet(app.state.store, configured_printers(), instance)
    app.state.fleet = fleet
    fleet.start()
    try:
        yield
    finally:
        fleet.close()


router = APIRouter(lifespan=printers_lifespan, include_in_schema=False)
for _pages in (login_pages, prescription_pages, batch_pages, pictures, printer_pages):
    router.include_router(_pages.router)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
