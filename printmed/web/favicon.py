"""The tab icon: a caplet on the brand's colour, drawn by the project (static/favicon.svg, and
favicon.ico for what asks /favicon.ico without reading the page, such as a PDF or /docs tab).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from printmed.web.rendering import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/vnd.microsoft.icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
