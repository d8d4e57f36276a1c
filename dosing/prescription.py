"""The prescription as the pharmacy receives it: the native JSON form, validated.

Field names are those of the API and the web form; every refusal names the field and the value.
A body measurement may come as a number already in kg / cm (typed at the form) or as the
measurement as recorded (`patient.weight`, `patient.height`: value, UCUM unit, status, whose,
when, from where), converted here with exact factors; `printmed.intake` questions the record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dosing.errors import MISSING, InvalidPrescription, Marker

DoseUnit = Literal["mg", "mg/kg", "mg/m2"]
ShapeName = Literal["round", "caplet", "ring", "minitablet"]
BsaFormula = Literal["mosteller", "dubois", "haycock"]
WeightUnit = Literal["kg", "g", "[lb_av]"]
HeightUnit = Literal["cm", "m", "[in_i]"]

MAX_WEIGHT_KG = 350.0
MAX_HEIGHT_CM = 250.0
# Exact by definition (international yard and pound agreement, 1959).
KG_PER_UNIT: dict[str, Decimal] = {
    "kg": Decimal(1),
    "g": Decimal("0.001"),
    "[lb_av]": Decimal("0.45359237"),
}
CM_PER_UNIT: dict[str, Decimal] = {"cm": Decimal(1), "m": Decimal(100), "[in_i]": Decimal("2.54")}

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def converted(value: float, unit: str, factors: dict[str, Decimal]) -> float:
    """`value` `unit` in the table's base unit: one exact decimal product, then one rounding."""
    return float(Decimal(repr(value)) * factors[unit])


class Measurement(BaseModel):
    """A body measurement as it was recorded, kept as written for the dose trail.

    status: the record's FHIR Observation status; subject: the patient it was recorded for;
    effective: when it was measured (timezone-aware); source: where it came from (an
    Observation reference, a chart entry).
    """

    model_config = _STRICT

    value: float = Field(gt=0, le=1_000_000)  # 350 kg in g; the converted value has its limits
    unit: str = Field(min_length=1, max_length=16)
    status: str = Field(min_length=1, max_length=32)
    subject: str = Field(min_length=1, max_length=200)
    effective: dt.datetime = Field(strict=False)
    source: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _aware(self) -> Measurement:
        if self.effective.tzinfo is None:
            raise ValueError("effective needs a timezone (e.g. 2026-11-24T09:30:00Z)")
        return self

    def trail_inputs(self) -> dict[str, Any]:
        """The record as the trail keeps it: the original quantity, its date, status and source."""
        return {
            "value": self.value,
            "unit": self.unit,
            "effective": self.effective.isoformat(),
            "status": self.status,
            "subject": self.subject,
            "source": self.source,
        }


class WeightMeasurement(Measurement):
    unit: WeightUnit


class HeightMeasurement(Measurement):
    unit: HeightUnit


class Patient(BaseModel):
    model_config = _STRICT

    id: str = Field(min_length=1, max_length=64)
    # the measurements as recorded come first: a bad one is the refusal named, not weight_kg
    weight: WeightMeasurement | None = None
    height: HeightMeasurement | None = None
    weight_kg: float = Field(gt=0, le=MAX_WEIGHT_KG)
    height_cm: float | None = Field(default=None, gt=0, le=MAX_HEIGHT_CM)
    age_years: float | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="before")
    @classmethod
    def _from_measurements(cls, data: Any) -> Any:
        """weight_kg / height_cm from the recorded measurement when only that was given."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, target, factors in (
            ("weight", "weight_kg", KG_PER_UNIT),
            ("height", "height_cm", CM_PER_UNIT),
        ):
            record = filled.get(name)
            # an explicit null is no value: the recorded measurement gives it
            if filled.get(target) is not None or not isinstance(record, dict):
                continue
            value, unit = record.get("value"), record.get("unit")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # the measurement's own validation names what is wrong
            if isinstance(unit, str) and unit in factors and 0 < value < float("inf"):
                filled[target] = converted(float(value), unit, factors)
        return filled

    @model_validator(mode="after")
    def _consistent(self) -> Patient:
        pairs = (
            (self.weight, self.weight_kg, KG_PER_UNIT, "weight_kg"),
            (self.height, self.height_cm, CM_PER_UNIT, "height_cm"),
        )
        for record, number, factors, name in pairs:
            if record is None:
                continue
            expected = converted(record.value, record.unit, factors)
            if number is None:
                raise ValueError(f"{name} is missing beside the recorded {name.split('_')[0]}")
            if number != expected:
                raise ValueError(
                    f"{name} {number:g} is not the recorded {record.value:g} {record.unit} "
                    f"({expected:g}); give one or the other"
                )
        return self


class Drug(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    code: str | None = Field(default=None, min_length=1, max_length=32)


class DoseOrder(BaseModel):
    """The dose as prescribed: a value in mg, or per kg body weight, or per m² body surface."""

    model_config = _STRICT

    value: float = Field(gt=0, le=10_000)
    unit: DoseUnit


class Prescription(BaseModel):
    """One dose, given `frequency_per_day` times a day, `units` doses supplied.

    max_single_dose_mg / max_daily_dose_mg: the prescriber's maxima (FHIR
    maxDosePerAdministration / maxDosePerPeriod per 1 d); rounding never crosses them.
    authored_at: when the order was written; body measurements are judged recent against it.
    """

    model_config = _STRICT

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    patient: Patient
    drug: Drug
    dose: DoseOrder
    max_single_dose_mg: float | None = Field(default=None, gt=0, le=10_000)
    max_daily_dose_mg: float | None = Field(default=None, gt=0, le=100_000)
    frequency_per_day: int = Field(ge=1, le=24)
    units: int = Field(ge=1, le=200)
    formulation: str = Field(min_length=1, max_length=64)
    shape: ShapeName
    bsa_formula: BsaFormula = "mosteller"
    authored_at: dt.datetime | None = Field(default=None, strict=False)

    @model_validator(mode="after")
    def _aware(self) -> Prescription:
        if self.authored_at is not None and self.authored_at.tzinfo is None:
            raise ValueError("authored_at needs a timezone (e.g. 2026-11-24T10:00:00Z)")
        return self


def parse_prescription(data: Any) -> Prescription:
    """Validate the native JSON form (already decoded) into a Prescription.

    Raises InvalidPrescription naming the first offending field, e.g.
    `patient.weight_kg: 400 is invalid (Input should be less than or equal to 350)`.
    """
    if not isinstance(data, dict):
        raise InvalidPrescription(
            "prescription", Marker(type(data).__name__), "is not a JSON object"
        )
    try:
        return Prescription.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc) from None


def invalid_from_validation(exc: ValidationError) -> InvalidPrescription:
    """The first pydantic error as one InvalidPrescription line."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or "prescription"
    if error["type"] == "missing":
        return InvalidPrescription(field, MISSING, "is required")
    if error["type"] == "extra_forbidden":
        return InvalidPrescription(field, error["input"], "is not a field of a prescription")
    if error["type"] == "value_error":
        return InvalidPrescription(
            field, Marker("(as given)"), str(error["msg"]).removeprefix("Value error, ")
        )
    return InvalidPrescription(field, error["input"], f"is invalid ({error['msg']})")
