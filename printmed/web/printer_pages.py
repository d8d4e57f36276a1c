"""The printers page: state, temperatures and the job in progress of every printer, live over
server-sent events, with pause, resume, cancel and emergency stop (the last two confirmed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from printmed.auth import COOKIE_NAME, printers_of, store_of
from printmed.jobs import printers, service
from printmed.jobs.printers import PrinterStatus
from printmed.jobs.states import BatchState
from printmed.web.batch_view import BatchView
from printmed.web.refusals import refusals, sentence
from printmed.web.rendering import duration, render
from printmed.web.session import (
    CheckedForm,
    MayControlPrinters,
    PageRoute,
    PageUser,
    ended_event,
    session_live,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
EVENT_INTERVAL_S = 1.0
ENDED = "/login?ended=1"

# (action, button, style, states it shows in, confirmation or "")
CONTROLS = (
    ("pause", "Pause", "secondary", "printing", ""),
    ("resume", "Resume", "", "paused", ""),
    (
        "cancel",
        "Cancel print",
        "danger",
        "printing paused",
        "Cancel the print on {printer}? The batch cannot be finished and will have to be rejected.",
    ),
    (
        "emergency_stop",
        "Emergency stop",
        "stop",
        "printing paused finishing",
        "Emergency stop {printer} now? Motors and heaters stop at once (M112) and the print is "
        "lost.",
    ),
)
CONFIRMED_ACTIONS = {"cancel", "emergency_stop"}


def _celsius(temp_c: float | None) -> str:
    return "–" if temp_c is None else f"{temp_c:.1f} °C"


@dataclass(frozen=True)
class PrinterCard:
    """One printer's card: the job service's status, and its figures as the page words them
    (the same words on the first render and on every live update)."""

    status: PrinterStatus

    @property
    def job_text(self) -> str:
        return self.status.batch_number or "none"

    @property
    def percent_text(self) -> str:
        return "–" if self.status.percent is None else f"{self.status.percent:.1f} %"

    @property
    def lines_text(self) -> str:
        s = self.status
        return f"{s.lines_acknowledged:,} of {s.lines_total:,} lines" if s.lines_total else ""

    @property
    def nozzle_text(self) -> str:
        return _celsius(self.status.nozzle_c)

    @property
    def bed_text(self) -> str:
        return _celsius(self.status.bed_c)

    @property
    def remaining_text(self) -> str:
        remaining_s = self.status.remaining_s
        return f"about {duration(remaining_s)} left" if remaining_s is not None else ""

    def live(self) -> dict[str, Any]:
        """What printmed.js updates the card from, by `data-field`; `state` picks the badge's
        style and which controls show."""
        return {
            "name": self.status.name,
            "state": self.status.state,
            "state_label": self.status.state_label,
            "percent": self.status.percent or 0.0,
            "job": self.job_text,
            "percent_text": self.percent_text,
            "lines": self.lines_text,
            "nozzle": self.nozzle_text,
            "bed": self.bed_text,
            "remaining": self.remaining_text,
        }


def cards(request: Request) -> list[PrinterCard]:
    store, driven = store_of(request), printers_of(request)
    return [PrinterCard(printers.status(store, driven, name)) for name in printers.printer_names()]


@router.get("/printers")
def printers_page(request: Request, user: PageUser) -> Response:
    with store_of(request).session() as session:
        waiting = service.list_batches(session, BatchState.QUEUED)
        waiting += service.list_batches(session, BatchState.PRINTING)
        queue = [BatchView.of(job) for job in sorted(waiting, key=lambda job: job.id)]
    notices = []
    if request.query_params.get("queued"):
        notices.append(("ok", f"Batch {request.query_params['queued'][:32]} is queued."))
    return render(
        request,
        "printers.html",
        user,
        title="Printers",
        section="printers",
        notices=notices,
        printers=cards(request),
        controls=CONTROLS,
        queue=queue,
    )


@router.get("/printers/events")
async def printer_events(request: Request, user: PageUser) -> Response:
    """Server-sent events: an event `printers` (JSON list of cards) every second, and `ended`
    (then nothing) once the session has ended or gone idle: watching is not using. A request
    after the session ended gets `ended` too (PageRoute), never a 401 an EventSource would
    swallow."""
    token = request.cookies.get(COOKIE_NAME, "")

    def live() -> list[dict[str, Any]]:
        return [card.live() for card in cards(request)]

    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(EVENT_INTERVAL_S * 3000)}\n\n"
        while not await request.is_disconnected():
            if not await asyncio.to_thread(session_live, request, token):
                yield ended_event(ENDED)
                return
            data = await asyncio.to_thread(live)
            yield f"event: printers\ndata: {json.dumps(data)}\n\n"
            await asyncio.sleep(EVENT_INTERVAL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/printers/{name}/{action}")
def printer_control(
    request: Request, name: str, action: str, user: MayControlPrinters, form: CheckedForm
) -> Response:
    labels = {a: (label, confirm) for a, label, _, _, confirm in CONTROLS}
    if action not in labels:
        return Response("unknown printer action", status_code=404, media_type="text/plain")
    if action in CONFIRMED_ACTIONS and form.get("confirmed") != "yes":
        label, confirm = labels[action]
        return render(
            request,
            "confirm.html",
            user,
            title=label,
            section="printers",
            heading=f"{label}: {name}",
            message=confirm.replace("{printer}", name),
            action=f"/printers/{name}/{action}",
            carry={},
            back="/printers",
            confirm_label=label,
        )
    try:
        printers.control(
            store_of(request), printers_of(request), name, action, user, "the printers page"
        )
    except refusals() as exc:
        return render(
            request,
            "problem.html",
            user,
            title="Refused",
            section="printers",
            status_code=409,
            heading="The printer did not take the command",
            message=sentence(exc),
            back="/printers",
        )
    return RedirectResponse("/printers", status_code=303)
