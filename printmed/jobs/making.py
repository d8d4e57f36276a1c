"""A gated batch into the record: the draft and its verification in one transaction.

`manufacture` (dose, design, slice, write, gate) runs before anything is written, so a
prescription that fails the dose gate, or any check before it, leaves no batch behind.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from dosing.prescription import Prescription
from printmed.auth.rules import Action, require
from printmed.jobs import calibration
from printmed.jobs.service import create_batch, record_verification
from printmed.manufacture import GatedBatch, manufacture
from printmed.store.models import Batch, User


def enter_prescription(
    session: Session,
    actor: User,
    rx: Prescription,
    *,
    printer: str,
    profile_id: str,
    batch_prefix: str = "PM",
    on: dt.date | None = None,
) -> Batch:
    """A verified batch for `rx` on printer `printer` (profile `profile_id`), made by `actor`."""
    require(actor, Action.ENTER_PRESCRIPTION)
    factor = calibration.factor_for(session, rx.formulation, printer, profile_id)
    gated = manufacture(rx, profile_id, on=on, calibration_factor=factor)
    return record_gated_batch(session, actor, gated, printer=printer, batch_prefix=batch_prefix)


def record_gated_batch(
    session: Session,
    actor: User,
    gated: GatedBatch,
    *,
    printer: str,
    batch_prefix: str = "PM",
) -> Batch:
    """Record a batch that passed the gate as a draft and its verification, in the caller's
    transaction; the verification gates the stored G-code again itself (the figures `gated`
    carries are not taken)."""
    batch = create_batch(
        session,
        actor,
        prescription=gated.prescription.model_dump(mode="json"),
        formulation=gated.formulation.model_dump(mode="json"),
        printer=printer,
        profile_id=gated.profile.id,
        batch_prefix=batch_prefix,
    )
    record_verification(
        session,
        batch,
        actor,
        dose=gated.plan.dose_record(),
        design=gated.plan.design_record(),
        gcode_text=gated.gcode,
        parameters=gated.process_parameters(),
    )
    return batch
