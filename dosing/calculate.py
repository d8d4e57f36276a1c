"""From a prescription to the dose in mg per administration, with every step recorded.

Rules: mg, mg/kg or mg/m² (BSA by the chosen formula), capped at the single-dose maximum,
rounded to the lot's dose step; a rounding more than 5 % from the calculation is refused.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from dosing.bsa import BSA_FORMULAS
from dosing.errors import MISSING, DoseOutOfRange, InvalidPrescription
from dosing.formulation import Formulation
from dosing.prescription import Prescription

ROUNDING_TOLERANCE = 0.05


@dataclass(frozen=True)
class TrailStep:
    """One step of the calculation: what was computed, how, from what, and the result."""

    step: str
    formula: str
    inputs: dict[str, Any]
    result: float
    unit: str


@dataclass(frozen=True)
class Dose:
    """The dose of one administration, as it will be printed, and how it was reached."""

    prescription_id: str
    drug_name: str
    formulation_id: str
    calculated_mg: float
    dose_mg: float
    rounding_difference_mg: float
    capped: bool
    doses: int
    frequency_per_day: int
    trail: tuple[TrailStep, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calculate(rx: Prescription, formulation: Formulation, on: dt.date | None = None) -> Dose:
    """The dose for `rx` printed from `formulation`, checked for use on `on` (default today)."""
    formulation.check_carries(rx.drug.name, rx.drug.code)
    formulation.check_usable(on or dt.date.today())
    trail: list[TrailStep] = []
    calculated = _basis(rx, trail)

    capped = False
    cap = rx.max_single_dose_mg
    if cap is not None and calculated > cap:
        if rx.dose.unit == "mg":
            raise DoseOutOfRange(
                "dose.value", rx.dose.value, f"mg is above max_single_dose_mg {cap:g}"
            )
        trail.append(
            TrailStep(
                "cap",
                "min(dose_mg, max_single_dose_mg)",
                {"dose_mg": calculated, "max_single_dose_mg": cap},
                cap,
                "mg",
            )
        )
        calculated, capped = cap, True

    rounded = _round_to_step(calculated, formulation.dose_step_mg, cap)
    if rounded <= 0:
        raise DoseOutOfRange(
            "dose",
            round(calculated, 4),
            f"mg rounds to 0 mg with the lot's step of {formulation.dose_step_mg:g} mg",
        )
    deviation = abs(rounded - calculated) / calculated
    if deviation > ROUNDING_TOLERANCE:
        raise DoseOutOfRange(
            "dose",
            round(calculated, 4),
            f"mg rounds to {rounded:g} mg with the lot's step of {formulation.dose_step_mg:g} mg, "
            f"{deviation:.1%} away; more than {ROUNDING_TOLERANCE:.0%} is refused",
        )
    trail.append(
        TrailStep(
            "round to dose step",
            "round_half_up(dose_mg / step_mg) * step_mg, not above the cap",
            {"dose_mg": calculated, "step_mg": formulation.dose_step_mg, "cap_mg": cap},
            rounded,
            "mg",
        )
    )
    return Dose(
        prescription_id=rx.id,
        drug_name=rx.drug.name,
        formulation_id=formulation.id,
        calculated_mg=calculated,
        dose_mg=rounded,
        rounding_difference_mg=rounded - calculated,
        capped=capped,
        doses=rx.units,
        frequency_per_day=rx.frequency_per_day,
        trail=tuple(trail),
    )


def _basis(rx: Prescription, trail: list[TrailStep]) -> float:
    value, unit, patient = rx.dose.value, rx.dose.unit, rx.patient
    if unit == "mg":
        trail.append(TrailStep("fixed dose", "dose.value", {"dose.value": value}, value, "mg"))
        return value
    if unit == "mg/kg":
        dose = value * patient.weight_kg
        trail.append(
            TrailStep(
                "weight-based dose",
                "dose.value * weight_kg",
                {"dose.value": value, "weight_kg": patient.weight_kg},
                dose,
                "mg",
            )
        )
        return dose
    if patient.height_cm is None:
        raise InvalidPrescription("patient.height_cm", MISSING, "is required for a dose in mg/m2")
    function, formula = BSA_FORMULAS[rx.bsa_formula]
    bsa = function(patient.height_cm, patient.weight_kg)
    trail.append(
        TrailStep(
            f"body surface area ({rx.bsa_formula})",
            formula,
            {"height_cm": patient.height_cm, "weight_kg": patient.weight_kg},
            bsa,
            "m2",
        )
    )
    dose = value * bsa
    trail.append(
        TrailStep(
            "surface-based dose",
            "dose.value * bsa_m2",
            {"dose.value": value, "bsa_m2": bsa},
            dose,
            "mg",
        )
    )
    return dose


def _round_to_step(dose_mg: float, step_mg: float, cap_mg: float | None) -> float:
    """Nearest multiple of the step (halves up), never above the cap; decimal to avoid 0.1+0.2."""
    if not math.isfinite(dose_mg):
        raise DoseOutOfRange("dose", dose_mg, "is not a finite number")
    step = Decimal(repr(step_mg))
    steps = (Decimal(repr(dose_mg)) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    rounded = steps * step
    if cap_mg is not None and rounded > Decimal(repr(cap_mg)):
        rounded = (Decimal(repr(cap_mg)) / step).quantize(Decimal(1), rounding=ROUND_FLOOR) * step
    return float(rounded)
