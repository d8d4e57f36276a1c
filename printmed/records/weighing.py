"""Recording unit weights (by hand or from a balance) and the QC computed from them.

A second weighing of a weighed batch is a correction: it needs a reason, and the trail keeps
both the first and the new weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs.service import column_value, record_change
from printmed.jobs.states import BatchState
from printmed.records.qc import assess, target_unit_mass_mg
from printmed.store.models import Batch, User


def unit_count(job: Batch) -> int:
    """Units in the batch: the gate's tablets when recorded, else the prescription's units."""
    gate = column_value(job, "gate_json") or {}
    tablets = gate.get("tablets")
    if isinstance(tablets, list) and tablets:
        return len(tablets)
    return int(column_value(job, "prescription_json")["units"])


def unit_dose_mg(job: Batch) -> float:
    """The dose one printed unit holds: per administration ÷ units per dose (mini-tablets)."""
    design = column_value(job, "design_json")
    if design and "dose_mg" in design:
        return float(design["dose_mg"])
    dose = column_value(job, "dose_json")
    if dose is None:
        raise InputError("batch", job.batch_number, "has no recorded dose")
    return float(dose["dose_mg"])


def target_mass_mg(job: Batch) -> float:
    """The mass (mg) one unit of this batch should weigh, for the dose it holds."""
    return target_unit_mass_mg(unit_dose_mg(job), column_value(job, "formulation_json"))


def qc_of(job: Batch, weights_mg: Sequence[float]) -> dict[str, Any]:
    """The QC of these unit weights for this batch, recording nothing (also the live check)."""
    return assess(
        list(weights_mg),
        dose_mg=unit_dose_mg(job),
        formulation=column_value(job, "formulation_json"),
        units=unit_count(job),
    )


def record_weights(
    session: Session,
    job: Batch,
    actor: User,
    weights_mg: Sequence[float],
    *,
    source: str = "manual",
    reason: str = "",
) -> dict[str, Any]:
    """Store the weights and their QC on a printed (or, as a correction, weighed) batch."""
    require(actor, Action.WEIGH)
    correction = job.state == BatchState.WEIGHED
    if correction and not reason.strip():
        raise InputError("reason", reason, "is required to correct recorded weights")
    qc = qc_of(job, weights_mg)
    record_change(
        session,
        job,
        actor.username,
        "record.weigh.correct" if correction else "record.weigh",
        {
            "weights_json": {"weights_mg": list(weights_mg), "source": source},
            "qc_json": qc,
            "state": BatchState.WEIGHED.value,
        },
        reason=reason.strip() or "unit weights entered",
    )
    return qc
