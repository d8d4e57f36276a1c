"""Moving a batch through its states, recording every value and change in the audit trail.

A batch's columns change only through `record_change`, which writes old and new values to the
trail in the same transaction; the record can therefore be rebuilt from the trail and checked
against it. (The trail's actions keep their first names, `job.*`, so old records still verify.)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs.states import BatchState, check_transition
from printmed.store.models import Batch, PrintProgress, StoredGcode, User

JSON_COLUMNS = frozenset(
    {
        "prescription_json",
        "formulation_json",
        "dose_json",
        "design_json",
        "gate_json",
        "parameters_json",
        "firmware_json",
        "stream_report_json",
        "weights_json",
        "qc_json",
    }
)
RECORDED_COLUMNS = (
    "batch_number",
    "state",
    "printer",
    "profile_id",
    "prescription_json",
    "formulation_json",
    "dose_json",
    "design_json",
    "gate_json",
    "gcode_sha256",
    "parameters_json",
    "firmware_json",
    "stream_report_json",
    "weights_json",
    "qc_json",
    "claimed_by",
    "created_by",
    "created_at",
)


class UnknownBatch(InputError):
    def __init__(self, batch_number: str) -> None:
        super().__init__("batch", batch_number, "is not a batch in this store")


def worker_actor(worker_id: str) -> str:
    return f"worker:{worker_id}"


def column_value(job: Batch, column: str) -> Any:
    """A column as data: JSON columns decoded."""
    raw = getattr(job, column)
    return json.loads(raw) if column in JSON_COLUMNS and raw is not None else raw


def snapshot(job: Batch) -> dict[str, Any]:
    """Every recorded column of the job, decoded."""
    return {column: column_value(job, column) for column in RECORDED_COLUMNS}


def get_batch(session: Session, batch_number: str, *, for_update: bool = False) -> Batch:
    query = select(Batch).where(Batch.batch_number == batch_number)
    if for_update:
        query = query.with_for_update()
    job = session.scalar(query)
    if job is None:
        raise UnknownBatch(batch_number)
    return job


def list_batches(session: Session, state: str | None = None) -> list[Batch]:
    query = select(Batch).order_by(Batch.id)
    if state is not None:
        query = query.where(Batch.state == BatchState(state).value)
    return list(session.scalars(query))


def record_change(
    session: Session,
    job: Batch,
    actor: str,
    action: str,
    changes: Mapping[str, Any],
    reason: str = "",
) -> None:
    """Set columns of `job` and write one audit entry with their old and new values.

    The chain's lock is taken before the row's: every audited transaction takes the two in
    that order, so two of them never wait on each other.
    """
    audit.lock_chain(session)
    old = {column: column_value(job, column) for column in changes}
    for column, value in changes.items():
        if column not in RECORDED_COLUMNS:
            raise KeyError(column)
        stored = (
            audit.canonical_json(value) if column in JSON_COLUMNS and value is not None else value
        )
        setattr(job, column, stored)
    if "state" in changes:
        check_transition(job.batch_number, old["state"], changes["state"])
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=action,
        entity="job",
        entity_id=job.id,
        batch_number=job.batch_number,
        old=old,
        new=dict(changes),
        reason=reason,
    )


def next_batch_number(session: Session, prefix: str, today: dt.date | None = None) -> str:
    """`PREFIX-YYYYMMDD-NNNN`, numbered within the day."""
    stem = f"{prefix}-{(today or dt.datetime.now(dt.UTC).date()).strftime('%Y%m%d')}-"
    count = session.scalar(
        select(func.count()).select_from(Batch).where(Batch.batch_number.like(stem + "%"))
    )
    return f"{stem}{(count or 0) + 1:04d}"


def create_batch(
    session: Session,
    actor: User,
    *,
    prescription: Mapping[str, Any],
    formulation: Mapping[str, Any],
    printer: str,
    profile_id: str,
    batch_prefix: str = "PM",
) -> Batch:
    """A draft batch for a prescription, a lot and a printer, entered by `actor`."""
    require(actor, Action.ENTER_PRESCRIPTION)
    if not printer.strip():
        raise InputError("printer", printer, "is empty")
    audit.lock_chain(session)  # two creators must not count the same day's jobs at once
    job = Batch(
        batch_number=next_batch_number(session, batch_prefix),
        state=BatchState.DRAFT.value,
        printer=printer,
        profile_id=profile_id,
        prescription_json=audit.canonical_json(prescription),
        formulation_json=audit.canonical_json(formulation),
        created_by=actor.username,
        created_at=audit.utc_now(),
    )
    session.add(job)
    session.flush()
    audit.append(
        session,
        actor=actor.username,
        action="job.create",
        entity="job",
        entity_id=job.id,
        batch_number=job.batch_number,
        old=None,
        new=snapshot(job),
        reason="prescription entered",
    )
    return job


def record_verification(
    session: Session,
    job: Batch,
    actor: User,
    *,
    dose: Mapping[str, Any],
    design: Mapping[str, Any],
    gate: Mapping[str, Any],
    gcode_text: str,
    gcode_sha256: str,
    parameters: Mapping[str, Any],
) -> None:
    """Record what passed the dose gate (dose trail, design, per-tablet figures, the G-code and
    every process parameter) and move the job to verified; the G-code's hash is checked here."""
    require(actor, Action.ENTER_PRESCRIPTION)
    actual = audit.sha256_text(gcode_text)
    if actual != gcode_sha256:
        raise InputError("gcode_sha256", gcode_sha256, f"does not match the G-code ({actual})")
    if session.get(StoredGcode, actual) is None:
        session.add(StoredGcode(sha256=actual, text=gcode_text, lines=gcode_text.count("\n") + 1))
        session.flush()
    record_change(
        session,
        job,
        actor.username,
        "job.verify",
        {
            "dose_json": dict(dose),
            "design_json": dict(design),
            "gate_json": dict(gate),
            "gcode_sha256": actual,
            "parameters_json": dict(parameters),
            "state": BatchState.VERIFIED.value,
        },
        reason="passed the dose gate on the G-code",
    )


def queue(session: Session, job: Batch, actor: User) -> None:
    require(actor, Action.QUEUE)
    record_change(session, job, actor.username, "job.queue", {"state": BatchState.QUEUED.value})


def reject(session: Session, job: Batch, actor: User, reason: str) -> None:
    """End a batch that will not be released; the reason is required and recorded."""
    require(actor, Action.REJECT)
    if not reason.strip():
        raise InputError("reason", reason, "is required to reject a batch")
    record_change(
        session,
        job,
        actor.username,
        "job.reject",
        {"state": BatchState.REJECTED.value},
        reason=reason.strip(),
    )


def claim_next(
    session: Session, printer: str, worker_id: str, firmware: Mapping[str, Any]
) -> Batch | None:
    """Take the oldest queued job of `printer`, or None.

    The conditional UPDATE (state still 'queued') is the claim: of several workers sharing a
    queue on PostgreSQL exactly one changes the row; the others see 0 rows and try the next.
    The printer's firmware identity is recorded with the claim, before any line is streamed.
    """
    audit.lock_chain(session)
    candidates = session.scalars(
        select(Batch.id)
        .where(Batch.printer == printer, Batch.state == BatchState.QUEUED.value)
        .order_by(Batch.id)
        .limit(5)
    )
    for job_id in list(candidates):
        taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Batch)
            .where(Batch.id == job_id, Batch.state == BatchState.QUEUED.value)
            .values(claimed_by=worker_id)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            continue
        job = session.get(Batch, job_id)
        assert job is not None
        session.refresh(job)
        # The claim above set claimed_by without an entry; the entry below records it.
        job.claimed_by = None
        record_change(
            session,
            job,
            worker_actor(worker_id),
            "job.print.start",
            {
                "state": BatchState.PRINTING.value,
                "claimed_by": worker_id,
                "firmware_json": dict(firmware),
            },
            reason=f"taken by worker {worker_id} for printer {printer}",
        )
        session.add(
            PrintProgress(
                job_id=job.id,
                lines_total=0,
                lines_sent=0,
                lines_acknowledged=0,
                last_acknowledged_line=0,
                temperatures_json="[]",
                updated_at=audit.utc_now(),
            )
        )
        session.flush()
        return job
    return None


def finish_print(
    session: Session,
    job: Batch,
    worker_id: str,
    outcome: str,
    report: Mapping[str, Any],
    reason: str = "",
) -> None:
    """Record the stream report and end the print as printed, failed or interrupted."""
    if outcome not in (BatchState.PRINTED, BatchState.FAILED, BatchState.INTERRUPTED):
        raise InputError("outcome", outcome, "is not printed, failed or interrupted")
    record_change(
        session,
        job,
        worker_actor(worker_id),
        f"job.print.{outcome}",
        {"state": outcome, "stream_report_json": dict(report)},
        reason=reason,
    )


def saved_progress_report(session: Session, job: Batch) -> dict[str, Any]:
    """A stream report from the progress saved during the print (when no report came back)."""
    progress = session.get(PrintProgress, job.id)
    return {
        "complete": False,
        "lines_total": progress.lines_total if progress else None,
        "lines_sent": progress.lines_sent if progress else None,
        "lines_acknowledged": progress.lines_acknowledged if progress else None,
        "last_acknowledged_line": progress.last_acknowledged_line if progress else None,
        "temperature_log": json.loads(progress.temperatures_json) if progress else [],
        "recovered_at": audit.utc_now(),
    }


def recover_interrupted(session: Session, printer: str, worker_id: str) -> list[str]:
    """Jobs of `printer` left 'printing' by a crash become interrupted, never resumed.

    The report records the last line the printer acknowledged, from the saved progress.
    """
    stranded = session.scalars(
        select(Batch)
        .where(Batch.printer == printer, Batch.state == BatchState.PRINTING.value)
        .order_by(Batch.id)
    )
    recovered = []
    for job in list(stranded):
        finish_print(
            session,
            job,
            worker_id,
            BatchState.INTERRUPTED,
            saved_progress_report(session, job),
            reason="the service stopped while printing; not resumed",
        )
        recovered.append(job.batch_number)
    return recovered
