"""The calibration loop's service half: the factor a lot uses on a printer (the latest one a
second pharmacist approved, else the lot's own), and proposals from weighed released batches.

A batch is designed with the factor approved for its lot, printer and profile when it is
entered (`factor_for`); approving is `records.calibration.approve` (a password, a reason).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dosing.calibration import propose_factor
from printmed import audit, catalog
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs.states import BatchState
from printmed.settings import Settings
from printmed.store.models import AuditEntry, Batch, LotCalibration, User

UNITS_REJECTED = "record.units.reject"  # the trail's action for units set aside (records)
PROPOSED, APPROVED, DECLINED, SUPERSEDED = "proposed", "approved", "declined", "superseded"


@dataclass(frozen=True)
class WeighedPoints:
    """Weighed units of released batches: programmed volume (mm³) and mass (mg), one per unit,
    and the batches they came from, newest first."""

    volumes_mm3: tuple[float, ...]
    masses_mg: tuple[float, ...]
    batches: tuple[str, ...]


def approved(session: Session, lot: str, printer: str, profile_id: str) -> LotCalibration | None:
    """The calibration in force for the lot on this printer and profile, if one was approved."""
    return session.scalars(
        select(LotCalibration)
        .where(
            LotCalibration.lot == lot,
            LotCalibration.printer == printer,
            LotCalibration.profile_id == profile_id,
            LotCalibration.status == APPROVED,
        )
        .order_by(LotCalibration.id.desc())
        .limit(1)
    ).first()


def formulation_of(lot: str) -> str:
    """The formulation id of a lot named by its lot number or its formulation id."""
    for formulation in catalog.formulations().values():
        if lot in (formulation.id, formulation.lot):
            return formulation.id
    raise InputError("lot", lot, "is not a lot on file (a lot number or formulation id)")


def factor_for(
    session: Session, formulation_id: str, printer: str, profile_id: str
) -> float | None:
    """The approved factor a new batch of the formulation's lot on `printer` is designed with,
    or None to keep the lot's own (master data)."""
    lot = catalog.master_of(session).formulation(formulation_id).lot
    found = approved(session, lot, printer, profile_id)
    return found.factor if found else None


def weighed_points(
    session: Session, lot: str, printer: str, profile_id: str, window: int
) -> WeighedPoints:
    """Units of the `window` latest released batches of the lot on the printer and profile;
    units set aside (rejected with a reason) are left out."""
    rows = session.scalars(
        select(Batch)
        .where(
            Batch.state == BatchState.RELEASED.value,
            Batch.printer == printer,
            Batch.profile_id == profile_id,
        )
        .order_by(Batch.id.desc())
    ).all()
    volumes: list[float] = []
    masses: list[float] = []
    batches: list[str] = []
    for job in rows:
        if len(batches) == window:
            break
        if json.loads(job.formulation_json)["lot"] != lot or not job.weights_json:
            continue
        tablets = json.loads(job.gate_json or "{}").get("tablets", [])
        weights = json.loads(job.weights_json)["weights_mg"]
        rejected = _rejected_units(session, job.batch_number)
        for unit, (tablet, mass) in enumerate(zip(tablets, weights, strict=False), start=1):
            if unit not in rejected:
                volumes.append(float(tablet["gcode_volume_mm3"]))
                masses.append(float(mass))
        batches.append(job.batch_number)
    return WeighedPoints(tuple(volumes), tuple(masses), tuple(batches))


def _rejected_units(session: Session, batch_number: str) -> set[int]:
    news = session.scalars(
        select(AuditEntry.new_json).where(
            AuditEntry.batch_number == batch_number, AuditEntry.action == UNITS_REJECTED
        )
    )
    return {unit for new in news for unit in json.loads(new)["units"]}


def propose(
    session: Session,
    actor: User,
    formulation_id: str,
    printer: str,
    profile_id: str,
    settings: Settings,
) -> LotCalibration | None:
    """Fit the lot's weighed units on the printer and record a proposal when the factor in use
    is off by more than the margin; None when it is within it. CalibrationRejected (R² below
    0.99, too few points, no spread of volume) proposes nothing. An older open proposal for the
    same lot and printer is superseded."""
    require(actor, Action.PROPOSE_CALIBRATION)
    lot = catalog.master_of(session).formulation(formulation_id)
    points = weighed_points(
        session, lot.lot, printer, profile_id, settings.calibration_window_batches
    )
    if not points.batches:
        raise InputError(
            "lot", lot.lot, f"has no weighed, released batch on {printer} ({profile_id})"
        )
    in_force = approved(session, lot.lot, printer, profile_id)
    in_use = in_force.factor if in_force else lot.calibration_factor
    proposal = propose_factor(
        points.volumes_mm3,
        points.masses_mg,
        density_g_cm3=lot.density_g_cm3,
        factor_in_use=in_use,
        margin_percent=settings.calibration_margin_percent,
    )
    if proposal is None:
        return None
    for older in _open(session, lot.lot, printer, profile_id):
        older.status = SUPERSEDED
    row = LotCalibration(
        lot=lot.lot,
        printer=printer,
        profile_id=profile_id,
        factor_before=in_use,
        factor=proposal.factor,
        fit_json=audit.canonical_json(
            {**proposal.to_dict(), "batches": list(points.batches), "formulation": lot.id}
        ),
        status=PROPOSED,
        proposed_by=actor.username,
        proposed_at=audit.utc_now(),
        reason="",
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor.username,
        action="calibration.propose",
        entity="calibration",
        entity_id=row.id,
        old={"factor": in_use},
        new={
            "lot": lot.lot,
            "printer": printer,
            "profile_id": profile_id,
            "factor": proposal.factor,
            "off_percent": proposal.off_percent,
            "r_squared": proposal.fit.r_squared,
            "batches": list(points.batches),
        },
        reason=f"fit of {proposal.fit.points} weighed units of {len(points.batches)} batches",
    )
    return row


def _open(session: Session, lot: str, printer: str, profile_id: str) -> list[LotCalibration]:
    return list(
        session.scalars(
            select(LotCalibration).where(
                LotCalibration.lot == lot,
                LotCalibration.printer == printer,
                LotCalibration.profile_id == profile_id,
                LotCalibration.status == PROPOSED,
            )
        )
    )


def get(session: Session, calibration_id: int, *, for_update: bool = False) -> LotCalibration:
    query = select(LotCalibration).where(LotCalibration.id == calibration_id)
    found = session.scalars(query.with_for_update() if for_update else query).first()
    if found is None:
        raise InputError("calibration", calibration_id, "is not a calibration on file")
    return found


def of_lot(session: Session, lot: str) -> list[LotCalibration]:
    """Every calibration of a lot, newest first."""
    return list(
        session.scalars(
            select(LotCalibration)
            .where(LotCalibration.lot == lot)
            .order_by(LotCalibration.id.desc())
        )
    )


def in_use_by(session: Session, job: Batch) -> dict[str, object]:
    """The calibration a batch was designed with, as its record names it: the factor in its
    recorded lot, and the approval it came from (or the lot's master data)."""
    formulation = json.loads(job.formulation_json)
    factor = float(formulation.get("calibration_factor", 1.0))
    source = session.scalars(
        select(LotCalibration)
        .where(
            LotCalibration.lot == formulation["lot"],
            LotCalibration.profile_id == job.profile_id,
            LotCalibration.factor == factor,
            LotCalibration.status.in_((APPROVED, SUPERSEDED)),
            LotCalibration.decided_by.is_not(None),
        )
        .order_by(LotCalibration.id.desc())
        .limit(1)
    ).first()
    if source is None:
        return {"factor": factor, "calibration_id": None, "named": "the lot's own (master data)"}
    return {
        "factor": factor,
        "calibration_id": source.id,
        "named": (
            f"calibration {source.id} of {source.lot} on {source.printer}: proposed by "
            f"{source.proposed_by}, approved by {source.decided_by} at {source.decided_at}"
        ),
    }
