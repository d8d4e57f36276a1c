"""/api/v1/jobs: the batches in the making, their state and print progress, and the steps a
technician takes on them (queue for the printer, reject with a reason).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from printmed.api.wire import JobView, Responses, job_view
from printmed.auth import current_user, require_roles
from printmed.auth.dependencies import store_of
from printmed.auth.users import RECORD_ROLES
from printmed.jobs import service
from printmed.jobs.states import BatchState
from printmed.store.models import PrintProgress, StoredGcode, User

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Staff = Annotated[User, Depends(current_user)]
Maker = Annotated[User, Depends(require_roles(*sorted(RECORD_ROLES)))]
NOT_FOUND: Responses = {404: {"description": "no such batch"}}


class PrintProgressView(BaseModel):
    """Telemetry of the print: lines acknowledged by the printer, temperatures sampled."""

    lines_total: int
    lines_sent: int
    lines_acknowledged: int
    last_acknowledged_line: int
    temperatures: list[Any]
    updated_at: str


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="recorded in the trail")


def progress_of(session: Session, job_id: int) -> PrintProgressView | None:
    row = session.get(PrintProgress, job_id)
    if row is None:
        return None
    return PrintProgressView(
        lines_total=row.lines_total,
        lines_sent=row.lines_sent,
        lines_acknowledged=row.lines_acknowledged,
        last_acknowledged_line=row.last_acknowledged_line,
        temperatures=json.loads(row.temperatures_json),
        updated_at=row.updated_at,
    )


@router.get("", response_model=list[JobView], summary="Jobs, oldest first, by state")
def list_batches(request: Request, user: Staff, state: BatchState | None = None) -> list[JobView]:
    """Any staff member."""
    with store_of(request).read_session() as session:
        return [job_view(j, full=False) for j in service.list_batches(session, state)]


@router.get("/{batch_number}", response_model=JobView, responses=NOT_FOUND, summary="One job")
def get_batch(request: Request, batch_number: str, user: Staff) -> JobView:
    """Any staff member."""
    with store_of(request).read_session() as session:
        return job_view(service.get_batch(session, batch_number))


@router.get(
    "/{batch_number}/progress",
    response_model=PrintProgressView | None,
    responses=NOT_FOUND,
    summary="Print progress (null before printing)",
)
def get_progress(request: Request, batch_number: str, user: Staff) -> PrintProgressView | None:
    """Any staff member."""
    with store_of(request).read_session() as session:
        return progress_of(session, service.get_batch(session, batch_number).id)


@router.get(
    "/{batch_number}/gcode",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **NOT_FOUND},
    summary="The verified G-code (its SHA-256 is in the job)",
)
def get_gcode(request: Request, batch_number: str, user: Staff) -> PlainTextResponse:
    """Any staff member."""
    with store_of(request).read_session() as session:
        job = service.get_batch(session, batch_number)
        program = session.get(StoredGcode, job.gcode_sha256) if job.gcode_sha256 else None
        if program is None:
            raise service.UnknownBatch(batch_number)
        return PlainTextResponse(program.text)


@router.post(
    "/{batch_number}/queue",
    response_model=JobView,
    responses={**NOT_FOUND, 409: {"description": "the job is not verified"}},
    summary="Queue a verified job for its printer",
)
def queue_job(request: Request, batch_number: str, user: Maker) -> JobView:
    """Technicians and pharmacists."""
    with store_of(request).session() as session:
        job = service.get_batch(session, batch_number, for_update=True)
        service.queue(session, job, user)
        return job_view(job)


@router.post(
    "/{batch_number}/reject",
    response_model=JobView,
    responses={**NOT_FOUND, 409: {"description": "the job has ended"}},
    summary="End a batch that will not be released (reason recorded)",
)
def reject_job(request: Request, batch_number: str, rejection: Rejection, user: Maker) -> JobView:
    """Technicians and pharmacists."""
    with store_of(request).session() as session:
        job = service.get_batch(session, batch_number, for_update=True)
        service.reject(session, job, user, rejection.reason)
        return job_view(job)
