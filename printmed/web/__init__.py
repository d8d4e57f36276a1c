"""The technician's and pharmacist's pages: server-rendered, every asset served by the app itself.

`router` holds every page and the static files at /static; printmed.app lists it in ROUTERS.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from printmed.web import (
    admin_pages,
    batch_pages,
    favicon,
    login_pages,
    pharmacy_pages,
    pictures,
    prescription_pages,
    printer_pages,
    screening_pages,
    sign_in_pages,
)
from printmed.web.rendering import STATIC_DIR

router = APIRouter(include_in_schema=False)
for _pages in (
    login_pages,
    prescription_pages,
    batch_pages,
    screening_pages,
    pictures,
    printer_pages,
    sign_in_pages,
    admin_pages,
    pharmacy_pages,
    favicon,
):
    router.include_router(_pages.router)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
