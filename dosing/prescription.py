"""The prescription as the pharmacy receives it: the native JSON form, validated.

Field names are those of the API and the web form; every refusal names the field and the value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dosing.errors import MISSING, InvalidPrescription, Marker

DoseUnit = Literal["mg", "mg/kg", "mg/m2"]
ShapeName = Literal["round", "caplet", "ring", "minitablet"]
BsaFormula = Literal["mosteller", "dubois", "haycock"]

MAX_WEIGHT_KG = 350.0
MAX_HEIGHT_CM = 250.0

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class Patient(BaseModel):
    model_config = _STRICT

    id: str = Field(min_length=1, max_length=64)
    weight_kg: float = Field(gt=0, le=MAX_WEIGHT_KG)
    height_cm: float | None = Field(default=None, gt=0, le=MAX_HEIGHT_CM)
    age_years: float | None = Field(default=None, ge=0, le=130)


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
    model_config = _STRICT

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    patient: Patient
    drug: Drug
    dose: DoseOrder
    max_single_dose_mg: float | None = Field(default=None, gt=0, le=10_000)
    frequency_per_day: int = Field(ge=1, le=24)
    units: int = Field(ge=1, le=200)
    formulation: str = Field(min_length=1, max_length=64)
    shape: ShapeName
    bsa_formula: BsaFormula = "mosteller"


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
    return InvalidPrescription(field, error["input"], f"is invalid ({error['msg']})")
