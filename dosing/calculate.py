"""From a prescription to the dose in mg per administration, with every step recorded.

Rules: mg, mg/kg or mg/m² (BSA by the chosen formula), capped at the prescribed maxima, held
under the drug's formulary limits, rounded to the lot's dose step but never above a maximum
(rounded down instead); a rounding more than 5 % from the calculation is refused.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from dosing.bsa import BSA_FORMULAS
from dosing.errors import MISSING, DoseOutOfRange, DosingError, InvalidPrescription, Marker
from dosing.formulation import DrugLimits, Formulation
from dosing.prescription import CM_PER_UNIT, KG_PER_UNIT, Measurement, Prescription

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
    """The dose for `rx` printed from `formulation`, checked for use on `on` (default today).

    Refused (DoseOutOfRange naming the limit): a fixed dose above a prescribed maximum; any dose
    above the drug's formulary limits (per kg and absolute, per dose and per day); a rounding
    more than 5 % from the calculation, including a rounding down forced by a maximum. A
    schedule is refused here: its steps are dosed one by one (`calculate_schedule`), never as
    its first step's dose for the whole supply.
    """
    if rx.schedule is not None:
        raise InvalidPrescription(
            "schedule",
            Marker(f"{len(rx.schedule)} steps"),
            "are dosed step by step (calculate_schedule), not as one dose",
        )
    formulation.check_carries(rx.drug.name, rx.drug.code)
    formulation.check_usable(on or dt.date.today())
    limits = formulation.limits()
    trail: list[TrailStep] = []
    calculated, capped = _capped(rx, _basis(rx, trail), trail)
    formulary = _formulary_maxima(limits, rx)
    for limit in formulary:
        if _exact(calculated) > limit.mg:
            raise DoseOutOfRange(
                "dose",
                round(calculated, 4),
                f"mg is above {limits.drug_name}'s {limit.field} of {limit.value:g}{limit.per}"
                f" (at most {float(limit.mg):.4g} mg a dose here; the drug's limits on file)",
            )
    rounded = _rounded(
        calculated, formulation.dose_step_mg, [*_prescribed_maxima(rx), *formulary], trail
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


@dataclass(frozen=True)
class StepDose:
    """One step of a schedule dosed: which step (1 is the first taken), its days of the course
    (first_day 1 is the first day), and its Dose (own trail; `doses` are this step's)."""

    step: int
    first_day: int
    days: int
    dose: Dose

    @property
    def last_day(self) -> int:
        return self.first_day + self.days - 1

    def to_dict(self) -> dict[str, Any]:
        return self.dose.to_dict() | {
            "step": self.step,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "days": self.days,
        }


def calculate_schedule(
    rx: Prescription, formulation: Formulation, on: dt.date | None = None
) -> list[StepDose]:
    """Each step of `rx`'s schedule dosed as its own prescription (`calculate`: its maxima and
    the drug's limits per dose and per day apply to it), or one step for an order without one.

    A step that cannot be dosed refuses the whole order naming the step: its field
    (`schedule[2].dose`), or, for a rule of the whole order, the step in the reason.
    """
    dosed, first_day = [], 1
    for index, step in enumerate(rx.steps()):
        days = rx.schedule[index].days if rx.schedule else -(-rx.units // rx.frequency_per_day)
        try:
            dose = calculate(step, formulation, on=on)
        except DosingError as exc:
            if rx.schedule is None:
                raise
            raise _in_step(exc, rx, index) from None
        if rx.schedule is not None:
            dose = replace(dose, trail=(_step_trail(rx, index, first_day), *dose.trail))
        dosed.append(StepDose(index + 1, first_day, days, dose))
        first_day += days
    return dosed


def _step_trail(rx: Prescription, index: int, first_day: int) -> TrailStep:
    assert rx.schedule is not None
    step = rx.schedule[index]
    return TrailStep(
        f"schedule step {index + 1} of {len(rx.schedule)}",
        "frequency_per_day * days",
        {
            "dose.value": step.dose.value,
            "dose.unit": step.dose.unit,
            "frequency_per_day": step.frequency_per_day,
            "days": step.days,
            "first_day": first_day,
            "last_day": first_day + step.days - 1,
        },
        float(step.doses),
        "doses",
    )


def _in_step(exc: DosingError, rx: Prescription, index: int) -> DosingError:
    """The refusal of one step named as the order's: `schedule[i].<field>` for what the step
    carries (its dose, frequency, its own maxima), the order's field otherwise."""
    assert rx.schedule is not None
    step = rx.schedule[index]
    own = {"dose", "frequency_per_day"} | {
        name for name in ("max_single_dose_mg", "max_daily_dose_mg") if getattr(step, name)
    }
    if exc.field.split(".")[0] in own:
        return type(exc)(f"schedule[{index}].{exc.field}", exc.value, exc.reason)
    where = f"(schedule[{index}], step {index + 1}: {step.dose.value:g} {step.dose.unit})"
    return type(exc)(exc.field, exc.value, f"{exc.reason} {where}")


def _capped(rx: Prescription, calculated: float, trail: list[TrailStep]) -> tuple[float, bool]:
    """The dose within the prescribed maxima: a weight- or surface-based dose is capped at them
    ("8 mg/kg, max 300 mg"); a fixed dose above one is refused."""
    capped = False
    for limit in _prescribed_maxima(rx):
        if _exact(calculated) <= limit.mg:
            continue
        if rx.dose.unit == "mg":
            raise DoseOutOfRange(
                "dose.value",
                rx.dose.value,
                f"{_per(limit, rx.frequency_per_day)} is above {limit.field} {limit.value:g}",
            )
        trail.append(
            TrailStep(
                "cap",
                f"min(dose_mg, {limit.formula})",
                {"dose_mg": calculated, limit.field: limit.value},
                float(limit.mg),
                "mg",
            )
        )
        calculated, capped = float(limit.mg), True
    return calculated, capped


def _rounded(
    calculated: float, step_mg: float, maxima: list[Maximum], trail: list[TrailStep]
) -> float:
    """The dose on the lot's step and never above a maximum (rounded down when the nearest step
    is above one), within 5 % of the calculation or refused naming what forbade it."""
    rounded, ceiling = _round_within(calculated, step_mg, maxima)
    if rounded <= 0:
        raise DoseOutOfRange(
            "dose",
            round(calculated, 4),
            f"mg rounds to 0 mg with the lot's step of {step_mg:g} mg",
        )
    deviation = abs(rounded - calculated) / calculated
    if deviation > ROUNDING_TOLERANCE:
        if ceiling is not None:
            raise DoseOutOfRange(
                ceiling.field,
                ceiling.value,
                f"{ceiling.per.strip()} allows at most {float(ceiling.mg):.4g} mg a dose: "
                f"{calculated:.4g} mg rounds down to {rounded:g} mg with the lot's step of "
                f"{step_mg:g} mg, {deviation:.1%} away; more than {ROUNDING_TOLERANCE:.0%} "
                "is refused",
            )
        raise DoseOutOfRange(
            "dose",
            round(calculated, 4),
            f"mg rounds to {rounded:g} mg with the lot's step of {step_mg:g} mg, "
            f"{deviation:.1%} away; more than {ROUNDING_TOLERANCE:.0%} is refused",
        )
    inputs: dict[str, Any] = {"dose_mg": calculated, "step_mg": step_mg}
    inputs |= {limit.field: limit.value for limit in maxima}
    if maxima:
        inputs["most_allowed_mg"] = float(min(limit.mg for limit in maxima))
    if ceiling is None:
        step = TrailStep(
            "round to dose step",
            "round_half_up(dose_mg / step_mg) * step_mg",
            inputs,
            rounded,
            "mg",
        )
    else:
        step = TrailStep(
            f"round down to stay within {ceiling.field}",
            f"floor({ceiling.formula} / step_mg) * step_mg (the nearest step, "
            f"{_nearest(calculated, step_mg):g} mg, is above it)",
            inputs,
            rounded,
            "mg",
        )
    trail.append(step)
    # the rounding above never crosses a maximum; this says so where the dose is returned
    for limit in maxima:
        if _exact(rounded) > limit.mg:
            raise DoseOutOfRange(
                limit.field, limit.value, f"{limit.per.strip()} is crossed by {rounded:g} mg"
            )
    return rounded


@dataclass(frozen=True)
class Maximum:
    """A limit on the dose as mg per administration.

    field: the limit's name (prescription field or drug-limit name); value: as written, in
    `per` units; mg: what it allows for one dose of this patient and frequency; formula: how.
    """

    field: str
    value: float
    per: str
    mg: Decimal
    formula: str


def _prescribed_maxima(rx: Prescription) -> list[Maximum]:
    maxima = []
    if rx.max_single_dose_mg is not None:
        maxima.append(
            Maximum(
                "max_single_dose_mg",
                rx.max_single_dose_mg,
                " mg a dose",
                _exact(rx.max_single_dose_mg),
                "max_single_dose_mg",
            )
        )
    if rx.max_daily_dose_mg is not None:
        maxima.append(
            Maximum(
                "max_daily_dose_mg",
                rx.max_daily_dose_mg,
                " mg a day",
                _exact(rx.max_daily_dose_mg) / rx.frequency_per_day,
                "max_daily_dose_mg / frequency_per_day",
            )
        )
    return maxima


def _formulary_maxima(limits: DrugLimits, rx: Prescription) -> list[Maximum]:
    weight, per_day = rx.patient.weight_kg, rx.frequency_per_day
    return [
        Maximum(
            "max_mg_per_kg_per_dose",
            limits.max_mg_per_kg_per_dose,
            " mg/kg a dose",
            _exact(limits.max_mg_per_kg_per_dose) * _exact(weight),
            "max_mg_per_kg_per_dose * weight_kg",
        ),
        Maximum(
            "max_mg_per_kg_per_day",
            limits.max_mg_per_kg_per_day,
            " mg/kg a day",
            _exact(limits.max_mg_per_kg_per_day) * _exact(weight) / per_day,
            "max_mg_per_kg_per_day * weight_kg / frequency_per_day",
        ),
        Maximum(
            "max_mg_per_dose",
            limits.max_mg_per_dose,
            " mg a dose",
            _exact(limits.max_mg_per_dose),
            "max_mg_per_dose",
        ),
        Maximum(
            "max_mg_per_day",
            limits.max_mg_per_day,
            " mg a day",
            _exact(limits.max_mg_per_day) / per_day,
            "max_mg_per_day / frequency_per_day",
        ),
    ]


def _per(limit: Maximum, frequency_per_day: int) -> str:
    return "mg" if "dose" in limit.per else f"mg × {frequency_per_day} a day"


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def _nearest(dose_mg: float, step_mg: float) -> Decimal:
    """Nearest multiple of the step, halves up; decimal, so 0.1 + 0.2 stays 0.3."""
    if not math.isfinite(dose_mg):
        raise DoseOutOfRange("dose", dose_mg, "is not a finite number")
    step = _exact(step_mg)
    return (_exact(dose_mg) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def _round_within(
    dose_mg: float, step_mg: float, maxima: list[Maximum]
) -> tuple[float, Maximum | None]:
    """The dose rounded to the lot's step, never above a maximum: the nearest step, or when
    that is above the lowest maximum, the step just under it (and that maximum)."""
    nearest = _nearest(dose_mg, step_mg)
    lowest = min(maxima, key=lambda limit: limit.mg, default=None)
    if lowest is None or nearest <= lowest.mg:
        return float(nearest), None
    step = _exact(step_mg)
    below = (lowest.mg / step).to_integral_value(rounding=ROUND_FLOOR) * step
    return float(below), lowest


def _recorded(
    what: str, record: Measurement, result: float, unit: str, factors: dict[str, Decimal]
) -> TrailStep:
    """A recorded body measurement as the trail keeps it: as written, whose, when, from where."""
    factor = factors[record.unit]
    formula = "value" if factor == 1 else f"value * {factor} {unit}/{record.unit} (exact)"
    return TrailStep(
        f"{what} as recorded",
        formula,
        record.trail_inputs(),
        result,
        unit,
    )


def _basis(rx: Prescription, trail: list[TrailStep]) -> float:
    value, unit, patient = rx.dose.value, rx.dose.unit, rx.patient
    if patient.weight is not None:  # used for every dose: the per-kg limits need it
        trail.append(_recorded("body weight", patient.weight, patient.weight_kg, "kg", KG_PER_UNIT))
    if unit == "mg":
        trail.append(TrailStep("fixed dose", "dose.value", {"dose.value": value}, value, "mg"))
        return value
    if unit == "mg/kg":
        dose = float(_exact(value) * _exact(patient.weight_kg))  # 0.3 × 10.5 is 3.15
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
    if patient.height is not None:
        trail.append(_recorded("body height", patient.height, patient.height_cm, "cm", CM_PER_UNIT))
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
