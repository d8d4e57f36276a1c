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
# "mesh": a tablet of a shape given as a mesh (bundled by name, or uploaded by SHA-256)
ShapeName = Literal["round", "caplet", "ring", "minitablet", "mesh"]
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


class ScheduleStep(BaseModel):
    """One step of a course whose dose changes (a taper, a titration): this dose,
    `frequency_per_day` times a day, for `days` days; its own maxima, when the prescriber set
    them for this step (else the order's)."""

    model_config = _STRICT

    dose: DoseOrder
    frequency_per_day: int = Field(ge=1, le=24)
    days: int = Field(ge=1, le=366)
    max_single_dose_mg: float | None = Field(default=None, gt=0, le=10_000)
    max_daily_dose_mg: float | None = Field(default=None, gt=0, le=100_000)

    @property
    def doses(self) -> int:
        return self.frequency_per_day * self.days


MAX_SCHEDULE_STEPS = 12
WordsKind = Literal["dosage", "patient"]
MAX_WORDS_CHARS = 1000


class PrescriberWords(BaseModel):
    """Words the prescriber wrote beside the structured order, kept as written for the
    pharmacist who screens it; they change neither the dose nor the tablet.

    kind: "dosage" (FHIR dosageInstruction.text: the dose in words) or "patient"
    (patientInstruction: what the patient is told); step: the schedule step they belong to
    (1-based), None for the whole order.
    """

    model_config = _STRICT

    kind: WordsKind
    text: str = Field(min_length=1, max_length=MAX_WORDS_CHARS)
    step: int | None = Field(default=None, ge=1, le=MAX_SCHEDULE_STEPS)


class MeshChoice(BaseModel):
    """The mesh of a `"shape": "mesh"` tablet: a bundled shape's `name` (fixtures/meshes/
    shapes.json, e.g. "star") or an uploaded file's `sha256` (POST /api/v1/meshes); one of them."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one(self) -> MeshChoice:
        if (self.name is None) == (self.sha256 is None):
            raise ValueError("give the bundled shape's name or the uploaded mesh's sha256")
        return self


class Prescription(BaseModel):
    """One dose, given `frequency_per_day` times a day, `units` doses supplied.

    schedule: a course whose dose changes, step by step in the order taken; `dose` and
    `frequency_per_day` are then its first step's and `units` the sum of its steps' doses
    (filled in when left out, refused naming the field when they disagree).

    max_single_dose_mg / max_daily_dose_mg: the prescriber's maxima (FHIR
    maxDosePerAdministration / maxDosePerPeriod per 1 d); rounding never crosses them.
    authored_at: when the order was written; body measurements are judged recent against it.
    indication: what the medicine is for, as the prescriber gave it (FHIR reasonCode), shown to
    the pharmacist who screens the order; it changes neither the dose nor the tablet.
    prescriber_words: what the prescriber wrote in words beside the structured dose (FHIR
    dosageInstruction.text and patientInstruction), shown to the screening pharmacist likewise.
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
    mesh: MeshChoice | None = None
    bsa_formula: BsaFormula = "mosteller"
    authored_at: dt.datetime | None = Field(default=None, strict=False)
    schedule: list[ScheduleStep] | None = Field(
        default=None, min_length=2, max_length=MAX_SCHEDULE_STEPS
    )
    indication: str | None = Field(default=None, min_length=1, max_length=200)
    prescriber_words: list[PrescriberWords] | None = Field(
        default=None, min_length=1, max_length=2 * MAX_SCHEDULE_STEPS
    )

    @model_validator(mode="before")
    @classmethod
    def _from_schedule(cls, data: Any) -> Any:
        """dose, frequency_per_day and units of a schedule from its steps when left out."""
        steps = data.get("schedule") if isinstance(data, dict) else None
        if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
            return data  # the schedule's own validation names what is wrong
        filled = dict(data)
        filled.setdefault("dose", steps[0].get("dose"))
        filled.setdefault("frequency_per_day", steps[0].get("frequency_per_day"))
        counts = [s.get("frequency_per_day") for s in steps] + [s.get("days") for s in steps]
        if all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
            filled.setdefault("units", sum(s["frequency_per_day"] * s["days"] for s in steps))
        return filled

    @model_validator(mode="after")
    def _mesh_named(self) -> Prescription:
        if (self.shape == "mesh") != (self.mesh is not None):
            raise ValueError('a mesh is given with "shape": "mesh" and only then')
        return self

    @model_validator(mode="after")
    def _aware(self) -> Prescription:
        if self.authored_at is not None and self.authored_at.tzinfo is None:
            raise ValueError("authored_at needs a timezone (e.g. 2026-11-24T10:00:00Z)")
        return self

    @model_validator(mode="after")
    def _words_of_steps(self) -> Prescription:
        """Words said of a step belong to a step of the schedule."""
        steps = len(self.schedule or [])
        for index, words in enumerate(self.prescriber_words or []):
            if words.step is not None and words.step > steps:
                raise InvalidPrescription(
                    f"prescriber_words[{index}].step",
                    words.step,
                    f"is not a step of the schedule ({steps} steps)"
                    if steps
                    else "is given, but the order has no schedule",
                )
        return self

    @model_validator(mode="after")
    def _schedule_agrees(self) -> Prescription:
        """dose, frequency_per_day and units, when given beside a schedule, are its own."""
        if self.schedule is not None:
            first, total = self.schedule[0], sum(step.doses for step in self.schedule)
            for name, given, expected in (
                ("dose", self.dose, first.dose),
                ("frequency_per_day", self.frequency_per_day, first.frequency_per_day),
                ("units", self.units, total),
            ):
                if given != expected:
                    shown = given.model_dump() if isinstance(given, BaseModel) else given
                    whose = f"{total} doses in all" if name == "units" else "first step"
                    raise InvalidPrescription(
                        name,
                        Marker(str(shown)),
                        f"disagrees with the schedule's {whose}: leave it out or give that",
                    )
        return self

    def steps(self) -> list[Prescription]:
        """The order as one prescription per step (itself when it has no schedule): the dose,
        frequency, supply and maxima of each, as dosed and designed one by one."""
        if self.schedule is None:
            return [self]
        return [
            self.model_copy(
                update={
                    "dose": step.dose,
                    "frequency_per_day": step.frequency_per_day,
                    "units": step.doses,
                    "max_single_dose_mg": step.max_single_dose_mg or self.max_single_dose_mg,
                    "max_daily_dose_mg": step.max_daily_dose_mg or self.max_daily_dose_mg,
                    "schedule": None,
                }
            )
            for step in self.schedule
        ]


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
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    field = field.removeprefix(".") or "prescription"  # schedule[1].dose.value
    if error["type"] == "missing":
        return InvalidPrescription(field, MISSING, "is required")
    if error["type"] == "extra_forbidden":
        return InvalidPrescription(field, error["input"], "is not a field of a prescription")
    cause = error.get("ctx", {}).get("error")
    if error["type"] == "value_error" and isinstance(cause, InvalidPrescription):
        # a rule that knows the field it is about names it (the schedule's agreement)
        inner = f"{field}.{cause.field}" if error["loc"] else cause.field
        return InvalidPrescription(inner, cause.value, cause.reason)
    if error["type"] == "value_error":
        return InvalidPrescription(
            field, Marker("(as given)"), str(error["msg"]).removeprefix("Value error, ")
        )
    return InvalidPrescription(field, error["input"], f"is invalid ({error['msg']})")
