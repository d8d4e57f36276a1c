"""Recording unit weights (by hand or from a balance) and the QC computed from them.

A second weighing of a weighed batch is a correction: it needs a reason, and the trail keeps
both the first and the new weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs.service import column_value, record_change
from printmed.jobs.states import BatchState
from printmed.records.qc import StepUnits, assess, assess_steps, target_unit_mass_mg
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


def step_units(job: Batch) -> list[StepUnits]:
    """A schedule's steps as their units lie on the plate (empty for one dose): each step's
    dose is its units' targets from the gate (per tablet, in plate order), its unit count the
    stored design's. Targets that differ within a step are refused naming the tablet."""
    design = column_value(job, "design_json") or {}
    steps = design.get("steps") or []
    if not steps:
        return []
    gate = column_value(job, "gate_json") or {}
    tablets = sorted(gate.get("tablets") or [], key=lambda t: int(t["index"]))
    targets = [float(t["target_mg"]) for t in tablets] or [
        float(s["dose_mg"]) for s in steps for _ in range(int(s["units_total"]))
    ]
    planned = sum(int(s["units_total"]) for s in steps)
    if len(targets) != planned:
        raise InputError("gate_json.tablets", len(targets), f"tablets; the steps have {planned}")
    units, first = [], 0
    for step in steps:
        count = int(step["units_total"])
        own = targets[first : first + count]
        for offset, target in enumerate(own):
            if target != own[0]:
                raise InputError(
                    f"gate_json.tablets[{first + offset}].target_mg",
                    target,
                    f"differs from step {step['step']}'s {own[0]:g} mg",
                )
        units.append(StepUnits(int(step["step"]), own[0], count))
        first += count
    return units


@dataclass(frozen=True)
class StepTarget:
    """What the units of one step should weigh: units first_unit..last_unit (1 first, plate
    order) at target_unit_mass_mg each (a batch of one dose is one step of all its units)."""

    step: int
    dose_mg: float
    target_unit_mass_mg: float
    first_unit: int
    last_unit: int


def step_targets(job: Batch) -> list[StepTarget]:
    """The target unit mass of each step of a schedule (one entry for a batch of one dose)."""
    formulation = column_value(job, "formulation_json")
    steps = step_units(job) or [StepUnits(1, unit_dose_mg(job), unit_count(job))]
    targets, first = [], 1
    for s in steps:
        mass = target_unit_mass_mg(s.dose_mg, formulation)
        targets.append(StepTarget(s.step, s.dose_mg, mass, first, first + s.units - 1))
        first += s.units
    return targets


def qc_of(job: Batch, weights_mg: Sequence[float]) -> dict[str, Any]:
    """The QC of these unit weights for this batch, recording nothing (also the live check).
    A schedule's units are assessed step by step, each against its own step's dose."""
    steps = step_units(job)
    if steps:
        return assess_steps(
            list(weights_mg), steps=steps, formulation=column_value(job, "formulation_json")
        )
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
