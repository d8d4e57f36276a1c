"""/api/v1/printers: the printers on file (one per machine profile) with their queue and the
job printing now, from the jobs and the saved print progress.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import catalog
from printmed.api.jobs import Progress, progress_of
from printmed.auth import current_user
from printmed.auth.dependencies import store_of
from printmed.errors import InputError
from printmed.jobs.states import JobState
from printmed.store.models import Job, User

router = APIRouter(prefix="/api/v1/printers", tags=["printers"])
Staff = Annotated[User, Depends(current_user)]


class PrinterStatus(BaseModel):
    """A printer: its profile, how many jobs wait, and what it prints now (with progress)."""

    id: str
    name: str
    process: str
    nozzle_mm: float
    layer_height_mm: float
    build_volume_mm: list[float]
    queued: int
    printing: str | None
    progress: Progress | None


def status_of(session: Session, profile: dict[str, Any]) -> PrinterStatus:
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
    )


@router.get("", response_model=list[PrinterStatus], summary="Printers with queue and progress")
def list_printers(request: Request, user: Staff) -> list[PrinterStatus]:
    """Any staff member."""
    with store_of(request).session() as session:
        return [status_of(session, p) for p in catalog.printer_profiles().values()]


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
    with store_of(request).session() as session:
        return status_of(session, profiles[printer_id])


class UnknownPrinter(InputError):
    def __init__(self, printer_id: str) -> None:
        super().__init__("printer", printer_id, "is not a printer on file")
