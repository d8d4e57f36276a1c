"""Moving a batch through its states, recording every value and change in the audit trail.

A batch's columns change only through `record_change`, which writes old and new values to the
trail in the same transaction; the record can therefore be rebuilt from the trail and checked
against it. (The trail's actions keep their first names, `job.*`, so old records still verify.)
Two changes are not anyone's to make: `verified` and its gate figures come only from
`record_gated_program`, which takes them only from the dose gate's own reading of the kept
program (`record_verification` has the gate read it first), and `printing` only from
`claim_next`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session

from dosing.errors import Marker
from gcode.profile import MachineProfile
from printers.identity import PrinterIdentity
from printmed import audit, catalog
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs import register, stock
from printmed.jobs.states import BatchState, NotScreened, check_transition
from printmed.jobs.stored_gate import (
    GatedProgram,
    StoredProgramDiffers,
    check_same_gate,
    gate_program,
    gate_text,
    made_here,
    store_program,
    stored_program,
)
from printmed.store.models import (
    Batch,
    PrintProgress,
    RegisteredPrinter,
    Signature,
    User,
)

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
        "master_pins_json",
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
    "printer_serial",
    "master_pins_json",
)


class UnknownBatch(InputError):
    def __init__(self, batch_number: str) -> None:
        super().__init__("batch", batch_number, "is not a batch in this store")


class PrinterIdentityMismatch(InputError):
    """The connected printer is not the one the batch's G-code was written for (or that profile
    has no identity on file to check it against); carries the batch and both identities, and
    the value is what the printer reported."""

    def __init__(
        self,
        job_id: int,
        batch_number: str,
        profile_id: str,
        expected: PrinterIdentity | None,
        reported: PrinterIdentity,
    ) -> None:
        self.job_id = job_id
        self.batch_number = batch_number
        self.profile_id = profile_id
        self.expected = expected
        self.reported = reported
        differences = (
            "; ".join(expected.differences(reported))
            if expected is not None
            else "no identity on file for that profile"
        )
        super().__init__(
            "printer.identity",
            reported.to_dict(),
            f"is not printer {profile_id} ({differences}): {batch_number} not streamed",
        )


# Only the functions that compute them set these (the gate; the claim with its checks).
RESERVED_CHANGES = {
    "gate_json": "record_gated_program",
    "firmware_json": "claim_next",
    "claimed_by": "claim_next",
    "printer_serial": "claim_next",
}
# the e-signature a pharmacist gives on screening (records.screening), which queueing asks for
SCREENED_MEANING = "screened"
RESERVED_STATES = {
    BatchState.VERIFIED: "record_gated_program",
    BatchState.PRINTING: "claim_next",
}


def worker_actor(worker_id: str) -> str:
    return f"worker:{worker_id}"


def column_value(job: Batch, column: str) -> Any:
    """A column as data: JSON columns decoded."""
    raw = getattr(job, column)
    return json.loads(raw) if column in JSON_COLUMNS and raw is not None else raw


def snapshot(job: Batch) -> dict[str, Any]:
    """Every recorded column of the job, decoded."""
    return {column: column_value(job, column) for column in RECORDED_COLUMNS}


def get_batch(
    session: Session, batch_number: str, *, for_update: bool = False, site_id: int | None = None
) -> Batch:
    """The batch `batch_number`; with `site_id`, only if it was made at that site (a batch of
    another site is UnknownBatch, as if it did not exist: records.sites.site_scope)."""
    query = select(Batch).where(Batch.batch_number == batch_number)
    if site_id is not None:
        query = query.where(Batch.site_id == site_id)
    if for_update:
        query = query.with_for_update()
    job = session.scalar(query)
    if job is None:
        raise UnknownBatch(batch_number)
    return job


def list_batches(
    session: Session, state: str | None = None, *, site_id: int | None = None
) -> list[Batch]:
    """Every batch, oldest first; of one state, and of one site (None: every site)."""
    query = select(Batch).order_by(Batch.id)
    if state is not None:
        query = query.where(Batch.state == BatchState(state).value)
    if site_id is not None:
        query = query.where(Batch.site_id == site_id)
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
    that order, so two of them never wait on each other. The gate's figures, `verified`, and a
    printer's claim are refused here: only the functions that compute them make them.
    """
    for column, holder in RESERVED_CHANGES.items():
        if column in changes:
            raise InputError(column, changes[column], f"is recorded only by {holder}")
    state = changes.get("state")
    if state is not None and BatchState(state) in RESERVED_STATES:
        raise InputError(
            "state", state, f"is recorded only by {RESERVED_STATES[BatchState(state)]}"
        )
    _write_change(session, job, actor, action, changes, reason)


def _write_change(
    session: Session,
    job: Batch,
    actor: str,
    action: str,
    changes: Mapping[str, Any],
    reason: str = "",
) -> None:
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
    master_pins: Mapping[str, Any] | None = None,
) -> Batch:
    """A draft batch for a prescription, a lot and a printer, entered by `actor`.

    master_pins: the master-file versions it is made with (kind → key, version, id, sha256),
    from `jobs.making.record_gated_batch`, which takes them from the approved snapshot the batch
    was made from; recorded with the entry and checked again at queueing and by `records
    verify`."""
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
        master_pins_json=None if master_pins is None else audit.canonical_json(master_pins),
        created_by=actor.username,
        created_at=audit.utc_now(),
        # made at the site of whoever entered it (a prescribing system's: its client's site)
        site_id=actor.site_id or 1,
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
    gcode_text: str,
    parameters: Mapping[str, Any],
) -> None:
    """Run the dose gate over `gcode_text` against `dose` and `design` with the batch's own lot
    and pinned printer profile (`stored_gate.gate_text`), store the text, and record the gate's
    figures, the G-code's hash and every process parameter as the job becomes verified
    (`record_gated_program`).

    The one way to `verified`: no caller supplies gate figures. DoseGateFailed or
    StoredProgramDiffers leave nothing written (the caller's transaction rolls back).
    """
    require(actor, Action.ENTER_PRESCRIPTION)
    pins = column_value(job, "master_pins_json")
    program = gate_text(
        gcode_text,
        formulation=column_value(job, "formulation_json"),
        profile_id=job.profile_id,
        profile=pinned_profile(session, job),
        profile_pin=pins["profile"] if pins else None,
        dose=dose,
        design=design,
        parameters=parameters,
    )
    record_gated_program(session, job, actor, program)


def record_gated_program(session: Session, job: Batch, actor: User, program: GatedProgram) -> None:
    """Record `program`'s gate figures, hash, targets and parameters as `job` becomes verified,
    the text kept (`stored_gate.store_program`: read back by its SHA-256, the very bytes gated).

    Only a program the gate made (`stored_gate.made_here`) for this job's own lot (its recorded
    formulation, byte for byte), profile and pinned profile version is taken; anything else is
    refused (StoredProgramDiffers) with nothing written. `jobs.making` gates a new batch's
    program this way before the record's transaction, so the reading holds up no other writer.
    """
    require(actor, Action.ENTER_PRESCRIPTION)
    if not made_here(program):
        raise StoredProgramDiffers(
            "gate_json", Marker("(given by the caller)"), "was not computed by the dose gate"
        )
    pins = column_value(job, "master_pins_json")
    gated_for = {
        "formulation_json": (program.formulation_json, job.formulation_json),
        "profile_id": (program.profile_id, job.profile_id),
        "master_pins.profile": (program.profile_pin, pins["profile"] if pins else None),
    }
    for name, (gated, recorded) in gated_for.items():
        if gated != recorded:
            raise StoredProgramDiffers(
                name, Marker("(as gated)"), f"is not the batch's own: {job.batch_number}"
            )
    store_program(session, program)
    _write_change(
        session,
        job,
        actor.username,
        "job.verify",
        {
            "dose_json": dict(program.dose),
            "design_json": dict(program.design),
            "gate_json": dict(program.figures),
            "gcode_sha256": program.sha256,
            "parameters_json": dict(program.parameters),
            "state": BatchState.VERIFIED.value,
        },
        reason="passed the dose gate on the stored G-code",
    )


def program_to_print(session: Session, job: Batch) -> str:
    """The stored G-code of `job`, gated again against its stored targets, lot and profile and
    found to give the very figures it was verified with, all as the trail recorded them at entry
    and verification, in entries that carry the service's signature: the only text a worker
    streams.

    Raises StoredProgramDiffers, DoseGateFailed or audit.EntryNotAuthentic naming what differs.
    """
    text = stored_program(session, job.gcode_sha256 or "")
    gate = gate_program(
        text,
        formulation=column_value(job, "formulation_json"),
        profile_id=job.profile_id,
        profile=pinned_profile(session, job),
        dose=column_value(job, "dose_json") or {},
        design=column_value(job, "design_json") or {},
        parameters=column_value(job, "parameters_json") or {},
    )
    check_same_gate(column_value(job, "gate_json"), gate)
    _check_as_entered_and_verified(session, job)
    return text


def pinned_profile(session: Session, job: Batch) -> MachineProfile | None:
    """The printer profile of the master-file version the batch pins (its content checked
    against the pinned hash); None for a batch that pins none (made before the master file)."""
    pins = column_value(job, "master_pins_json")
    return catalog.pinned_model(session, pins).profile if pins else None


# What the gate depends on, as the trail recorded it when the batch was entered and verified.
GATED_COLUMNS = (
    "profile_id",
    "master_pins_json",
    "formulation_json",
    "dose_json",
    "design_json",
    "gate_json",
    "gcode_sha256",
    "parameters_json",
)


def _check_as_entered_and_verified(session: Session, job: Batch) -> None:
    """Refuse a job row whose program, targets, lot, profile or gate figures are not those its
    `job.create` and `job.verify` entries recorded (a row rewritten beside the trail), or those
    entries themselves when they are not as the service wrote and signed them (EntryNotAuthentic:
    the row, the program and the trail rewritten together by someone without the service key)."""
    entries = audit.entries_for(session, job.batch_number)
    created = [e for e in entries if e.action == "job.create" and e.entity_id == str(job.id)]
    verified = [e for e in entries if e.action == "job.verify" and e.entity_id == str(job.id)]
    if len(created) != 1 or len(verified) != 1:
        raise StoredProgramDiffers(
            "batch", job.batch_number, "has no single entry and verification in the trail"
        )
    audit.check_authentic(session, [*created, *verified])
    recorded = {**audit.decoded(created[0])["new"], **audit.decoded(verified[0])["new"]}
    for column in GATED_COLUMNS:
        now = column_value(job, column)
        if now != recorded.get(column):
            shown = now if isinstance(now, str) else "(rewritten)"
            raise StoredProgramDiffers(
                column, shown, f"is not what the trail recorded for {job.batch_number}"
            )


def queue(session: Session, job: Batch, actor: User) -> None:
    """Hand a screened batch to its printer's worker. Nothing is queued unscreened: the batch
    must be `screened` and carry a pharmacist's 'screened' e-signature, or NotScreened names its
    state."""
    require(actor, Action.QUEUE)
    screened = session.scalar(
        select(Signature.id).where(
            Signature.batch_number == job.batch_number, Signature.meaning == SCREENED_MEANING
        )
    )
    awaiting = job.state in (BatchState.VERIFIED, BatchState.RETURNED)
    if awaiting or (job.state == BatchState.SCREENED and screened is None):
        raise NotScreened(job.batch_number, job.state)
    pins = column_value(job, "master_pins_json")
    if pins:  # made with versions since superseded: refused with the reason, nothing queued
        catalog.check_pins_in_force(session, pins, job.batch_number)
    # any other state: check_transition names what may follow it
    record_change(session, job, actor.username, "job.queue", {"state": BatchState.QUEUED.value})
    stock.draw_for_batch(session, job, actor.username)  # refuses (and rolls back) if too little


def reject(session: Session, job: Batch, actor: User, reason: str) -> None:
    """End a batch that will not be released; the reason is required and recorded. A batch
    rejected while queued gives its lot back the material drawn for it (none was printed)."""
    require(actor, Action.REJECT)
    if not reason.strip():
        raise InputError("reason", reason, "is required to reject a batch")
    was_queued = job.state == BatchState.QUEUED.value
    record_change(
        session,
        job,
        actor.username,
        "job.reject",
        {"state": BatchState.REJECTED.value},
        reason=reason.strip(),
    )
    if was_queued:  # drawn at queueing, never extruded: the lot has it still
        stock.return_for_batch(session, job, actor.username)


def claim_next(
    session: Session, printer: str, worker_id: str, firmware: Mapping[str, Any]
) -> Batch | None:
    """Take the oldest queued job of `printer`, or None.

    A printer in the register (`jobs.register`) takes only the batch its line is cleared for,
    queued for it or for its profile, and only while it is in service and calibrated; the claim
    names it and its serial in the batch (`printer`, `printer_serial`) and uses the clearance
    up. Once the register holds any printer, a name not in it takes nothing; before that (a
    store upgraded without printers registered) a worker takes the jobs queued under its name.
    A registered printer takes only batches made at its own site (`printers.site_id`).

    `firmware` is the connected printer's (`FirmwareInfo` as data): its identity must be the
    one on file for the profile the job's G-code was written for, or PrinterIdentityMismatch is
    raised having changed nothing. The conditional UPDATE (state still 'queued') is the claim:
    of several workers sharing a queue on PostgreSQL exactly one changes the row; the others
    see 0 rows and try the next. The identity is recorded with the claim, before any line is
    streamed.
    """
    audit.lock_chain(session)
    reported = PrinterIdentity.reported_in(firmware.get("fields") or {})
    takes = _what_printer_takes(session, printer)
    if takes is None:
        return None
    registered, queued_here = takes
    candidates = session.execute(
        select(Batch.id, Batch.batch_number, Batch.profile_id)
        .where(queued_here)
        .order_by(Batch.id)
        .limit(5)
    )
    for job_id, batch_number, profile_id in list(candidates):
        expected = _expected_identity(session, job_id, profile_id)
        if expected is None or expected.differences(reported):
            raise PrinterIdentityMismatch(job_id, batch_number, profile_id, expected, reported)
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
        equipment = (
            {"printer": registered.name, "printer_serial": registered.serial_number}
            if registered is not None
            else {}
        )
        _write_change(
            session,
            job,
            worker_actor(worker_id),
            "job.print.start",
            {
                "state": BatchState.PRINTING.value,
                "claimed_by": worker_id,
                "firmware_json": dict(firmware),
                **equipment,
            },
            reason=f"taken by worker {worker_id} for printer {printer}"
            + (f" (serial {registered.serial_number})" if registered is not None else ""),
        )
        if registered is not None:
            register.use_clearance(session, registered, job.batch_number, worker_actor(worker_id))
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


def has_queued(session: Session, printer: str) -> bool:
    """Whether `printer` has a batch it may claim now (read only): the worker asks before it
    asks the printer who it is, so an idle printer is not asked every poll."""
    takes = _what_printer_takes(session, printer)
    return (
        takes is not None and session.scalar(select(Batch.id).where(takes[1]).limit(1)) is not None
    )


def _what_printer_takes(
    session: Session, printer: str
) -> tuple[RegisteredPrinter | None, ColumnElement[bool]] | None:
    """The register's entry for `printer` (None before the register is in force) and which
    queued batches it may take (`claim_next`'s rules); None when it may take none now."""
    registered = register.find(session, printer)
    queued_here = Batch.printer == printer
    if registered is not None:
        cleared = register.cleared_for(session, registered)
        if cleared is None:
            return None
        queued_here = (
            (Batch.batch_number == cleared)
            & Batch.printer.in_((registered.name, registered.profile_id))
            & (Batch.profile_id == registered.profile_id)
            & (Batch.site_id == registered.site_id)  # a printer makes only its own site's batches
        )
    elif register.in_force(session):
        return None
    return registered, queued_here & (Batch.state == BatchState.QUEUED.value)


def _expected_identity(session: Session, job_id: int, profile_id: str) -> PrinterIdentity | None:
    """Who the printer of a batch must be: the identity in its pinned profile version, or for a
    batch that pins none the one on file for its profile. A pinned version that no longer
    hashes to what the batch recorded gives none: the batch is streamed to no printer."""
    job = session.get(Batch, job_id)
    pins = column_value(job, "master_pins_json") if job is not None else None
    if pins:
        try:
            return catalog.pinned_model(session, pins).identity
        except catalog.MasterFileRefused:
            return None
    return catalog.master_of(session).printer_identities().get(profile_id)


def record_identity_refusal(
    session: Session, refusal: PrinterIdentityMismatch, printer: str, worker_id: str
) -> None:
    """The trail's entry for a batch a printer was refused for: expected and reported identity.
    The batch stays queued, for the printer it was written for (the entry is the printer's, so
    the batch's own record, replayed from its `job` entries, is unchanged)."""
    audit.append(
        session,
        actor=worker_actor(worker_id),
        action="job.print.refused",
        entity="printer",
        entity_id=printer,
        batch_number=refusal.batch_number,
        old=None,
        new={
            "printer": printer,
            "profile_id": refusal.profile_id,
            "expected": refusal.expected.to_dict() if refusal.expected else None,
            "reported": refusal.reported.to_dict(),
        },
        reason=str(refusal),
    )


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
