"""Pictures of a batch for the review page: the tablet as designed and each layer's toolpaths
as the G-code draws them (PNG, made on request from the recorded design and stored G-code).
"""

from __future__ import annotations

from fastapi import APIRouter

from printmed.web.session import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
