"""The new-prescription form as an order: its fields, the typed text read into a Prescription,
and every problem with what was typed, by field, in the pharmacy's words.

A weight (and a height, when one is given) is typed with the date it was measured and where:
the form makes of them the measurement as recorded (`patient.weight`: value, unit, date,
status final, the patient, source "ward scales, entered by <user>"), so its recency for the
patient's age is questioned beside the field and the dose trail keeps the date and source.

The choices (dose units, shapes, body-surface formulas) are dosing's own, with labels here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError

from dosing.errors import MISSING, InvalidPrescription
from dosing.prescription import BsaFormula, DoseUnit, Prescription, ShapeName
from printmed import catalog
from printmed.errors import FieldRefusal
from printmed.intake.clinical import question


@dataclass(frozen=True)
class FormField:
    """One input: dotted name (as in the prescription JSON), label, hint, kind."""

    name: str
    label: str
    kind: str = "text"  # text, number, integer, date, select, file
    hint: str = ""
    required: bool = True
    step: str = "any"
    wide: bool = False

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


PATIENT_FIELDS = (
    FormField("patient.id", "Patient identifier", hint="Hospital number as on the chart"),
    FormField("patient.weight_kg", "Weight (kg)", "number", step="0.1"),
    FormField(
        "patient.weighed_on",
        "Weighed on",
        "date",
        "As on the chart: how recent it must be is set by the patient's age",
    ),
    FormField("patient.height_cm", "Height (cm)", "number", "Needed for a dose per m²", False, "1"),
    FormField("patient.height_measured_on", "Height measured on", "date", "With a height", False),
    FormField(
        "patient.measured_with",
        "Measured with",
        hint="Where, on what; left empty: ward scales. “Entered by” you is added",
        required=False,
    ),
    FormField("patient.age_years", "Age (years)", "number", required=False, step="0.1"),
)
ORDER_FIELDS = (
    FormField("id", "Prescription number", hint="As written on the prescription"),
    FormField("formulation", "Formulation lot", "select", "Lots in date with an assay", wide=True),
    FormField("drug.name", "Drug", hint="As prescribed; checked against the lot"),
    FormField("drug.code", "SNOMED CT / dm+d code", required=False),
    FormField("dose.value", "Dose", "number", step="any"),
    FormField("dose.unit", "Dose unit", "select"),
    FormField("max_single_dose_mg", "Maximum single dose (mg)", "number", required=False),
    FormField("max_daily_dose_mg", "Maximum daily dose (mg)", "number", required=False),
    FormField("bsa_formula", "Body-surface formula", "select", "For a dose per m²"),
    FormField("frequency_per_day", "Doses a day", "integer", step="1"),
    FormField("units", "Doses to supply", "integer", step="1"),
    FormField("shape", "Tablet shape", "select", wide=True),
    FormField(
        "mesh.file",
        "Your own shape (STL or 3MF)",
        "file",
        "Sent with the form, it becomes the tablet\u2019s shape (checked as the slicer would)",
        False,
        wide=True,
    ),
    FormField(
        "mesh.sha256",
        "Uploaded shape (SHA-256)",
        hint="Filled in by an upload",
        required=False,
        wide=True,
    ),
    FormField(
        "printer",
        "Printer",
        "select",
        "The model: it must print the lot's process; any of its printers in service takes it",
        wide=True,
    ),
    FormField(
        "printer_name",
        "Which machine",
        "select",
        "One registered printer of that model, in service at your site; left empty, any of them",
        required=False,
        wide=True,
    ),
)
FIELDS = PATIENT_FIELDS + ORDER_FIELDS
FIELD_NAMES = frozenset(field.name for field in FIELDS)
_BY_NAME = {field.name: field for field in FIELDS}
# refusals that name the whole of a part of the prescription: the field the message sits by
FIELD_ALIASES = {"dose": "dose.value", "drug": "drug.name", "patient": "patient.weight_kg"}


@dataclass(frozen=True)
class TypedMeasurement:
    """A measurement typed at the form: its number field, its date field, the record it makes
    (`patient.<record>`, in `unit`) and where it was taken when nobody says."""

    number: str
    date: str
    record: str
    unit: str
    place: str
    required: bool


MEASURED = (
    TypedMeasurement(
        "patient.weight_kg", "patient.weighed_on", "weight", "kg", "ward scales", True
    ),
    TypedMeasurement(
        "patient.height_cm",
        "patient.height_measured_on",
        "height",
        "cm",
        "ward height measure",
        False,
    ),
)
WHERE_MEASURED = "patient.measured_with"
MAX_PLACE_CHARS = 100
# what the form writes into a measurement's record, and the field each part was typed in
MEASUREMENT_ALIASES = {
    f"patient.{m.record}.{part}": field
    for m in MEASURED
    for part, field in (
        ("value", m.number),
        ("effective", m.date),
        ("source", WHERE_MEASURED),
        ("subject", "patient.id"),
        ("status", m.date),
        ("unit", m.number),
    )
}
FIELD_ALIASES |= MEASUREMENT_ALIASES
DATE_FIELDS = frozenset(m.date for m in MEASURED)
NOT_IN_PRESCRIPTION = frozenset(
    {"printer", "printer_name", "mesh.file", "mesh.sha256", WHERE_MEASURED} | DATE_FIELDS
)

_LABELS = {
    "mg": "mg (fixed dose)",
    "mg/kg": "mg per kg",
    "mg/m2": "mg per m²",
    "round": "Round",
    "caplet": "Caplet",
    "ring": "Ring",
    "minitablet": "Mini-tablets",
    "mosteller": "Mosteller",
    "dubois": "Du Bois",
    "haycock": "Haycock",
}


def _choices(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(value, label) for each value dosing accepts; a value new to dosing shows as itself."""
    return tuple((value, _LABELS.get(value, value)) for value in values)


DOSE_UNITS = _choices(get_args(DoseUnit))
SHAPES = _choices(tuple(s for s in get_args(ShapeName) if s != "mesh"))
MESH_PREFIX, UPLOADED = "mesh:", "mesh:upload"


@dataclass(frozen=True)
class ShapeChoice:
    """One tablet shape offered on the form: its value, label and picture (bundled meshes)."""

    value: str
    label: str
    picture: str | None = None  # URL of its PNG
    size_range_mm: tuple[float, float] | None = None


def shape_choices() -> list[ShapeChoice]:
    """The built-in shapes, the bundled child-friendly shapes (with pictures), an upload."""
    built_in = [ShapeChoice(value, label) for value, label in SHAPES]
    bundled = [
        ShapeChoice(f"{MESH_PREFIX}{name}", shape.label, f"/shapes/{name}.png", shape.size_range_mm)
        for name, shape in catalog.bundled_shapes().items()
    ]
    return [*built_in, *bundled, ShapeChoice(UPLOADED, "Uploaded shape")]


BSA_FORMULAS = _choices(get_args(BsaFormula))

_MESSAGES = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "is required",
    "string_too_long": "is too long (at most {max_length} characters)",
    "string_pattern_mismatch": "may hold only letters, digits, '.', '-' and '_'",
    "literal_error": "is not one of the choices",
    "missing": "is required",
}


def blank_values() -> dict[str, str]:
    return {field.name: "" for field in FIELDS} | {
        "dose.unit": "mg/kg",
        "bsa_formula": "mosteller",
        "shape": "round",
    }


def values_from(form: Mapping[str, Any]) -> dict[str, str]:
    """The typed text of each known field (nothing else from the request is kept)."""
    return {name: str(form.get(name, "")).strip() for name in FIELD_NAMES}


def prescription_data(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The prescription JSON from the typed text, and the fields whose text is not a number."""
    data: dict[str, Any] = {"patient": {}, "drug": {}, "dose": {}}
    errors: dict[str, str] = {}
    for name, text in values.items():
        field = _BY_NAME[name]
        if name in NOT_IN_PRESCRIPTION or text == "":
            continue
        if name == "shape" and text.startswith(MESH_PREFIX):
            if text == UPLOADED and not values.get("mesh.sha256"):
                errors["mesh.file"] = "Choose a shape file to upload (STL or 3MF)"
                continue
            data["shape"] = "mesh"
            data["mesh"] = (
                {"sha256": values["mesh.sha256"]}
                if text == UPLOADED
                else {"name": text.removeprefix(MESH_PREFIX)}
            )
            continue
        value: Any = text
        if field.kind in ("number", "integer"):
            try:
                value = int(text) if field.kind == "integer" else float(text.replace(",", "."))
            except ValueError:
                kind = "a whole number" if field.kind == "integer" else "a number"
                errors[name] = f"{field.label}: {text!r} is not {kind}"
                continue
            if isinstance(value, float) and not math.isfinite(value):
                errors[name] = f"{field.label}: {text!r} is not a number"
                continue
        target = data
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return data, errors


def measurement_records(
    values: Mapping[str, str], data: dict[str, Any], errors: dict[str, str], entered_by: str
) -> None:
    """Each typed weight or height in `data` as the measurement as recorded (`patient.weight`,
    `patient.height`) from its date and place; a missing or unreadable date goes in `errors`.

    The date is the day's first moment (UTC), as a FHIR date is read; status "final" (the
    technician copies it from the chart), subject the patient typed, source the place and who
    entered it ("ward scales, entered by tess")."""
    patient = data.setdefault("patient", {})
    place = values.get(WHERE_MEASURED, "").strip()
    if len(place) > MAX_PLACE_CHARS:
        errors[WHERE_MEASURED] = (
            f"{field_label(WHERE_MEASURED)} is too long (at most {MAX_PLACE_CHARS} characters)"
        )
        return
    who = f", entered by {entered_by}" if entered_by else ", entered at the form"
    for m in MEASURED:
        number = patient.get(m.number.removeprefix("patient."))
        typed = values.get(m.number, "").strip()
        text = values.get(m.date, "").strip()
        if not typed and not m.required:
            continue
        if not text:
            what = "weighing" if m.record == "weight" else "measurement"
            errors.setdefault(
                m.date,
                f"{field_label(m.date)} is required: the date of the {what}, as on the chart",
            )
            continue
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            errors.setdefault(m.date, f"{field_label(m.date)}: {text!r} is not a date (YYYY-MM-DD)")
            continue
        if not isinstance(number, float):
            continue  # the number's own message says what is wrong with it
        patient[m.record] = {
            "value": number,
            "unit": m.unit,
            "status": "final",
            "subject": patient.get("id", ""),
            "effective": dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat(),
            "source": f"{place or m.place}{who}",
        }


def read_form(
    values: Mapping[str, str], entered_by: str = ""
) -> tuple[Prescription | None, dict[str, str]]:
    """The prescription the typed text makes, or None, and messages by field name.

    entered_by: the username of who types it, for the measurements' source.
    A message's key is the field it sits by; the key "" holds a problem no single field owns.
    """
    data, errors = prescription_data(values)
    measurement_records(values, data, errors, entered_by)
    rx = None
    try:
        # the job service questions it again as it records the batch; this is the live check
        rx = question(Prescription.model_validate(data))
    except InvalidPrescription as exc:
        field = field_of(exc)
        if field in DATE_FIELDS:  # the date as typed, not as the record holds it
            errors.setdefault(field, f"{field_label(field)}: {values.get(field, '')} {exc.reason}")
        else:
            errors.setdefault(field, sentence(exc))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            name = MEASUREMENT_ALIASES.get(name, name)
            if name == "shape" and "mesh.file" in errors:
                continue  # the uploaded shape has no file yet: said beside the file field
            if name in _BY_NAME and name not in errors:
                errors[name] = _message(_BY_NAME[name], error)
            elif name not in FIELD_NAMES:
                errors.setdefault("", f"{name}: {error['msg']}")
    return rx, errors


def field_of(exc: FieldRefusal) -> str:
    """The form field a refusal belongs beside ("" when it is none of them)."""
    name = FIELD_ALIASES.get(exc.field, exc.field)
    if name == "mesh.name":
        return "shape"
    if name.startswith("mesh.") and name not in FIELD_NAMES:
        return "mesh.file"  # the upload's refusals (size, NaN, degenerate, triangle count, holes)
    return name if name in FIELD_NAMES else ""


def formulation_choices() -> list[tuple[str, str]]:
    """Lots that may be printed today (expired lots and lots without an assay are not offered)."""
    return [
        (lot.id, f"{lot.drug_name} — {lot.lot} ({lot.process.upper()}, expires {lot.expiry})")
        for lot in sorted(catalog.usable_formulations(), key=lambda lot: (lot.drug_name, lot.id))
    ]


def _message(field: FormField, error: Mapping[str, Any]) -> str:
    template = _MESSAGES.get(str(error["type"]))
    context = {
        key: f"{value:g}" if isinstance(value, float) else value
        for key, value in (error.get("ctx") or {}).items()
    }
    reason = template.format(**context) if template else str(error["msg"]).lower()
    return f"{field.label} {reason}"


def sentence(exc: FieldRefusal) -> str:
    field = _BY_NAME.get(exc.field)
    label = field.label if field else exc.field
    if field is None and exc.field.startswith("mesh."):
        label = f"{_BY_NAME['mesh.file'].label}, {exc.field.removeprefix('mesh.')}"
    value = f"{exc.value:g}" if isinstance(exc.value, float) else str(exc.value)
    reason = exc.reason.replace("max_single_dose_mg", "the maximum single dose of").replace(
        "max_daily_dose_mg", "the maximum daily dose of"
    )
    if exc.value is None or exc.value == "" or exc.value is MISSING:
        return f"{label} {reason}"
    return f"{label}: {value} {reason}"


def field_label(name: str) -> str:
    return _BY_NAME[name].label
