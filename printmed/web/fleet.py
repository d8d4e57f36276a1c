"""The pharmacy's printers as the pages see them: one per printer profile on file (the name jobs
are queued by, as in the API), its live status when this process drives it, and the controls.

The app's lifespan runs a worker per printer given to `create_app(printers=...)`; a printer driven
by a worker in another process (`printmed worker`) shows its job and progress from the store but
cannot be paused from here. Every control is an audit entry naming the user, written first.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from sqlalchemy import select

from printers.interface import JobState as StreamState
from printers.interface import Printer
from printmed import audit, catalog
from printmed.auth import store_of
from printmed.errors import InputError
from printmed.jobs.states import JobState
from printmed.store.models import Job, PrintProgress, User

CONTROLS = ("pause", "resume", "cancel", "emergency_stop")
STATE_LABELS = {
    "idle": "idle",
    "printing": "printing",
    "paused": "paused",
    "offline": "offline",
    "finishing": "finishing",
    "elsewhere": "driven by another process",
}


def printer_names() -> list[str]:
    """Every printer: one per profile on file, named by the profile id."""
    return list(catalog.printer_profiles())


def live_printer(request: Request, name: str) -> Printer | None:
    """The Printer this process drives under `name`, if any."""
    printers = getattr(request.app.state, "printers", {}) or {}
    return printers.get(name)


def _check_name(name: str) -> dict[str, Any]:
    profiles = catalog.printer_profiles()
    if name not in profiles:
        raise InputError("printer", name, "is not one of this pharmacy's printers")
    return profiles[name]


def _printing_job(session: Any, name: str) -> Job | None:
    return session.scalar(  # type: ignore[no-any-return]
        select(Job).where(Job.printer == name, Job.state == JobState.PRINTING.value)
    )


def status(request: Request, name: str) -> dict[str, Any]:
    """What the printers page shows of one printer (JSON-ready)."""
    profile = _check_name(name)
    printer = live_printer(request, name)
    with store_of(request).session() as session:
        job = _printing_job(session, name)
        progress = session.get(PrintProgress, job.id) if job is not None else None
        batch = job.batch_number if job is not None else None
        estimate = (
            json.loads(job.parameters_json or "{}").get("estimated_print_time_s")
            if job is not None
            else None
        )
    connected, job_state, temperatures, firmware = False, None, None, ""
    if printer is not None:
        now = printer.status()
        connected, job_state, temperatures = now.connected, now.job_state, now.temperatures
        firmware = now.firmware.name if now.firmware is not None else ""
    state = _state_of(printer is not None, connected, job_state, batch)
    percent = None
    acknowledged = total = 0
    if progress is not None and progress.lines_total:
        acknowledged, total = progress.lines_acknowledged, progress.lines_total
        percent = 100.0 * acknowledged / total
    remaining = None
    if estimate is not None and percent is not None:
        # the G-code's own time; a simulated printer runs `speed_factor` times faster than that
        speed = float(getattr(printer, "_speed_factor", 1.0) or 1.0)
        remaining = float(estimate) * (1 - percent / 100.0) / speed
    return {
        "name": name,
        "profile_name": profile.get("name", name),
        "process": profile.get("process", ""),
        "backend": printer.backend_name if printer is not None else "",
        "firmware": firmware,
        "controllable": printer is not None,
        "state": state,
        "state_label": STATE_LABELS[state],
        "batch_number": batch,
        "percent": percent,
        "lines_acknowledged": acknowledged,
        "lines_total": total,
        "remaining_s": remaining,
        "nozzle_c": temperatures.nozzle_c if temperatures is not None else None,
        "bed_c": temperatures.bed_c if temperatures is not None else None,
    }


def control(request: Request, name: str, action: str, user: User) -> str | None:
    """Pause, resume, cancel or emergency-stop printer `name` for `user`, recorded first.

    Returns the batch it acted on (None when the printer had no job).
    """
    if action not in CONTROLS:
        raise InputError("action", action, f"is not one of {', '.join(CONTROLS)}")
    _check_name(name)
    printer = live_printer(request, name)
    if printer is None:
        raise InputError("printer", name, "is driven by a worker in another process; stop it there")
    with store_of(request).session() as session:
        job = _printing_job(session, name)
        batch = job.batch_number if job is not None else None
        audit.append(
            session,
            actor=user.username,
            action=f"printer.{action}",
            entity="printer",
            entity_id=name,
            batch_number=batch,
            new={"printer": name, "action": action},
            reason=f"{action.replace('_', ' ')} from the printers page by {user.full_name}",
        )
    getattr(printer, action)()
    return batch


def _state_of(
    driven_here: bool, connected: bool, job_state: StreamState | None, batch: str | None
) -> str:
    if not driven_here:
        return "elsewhere"
    if not connected:
        return "offline"
    if job_state is StreamState.PAUSED:
        return "paused"
    if job_state is StreamState.RUNNING:
        return "printing"
    return "finishing" if batch is not None else "idle"
