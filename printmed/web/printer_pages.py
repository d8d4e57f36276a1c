"""The printers page: state, temperatures and the job in progress of every printer, live over
server-sent events, with pause, resume, cancel and emergency stop (the last two confirmed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from printmed.auth import COOKIE_NAME, printers_of, store_of
from printmed.auth.users import RECORD_ROLES
from printmed.jobs import printers
from printmed.jobs.states import BatchState
from printmed.store.models import Batch
from printmed.web.refusals import refusals, sentence
from printmed.web.rendering import duration, not_permitted, render
from printmed.web.session import CheckedForm, PageRoute, PageUser, session_live

router = APIRouter(route_class=PageRoute, include_in_schema=False)
EVENT_INTERVAL_S = 1.0

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


def _view(status: dict[str, Any]) -> dict[str, Any]:
    view = dict(status)
    view["nozzle_text"] = "–" if status["nozzle_c"] is None else f"{status['nozzle_c']:.1f} °C"
    view["bed_text"] = "–" if status["bed_c"] is None else f"{status['bed_c']:.1f} °C"
    view["lines_text"] = (
        f"{status['lines_acknowledged']:,} of {status['lines_total']:,} lines"
        if status["lines_total"]
        else ""
    )
    view["remaining_label"] = (
        f"about {duration(status['remaining_s'])} left" if status["remaining_s"] is not None else ""
    )
    return view


def statuses(request: Request) -> list[dict[str, Any]]:
    store, driven = store_of(request), printers_of(request)
    return [
        _view(dataclasses.asdict(printers.status(store, driven, name)))
        for name in printers.printer_names()
    ]


@router.get("/printers")
def printers_page(request: Request, user: PageUser) -> Response:
    with store_of(request).session() as session:
        jobs = session.scalars(
            select(Batch)
            .where(Batch.state.in_([BatchState.QUEUED.value, BatchState.PRINTING.value]))
            .order_by(Batch.id)
        )
        queue = [
            {
                "batch_number": job.batch_number,
                "printer": job.printer,
                "state": job.state,
                "drug": json.loads(job.formulation_json).get("drug_name", ""),
                "units": len(json.loads(job.gate_json or "{}").get("tablets", [])),
            }
            for job in jobs
        ]
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
        printers=statuses(request),
        controls=CONTROLS if user.role in RECORD_ROLES else (),
        queue=queue,
    )


@router.get("/printers/events")
async def printer_events(request: Request, user: PageUser) -> Response:
    """Server-sent events: an event `printers` (JSON list of statuses) every second, and
    `ended` (then nothing) once the session has ended or gone idle: watching is not using."""
    token = request.cookies.get(COOKIE_NAME, "")

    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(EVENT_INTERVAL_S * 3000)}\n\n"
        while not await request.is_disconnected():
            if not await asyncio.to_thread(session_live, request, token):
                yield "event: ended\ndata: {}\n\n"
                return
            data = await asyncio.to_thread(statuses, request)
            yield f"event: printers\ndata: {json.dumps(data)}\n\n"
            await asyncio.sleep(EVENT_INTERVAL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/printers/{name}/{action}")
def printer_control(
    request: Request, name: str, action: str, user: PageUser, form: CheckedForm
) -> Response:
    if user.role not in RECORD_ROLES:
        return not_permitted(request, user, "control printers")
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
