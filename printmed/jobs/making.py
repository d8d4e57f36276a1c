"""From a prescription to a verified job: design, slice and gate the G-code, then record it all.

`make_batch` runs before anything is written: a prescription that fails the dose gate (or any
check before it) leaves no job behind. On success the draft and its verification are one
transaction, with the G-code, its SHA-256, the lot and every process parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from dosing.formulation import Formulation
from dosing.prescription import Prescription
from gcode.profile import parse_profile
from printmed import catalog
from printmed.gate import RELEASE_TOLERANCE
from printmed.jobs.service import create_job, record_verification
from printmed.make import Batch, make_batch, temperatures_for
from printmed.store.models import Job, User
from printmed.tablet import printer_for
from printmed.users import RECORD_ROLES, require_role


def process_parameters(batch: Batch, profile: dict[str, Any]) -> dict[str, Any]:
    """Everything the printer is told or the G-code was written with, for the record."""
    lot = catalog.formulation(batch.plate.formulation_id)
    nozzle_c, bed_c = temperatures_for(lot)
    return {
        "printer_profile": profile,
        "nozzle_temp_c": nozzle_c,
        "bed_temp_c": bed_c,
        "mm3_per_e": batch.plate.mm3_per_e,
        "sequence": batch.plate.sequence,
        "estimated_print_time_s": batch.plate.print_time_s,
        "lot": batch.plate.lot,
        "drug_mg_per_mm3": lot.drug_mg_per_mm3,
    }


@dataclass(frozen=True)
class PreparedBatch:
    """A prescription with its lot, printer profile document and gated batch; nothing recorded."""

    rx: Prescription
    lot: Formulation
    profile: dict[str, Any]
    batch: Batch


def prepare_batch(
    rx: Prescription, profile_id: str | None = None, *, on: dt.date | None = None
) -> PreparedBatch:
    """Dose, design, slice and gate `rx` on profile `profile_id` (default: the first for the lot).

    No database: callers run this outside their transaction (it is the slow part) and then
    `record_made_job`; every dosing, gcode and gate refusal passes up unchanged.
    """
    lot = catalog.formulation(rx.formulation)
    profile = printer_for(lot, profile_id)
    batch = make_batch(rx, lot, parse_profile(profile, source=str(profile["id"])), on=on)
    return PreparedBatch(rx, lot, profile, batch)


def make_job(
    session: Session,
    actor: User,
    rx: Prescription,
    *,
    printer: str,
    profile_id: str,
    batch_prefix: str = "PM",
    on: dt.date | None = None,
) -> Job:
    """A verified job for `rx` on printer `printer` (profile `profile_id`), made by `actor`."""
    require_role(actor, RECORD_ROLES, "enter a prescription")
    prepared = prepare_batch(rx, profile_id, on=on)
    return record_made_job(session, actor, prepared, printer=printer, batch_prefix=batch_prefix)


def record_made_job(
    session: Session,
    actor: User,
    prepared: PreparedBatch,
    *,
    printer: str,
    batch_prefix: str = "PM",
) -> Job:
    """Record a batch that already passed the gate as a draft and its verification, in the
    caller's transaction."""
    batch = prepared.batch
    job = create_job(
        session,
        actor,
        prescription=prepared.rx.model_dump(mode="json"),
        formulation=prepared.lot.model_dump(mode="json"),
        printer=printer,
        profile_id=str(prepared.profile["id"]),
        batch_prefix=batch_prefix,
    )
    record_verification(
        session,
        job,
        actor,
        dose=batch.dose.to_dict(),
        design=batch.design.to_dict(),
        gate={
            "tablets": [t.to_dict() for t in batch.tablets],
            "tolerance_percent": RELEASE_TOLERANCE * 100,
        },
        gcode_text=batch.gcode,
        gcode_sha256=batch.sha256,
        parameters=process_parameters(batch, prepared.profile),
    )
    return job
