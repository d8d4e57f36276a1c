"""QC from unit weights: estimated content per unit, Ph. Eur. 2.9.5 and 2.9.40, pass or fail.

Content is estimated from mass with the lot's drug fraction (loading × assay): a patient batch
of 7–30 units is released on per-unit weights, not by destroying units for assay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dosing.uniformity import AV_K, acceptance_value, mass_uniformity
from printmed.errors import InputError

MIN_UNITS = 2
# Below 10 units 2.9.40 has no k (stage 1 is 10 units) and an s from so few units is loose, so
# every unit is also held to 2.9.6 test A's individual limits (85–115 % of the dose), with none
# of its one-unit allowance: a small batch or schedule step passes only unit by unit.
AV_MIN_UNITS = 10
UNIT_LIMIT_PERCENT = 15.0


def drug_fraction(formulation: Mapping[str, Any]) -> float:
    """mg of drug per mg of printed material: loading w/w × assay."""
    assay = formulation.get("assay_percent")
    if assay is None:
        raise InputError(
            "formulation.assay_percent", None, "is missing; content cannot be estimated"
        )
    return float(formulation["loading_percent_w_w"]) / 100.0 * float(assay) / 100.0


def target_unit_mass_mg(dose_mg: float, formulation: Mapping[str, Any]) -> float:
    """The mass (mg) of printed material that holds `dose_mg` of drug."""
    return dose_mg / drug_fraction(formulation)


def _number(field: str, text: str, reason: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(field, text, reason) from None


def unit_weights(typed: Sequence[str], *, in_plate_order: bool = False) -> list[float]:
    """The masses (mg) typed one per unit, unit 1 first, blanks skipped; a decimal comma is read
    as a point. The first that is not a positive mass is refused naming its unit (`unit 3`).

    in_plate_order: each weight must stay at its unit's place (a schedule, whose steps are
    judged against their own doses by place), so a blank before a typed unit is refused."""
    weights = []
    filled = [n for n, raw in enumerate(typed, start=1) if raw.strip()]
    for number, raw in enumerate(typed, start=1):
        text = raw.strip().replace(",", ".")
        if not text:
            if in_plate_order and filled and number < filled[-1]:
                raise InputError(
                    f"unit {number}",
                    "",
                    f"is blank but unit {filled[-1]} is weighed: a schedule's units are "
                    "weighed in plate order, each step against its own dose",
                )
            continue
        value = _number(f"unit {number}", text, "is not a mass in mg")
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"unit {number}", text, "is not a positive mass in mg")
        weights.append(value)
    return weights


def parse_weights(text: str) -> list[float]:
    """`101.2,99.8,…` (mg) as numbers; each must be a positive finite mass."""
    weights = []
    for index, part in enumerate(text.replace(";", ",").split(",")):
        part = part.strip()
        if not part:
            continue
        weights.append(_number(f"weights[{index}]", part, "is not a number (mg)"))
    return weights


def assess(
    weights_mg: Sequence[float], *, dose_mg: float, formulation: Mapping[str, Any], units: int
) -> dict[str, Any]:
    """QC of one batch (or one schedule step) from its unit weights (mg, one per unit, in
    unit order), every unit holding `dose_mg`.

    Returns the estimated content of each unit (mg and % of `dose_mg`), the mass uniformity
    (2.9.5, all units; its 20-unit sample marked by `sample_size_ok`), the acceptance value
    (2.9.40 with k = 2.0 from 30 units, else 2.4) and `passed`, which needs both. Fewer than 10
    units are `reduced_sample`: the AV is still computed with k = 2.4, and every unit must also
    lie within 85–115 % of `dose_mg` (`unit_limits`), for the pharmacist to judge.
    """
    if not MIN_UNITS <= len(weights_mg) <= units:
        raise InputError("weights", len(weights_mg), f"units weighed; the batch has {units}")
    _check_masses(weights_mg)
    fraction = drug_fraction(formulation)
    contents_mg = [w * fraction for w in weights_mg]
    contents_percent = [c / dose_mg * 100.0 for c in contents_mg]
    mass = mass_uniformity(weights_mg)
    k = AV_K[30] if len(weights_mg) >= 30 else AV_K[10]
    av = acceptance_value(contents_percent, k=k)
    reduced = len(weights_mg) < AV_MIN_UNITS
    limits = _unit_limits(contents_percent) if reduced else None
    return {
        "units_weighed": len(weights_mg),
        "units_in_batch": units,
        "dose_mg": dose_mg,
        "drug_fraction": fraction,
        "target_unit_mass_mg": target_unit_mass_mg(dose_mg, formulation),
        "weights_mg": list(weights_mg),
        "contents_mg": contents_mg,
        "contents_percent": contents_percent,
        "mass_uniformity": mass.to_dict(),
        "acceptance_value": av.to_dict(),
        "reduced_sample": reduced,
        "unit_limits": limits,
        "passed": bool(mass.passed and av.passed and (limits is None or limits["passed"])),
    }


@dataclass(frozen=True)
class StepUnits:
    """One schedule step's units on the plate: its number (1 first), the dose each unit holds
    (mg, the gate's target) and how many units it has (consecutive, in plate order)."""

    step: int
    dose_mg: float
    units: int


def assess_steps(
    weights_mg: Sequence[float], *, steps: Sequence[StepUnits], formulation: Mapping[str, Any]
) -> dict[str, Any]:
    """QC of a schedule's batch: the weights (mg, in plate order, unit 1 first) are split into
    the steps' units and each step is assessed on its own against its own dose (`assess`:
    2.9.5 and 2.9.40 are tests of one strength; mixing 10 mg and 5 mg tablets would make a
    uniform batch look non-uniform). It passes only if every step passes; a step with fewer
    than two units weighed is not assessed and does not pass.

    The batch's own figures are the units' (weights, contents in % of each unit's own step
    dose); `dose_mg`, `target_unit_mass_mg`, `mass_uniformity` and `acceptance_value` are None
    there and given per step in `steps`.
    """
    units = sum(s.units for s in steps)
    if not MIN_UNITS <= len(weights_mg) <= units:
        raise InputError("weights", len(weights_mg), f"units weighed; the batch has {units}")
    _check_masses(weights_mg)
    fraction = drug_fraction(formulation)
    assessed: list[dict[str, Any]] = []
    first = 0
    for step in steps:
        weighed = list(weights_mg[first : first + step.units])
        where = {"step": step.step, "first_unit": first + 1, "last_unit": first + step.units}
        if len(weighed) >= MIN_UNITS:
            figures = assess(
                weighed, dose_mg=step.dose_mg, formulation=formulation, units=step.units
            )
        else:
            figures = _not_assessed(weighed, step, formulation)
        assessed.append(figures | where)
        first += step.units
    return {
        "units_weighed": len(weights_mg),
        "units_in_batch": units,
        "dose_mg": None,
        "drug_fraction": fraction,
        "target_unit_mass_mg": None,
        "weights_mg": list(weights_mg),
        "contents_mg": [c for s in assessed for c in s["contents_mg"]],
        "contents_percent": [c for s in assessed for c in s["contents_percent"]],
        "mass_uniformity": None,
        "acceptance_value": None,
        "reduced_sample": any(s["reduced_sample"] for s in assessed),
        "unit_limits": None,
        "passed": all(s["passed"] for s in assessed),
        "steps": assessed,
    }


def _not_assessed(
    weighed: list[float], step: StepUnits, formulation: Mapping[str, Any]
) -> dict[str, Any]:
    fraction = drug_fraction(formulation)
    contents_mg = [w * fraction for w in weighed]
    return {
        "units_weighed": len(weighed),
        "units_in_batch": step.units,
        "dose_mg": step.dose_mg,
        "drug_fraction": fraction,
        "target_unit_mass_mg": target_unit_mass_mg(step.dose_mg, formulation),
        "weights_mg": weighed,
        "contents_mg": contents_mg,
        "contents_percent": [c / step.dose_mg * 100.0 for c in contents_mg],
        "mass_uniformity": None,
        "acceptance_value": None,
        "reduced_sample": True,
        "unit_limits": None,
        "passed": False,
    }


def _unit_limits(contents_percent: Sequence[float]) -> dict[str, Any]:
    low, high = 100.0 - UNIT_LIMIT_PERCENT, 100.0 + UNIT_LIMIT_PERCENT
    outside = sum(1 for c in contents_percent if not low <= c <= high)
    return {"low_percent": low, "high_percent": high, "outside": outside, "passed": outside == 0}


def _check_masses(weights_mg: Sequence[float]) -> None:
    for index, weight in enumerate(weights_mg):
        if not math.isfinite(weight) or weight <= 0:
            raise InputError(f"weights[{index}]", weight, "is not a positive mass in mg")


def qc_parts(qc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The assessments a QC is made of, each with a heading: one for a batch of one dose
    (heading ""), one per step for a schedule (`step 2 (7.5 mg, units 15–28)`)."""
    steps = qc.get("steps")
    if not steps:
        return [("", qc)]
    return [
        (
            f"step {s['step']} ({s['dose_mg']:g} mg, units {s['first_unit']}–{s['last_unit']})",
            s,
        )
        for s in steps
    ]


def qc_lines(qc: Mapping[str, Any]) -> list[str]:
    """The QC in plain lines (CLI and records): per step for a schedule, then the verdict."""
    lines = []
    for heading, part in qc_parts(qc):
        prefix = f"{heading}: " if heading else ""
        mass, av = part.get("mass_uniformity"), part.get("acceptance_value")
        if mass is None or av is None:
            lines.append(
                f"{prefix}{part['units_weighed']} of {part['units_in_batch']} units weighed: "
                "too few to assess, FAIL"
            )
            continue
        lines.append(
            f"{prefix}{part['units_weighed']} of {part['units_in_batch']} units, target "
            f"{part['target_unit_mass_mg']:.2f} mg; mass uniformity (Ph. Eur. 2.9.5): mean "
            f"{mass['mean_mg']:.2f} mg, limit ±{mass['limit_percent']:g} %, "
            f"{mass['outside_limit']} outside, {'pass' if mass['passed'] else 'FAIL'}; "
            f"acceptance value (2.9.40): {av['value']:.2f} (k {av['k']}, mean "
            f"{av['mean_percent']:.1f} % of label), {'pass' if av['passed'] else 'FAIL'}"
        )
        limits = part.get("unit_limits")
        if limits:
            lines.append(
                f"{prefix}fewer than 10 units: every unit within {limits['low_percent']:g}–"
                f"{limits['high_percent']:g} % of its dose, {limits['outside']} outside, "
                f"{'pass' if limits['passed'] else 'FAIL'}"
            )
    scope = " (every step)" if qc.get("steps") else ""
    lines.append(f"QC {'PASSED' if qc['passed'] else 'FAILED'}{scope}")
    return lines
