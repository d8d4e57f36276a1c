"""A gated batch into the record: the draft and its verification in one transaction.

`manufacture` (dose, design, slice, write, gate) runs before anything is written, so a
prescription that fails the dose gate, or any check before it, leaves no batch behind. A batch
is recorded only from an approved master-file snapshot of this store, whose versions it pins.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from dosing.prescription import Prescription
from printmed import catalog
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
    """A verified batch for `rx` on printer `printer` (profile `profile_id`), made by `actor`
    from the store's approved master file (one snapshot, pinned by the batch)."""
    require(actor, Action.ENTER_PRESCRIPTION)
    master = catalog.master_from_store(session)
    factor = calibration.factor_for(session, rx.formulation, printer, profile_id)
    gated = manufacture(rx, profile_id, on=on, calibration_factor=factor, master=master)
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
    carries are not taken).

    `gated` must have been made from an approved master-file snapshot whose lot, product and
    profile versions are still the ones in force in this store: they are pinned with the batch
    (`master_pins_json`). A batch made from the fixtures folder, or from versions since
    superseded, is refused (MasterFileRefused, MasterVersionSuperseded) and nothing written."""
    master = gated.plan.master
    if master is None:
        raise catalog.MasterFileRefused(
            "master", "(given by the caller)", "is not the approved master file: not recorded"
        )
    pins = master.pins_for(gated.formulation.id, gated.profile.id)
    catalog.check_pins_in_force(session, pins, "the new batch")
    batch = create_batch(
        session,
        actor,
        prescription=gated.prescription.model_dump(mode="json"),
        formulation=gated.formulation.model_dump(mode="json"),
        printer=printer,
        profile_id=gated.profile.id,
        batch_prefix=batch_prefix,
        master_pins=pins,
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
