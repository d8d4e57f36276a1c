"""/api/v1/printers: the printers on file (one per machine profile) with their queue, the job
printing now and, for a printer this process drives, its live state and the controls the
printers page has (pause, resume, cancel, emergency stop; each recorded before it is sent).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import catalog
from printmed.api.jobs import Progress, progress_of
from printmed.api.problems import NotFound
from printmed.auth import current_user, require_roles
from printmed.auth.dependencies import store_of
from printmed.jobs.states import JobState
from printmed.store.models import Job, User
from printmed.users import RECORD_ROLES
from printmed.web import fleet

router = APIRouter(prefix="/api/v1/printers", tags=["printers"])
Staff = Annotated[User, Depends(current_user)]
Maker = Annotated[User, Depends(require_roles(*sorted(RECORD_ROLES)))]
Control = Literal["pause", "resume", "cancel", "emergency_stop"]


class PrinterStatus(BaseModel):
    """A printer: its profile, how many jobs wait, what it prints now (with progress), and the
    live state the pages show (temperatures, controllable) from printmed.web.fleet."""

    id: str
    name: str
    process: str
    nozzle_mm: float
    layer_height_mm: float
    build_volume_mm: list[float]
    queued: int
    printing: str | None
    progress: Progress | None
    live: dict[str, Any]


class ControlDone(BaseModel):
    printer: str
    action: str
    batch_number: str | None = Field(description="the job it acted on, if one was printing")


def status_of(request: Request, profile: dict[str, Any]) -> PrinterStatus:
    # The live status opens its own transaction: taken first, never inside ours (SQLite).
    live = fleet.status(request, str(profile["id"]))
    with store_of(request).read_session() as session:
        return _recorded_status(session, profile, live)


def _recorded_status(
    session: Session, profile: dict[str, Any], live: dict[str, Any]
) -> PrinterStatus:
    printer_id = str(profile["id"])
    queued = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.printer == printer_id, Job.state == JobState.QUEUED.value)
    )
    printing = session.scalar(
        select(Job).where(Job.printer == printer_id, Job.state == JobState.PRINTING.value)
    )
    return PrinterStatus(
        id=printer_id,
        name=str(profile.get("name", printer_id)),
        process=str(profile["process"]),
        nozzle_mm=float(profile["nozzle_mm"]),
        layer_height_mm=float(profile["layer_height_mm"]),
        build_volume_mm=[float(v) for v in profile["build_volume_mm"]],
        queued=int(queued or 0),
        printing=printing.batch_number if printing else None,
        progress=progress_of(session, printing.id) if printing else None,
        live=live,
    )


@router.get("", response_model=list[PrinterStatus], summary="Printers with queue and progress")
def list_printers(request: Request, user: Staff) -> list[PrinterStatus]:
    """Any staff member."""
    return [status_of(request, p) for p in catalog.printer_profiles().values()]


@router.get(
    "/{printer_id}",
    response_model=PrinterStatus,
    responses={404: {"description": "no such printer"}},
    summary="One printer's status",
)
def get_printer(request: Request, printer_id: str, user: Staff) -> PrinterStatus:
    """Any staff member."""
    profiles = catalog.printer_profiles()
    if printer_id not in profiles:
        raise UnknownPrinter(printer_id)
    return status_of(request, profiles[printer_id])


@router.post(
    "/{printer_id}/{action}",
    response_model=ControlDone,
    responses={
        404: {"description": "no such printer"},
        422: {"description": "the printer is driven by a worker in another process"},
    },
    summary="Pause, resume, cancel or emergency-stop a printer this service drives",
)
def control_printer(request: Request, printer_id: str, action: Control, user: Maker) -> ControlDone:
    """Technicians and pharmacists; the action is in the audit trail before it is sent."""
    if printer_id not in catalog.printer_profiles():
        raise UnknownPrinter(printer_id)
    batch = fleet.control(request, printer_id, action, user)
    return ControlDone(printer=printer_id, action=action, batch_number=batch)


class UnknownPrinter(NotFound):
    def __init__(self, printer_id: str) -> None:
        super().__init__("printer", printer_id, "is not a printer on file")
