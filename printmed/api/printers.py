"""/api/v1/printers: the printers on file (one per machine profile) with their queue, the batch
printing now and, for a printer this process drives, its live state and the controls the
printers page has (pause, resume, cancel, emergency stop; each recorded before it is sent).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gcode.profile import MachineProfile
from printmed.api.batches import progress_of
from printmed.api.problems import NotFound
from printmed.api.record_views import PrintProgressView
from printmed.auth import printers_of, require_action, store_of
from printmed.auth.rules import Action
from printmed.jobs import printers
from printmed.jobs.states import BatchState
from printmed.store.models import Batch, User

router = APIRouter(prefix="/api/v1/printers", tags=["printers"])
# No rule names seeing the printers; reading batch records (any staff member) is the nearest.
Viewer = Annotated[User, Depends(require_action(Action.READ_RECORD))]
Controller = Annotated[User, Depends(require_action(Action.CONTROL_PRINTER))]


class PrinterView(BaseModel):
    """A printer: its profile, how many batches wait, what it prints now (with progress), and
    the live state the pages show (temperatures, controllable)."""

    id: str
    name: str
    process: str
    nozzle_mm: float
    layer_height_mm: float
    build_volume_mm: list[float]
    queued: int
    printing: str | None
    progress: PrintProgressView | None
    live: printers.PrinterStatus


class ControlDone(BaseModel):
    printer: str
    action: str
    batch_number: str | None = Field(description="the batch it acted on, if one was printing")


def status_of(request: Request, profile: MachineProfile) -> PrinterView:
    # The live status opens its own transaction: taken first, never inside ours (SQLite).
    live = printers.status(store_of(request), printers_of(request), profile.id)
    with store_of(request).read_session() as session:
        return _recorded_status(session, profile, live)


def _recorded_status(
    session: Session, profile: MachineProfile, live: printers.PrinterStatus
) -> PrinterView:
    printer_id = profile.id
    queued = session.scalar(
        select(func.count())
        .select_from(Batch)
        .where(Batch.printer == printer_id, Batch.state == BatchState.QUEUED.value)
    )
    printing = session.scalar(
        select(Batch).where(Batch.printer == printer_id, Batch.state == BatchState.PRINTING.value)
    )
    return PrinterView(
        id=printer_id,
        name=profile.name,
        process=profile.process,
        nozzle_mm=profile.nozzle_mm,
        layer_height_mm=profile.layer_height_mm,
        build_volume_mm=list(profile.build_volume_mm),
        queued=int(queued or 0),
        printing=printing.batch_number if printing else None,
        progress=progress_of(session, printing.id) if printing else None,
        live=live,
    )


@router.get("", response_model=list[PrinterView], summary="Printers with queue and progress")
def list_printers(request: Request, user: Viewer) -> list[PrinterView]:
    """Any staff member."""
    return [status_of(request, printers.printer_profile(name)) for name in printers.printer_names()]


@router.get(
    "/{printer_id}",
    response_model=PrinterView,
    responses={404: {"description": "no such printer"}},
    summary="One printer's status",
)
def get_printer(request: Request, printer_id: str, user: Viewer) -> PrinterView:
    """Any staff member."""
    if printer_id not in printers.printer_names():
        raise UnknownPrinter(printer_id)
    return status_of(request, printers.printer_profile(printer_id))


@router.post(
    "/{printer_id}/{action}",
    response_model=ControlDone,
    responses={
        404: {"description": "no such printer"},
        422: {"description": "the printer is driven by a worker in another process"},
    },
    summary="Pause, resume, cancel or emergency-stop a printer this service drives",
)
def control_printer(
    request: Request, printer_id: str, action: printers.Control, user: Controller
) -> ControlDone:
    """Technicians and pharmacists; the action is in the audit trail before it is sent."""
    if printer_id not in printers.printer_names():
        raise UnknownPrinter(printer_id)
    batch = printers.control(
        store_of(request), printers_of(request), printer_id, action, user, "the API"
    )
    return ControlDone(printer=printer_id, action=action, batch_number=batch)


class UnknownPrinter(NotFound):
    def __init__(self, printer_id: str) -> None:
        super().__init__("printer", printer_id, "is not a printer on file")
