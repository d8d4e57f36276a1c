"""A FHIR R4 MedicationRequest (UK Core style) read into the native Prescription.

fhir.resources (R4B models) checks the structure; the checks it does not do — status, intent,
UCUM units, positive doses, body weight and height Observations — are made here.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, get_args

from fhir.resources.R4B.medicationrequest import MedicationRequest
from pydantic import ValidationError

from dosing.errors import MISSING, InvalidPrescription
from dosing.prescription import DoseUnit, Prescription, parse_prescription

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
BODY_WEIGHT_CODES = {"29463-7", "3141-9"}
BODY_HEIGHT_CODES = {"8302-2", "8306-3"}
EXTENSION_BASE = "https://printmed.example.org/fhir/StructureDefinition/"
FORMULATION_EXTENSION = EXTENSION_BASE + "formulation"
SHAPE_EXTENSION = EXTENSION_BASE + "tablet-shape"
ACCEPTED_STATUS = {"active"}
ACCEPTED_INTENT = {"order", "original-order", "instance-order"}
DOSE_UNITS = frozenset(get_args(DoseUnit))  # UCUM codes that are also the native units
WEIGHT_TO_KG = {"kg": 1.0, "g": 0.001}
HEIGHT_TO_CM = {"cm": 1.0, "m": 100.0}
PERIOD_PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1.0 / 7.0}

Resolver = Callable[[str], dict[str, Any] | None]
FormulationChooser = Callable[[str, str | None], str]


def is_fhir(data: Any) -> bool:
    return isinstance(data, dict) and "resourceType" in data


def prescription_from_fhir(
    data: dict[str, Any],
    *,
    resolve: Resolver | None = None,
    choose_formulation: FormulationChooser | None = None,
) -> Prescription:
    """The native Prescription for a MedicationRequest.

    resolve: looks up a non-contained reference such as "Observation/w1" (None: not found).
    choose_formulation: picks the lot for (drug name, code) when the order names none.
    """
    kind = data.get("resourceType")
    if kind != "MedicationRequest":
        raise InvalidPrescription(
            "resourceType", kind, "is not accepted: send one MedicationRequest (not a Bundle)"
        )
    try:
        request = MedicationRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"])
        value = MISSING if error["type"] == "missing" else error.get("input")
        raise InvalidPrescription(field, value, f"is invalid ({error['msg']})") from None
    except (TypeError, KeyError, AttributeError) as exc:
        # fhir.resources trips over some malformed nested resources (a contained resource
        # without a resourceType) instead of reporting them.
        raise InvalidPrescription(
            "contained", type(exc).__name__, "holds a resource that is not valid FHIR"
        ) from None

    if request.status not in ACCEPTED_STATUS:
        raise InvalidPrescription("status", request.status, "is not an active order")
    if request.intent not in ACCEPTED_INTENT:
        raise InvalidPrescription(
            "intent", request.intent, f"is not one of {sorted(ACCEPTED_INTENT)}"
        )
    drug_name, drug_code = _medication(request)
    dose_value, dose_unit = _dose(request)
    observations = _observations(request, data, resolve)
    patient: dict[str, Any] = {"id": _patient_id(request)}
    weight = _measurement(observations, BODY_WEIGHT_CODES, WEIGHT_TO_KG, "body weight")
    height = _measurement(observations, BODY_HEIGHT_CODES, HEIGHT_TO_CM, "body height")
    if weight is None:
        raise InvalidPrescription(
            "contained.Observation(body weight)",
            MISSING,
            "is required: a body-weight Observation (LOINC 29463-7) in kg",
        )
    patient["weight_kg"] = weight
    if height is not None:
        patient["height_cm"] = height
    elif dose_unit == "mg/m2":
        raise InvalidPrescription(
            "contained.Observation(body height)",
            MISSING,
            "is required for a dose in mg/m2: a body-height Observation (LOINC 8302-2) in cm",
        )
    formulation = _extension(request, FORMULATION_EXTENSION)
    if formulation is None:
        if choose_formulation is None:
            raise InvalidPrescription(
                f"extension[{FORMULATION_EXTENSION}]", MISSING, "is required to choose the lot"
            )
        formulation = choose_formulation(drug_name, drug_code)
    native: dict[str, Any] = {
        "id": _prescription_id(request),
        "patient": patient,
        "drug": {"name": drug_name, **({"code": drug_code} if drug_code else {})},
        "dose": {"value": dose_value, "unit": dose_unit},
        "frequency_per_day": _frequency_per_day(request),
        "units": _units(request),
        "formulation": formulation,
        "shape": _extension(request, SHAPE_EXTENSION) or "round",
    }
    cap = _max_single_dose(request)
    if cap is not None:
        native["max_single_dose_mg"] = cap
    return parse_prescription(native)


def _prescription_id(request: MedicationRequest) -> str:
    for identifier in request.identifier or []:
        if identifier.value:
            return str(identifier.value)
    if request.id:
        return f"MR-{request.id}"
    raise InvalidPrescription("identifier", MISSING, "or id is required to name the order")


def _patient_id(request: MedicationRequest) -> str:
    reference = request.subject.reference if request.subject else None
    if reference and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    identifier = request.subject.identifier if request.subject else None
    if identifier is not None and identifier.value:
        return str(identifier.value)
    raise InvalidPrescription("subject", reference, "must reference a Patient")


def _medication(request: MedicationRequest) -> tuple[str, str | None]:
    concept = request.medicationCodeableConcept
    if concept is None:
        raise InvalidPrescription(
            "medicationCodeableConcept", MISSING, "is required (a SNOMED CT or dm+d code)"
        )
    code: str | None = None
    name = concept.text
    for coding in concept.coding or []:
        if coding.system in (SNOMED, DMD) and coding.code:
            code = str(coding.code)
            name = name or coding.display
            break
    if not name:
        raise InvalidPrescription("medicationCodeableConcept.text", MISSING, "names no drug")
    return str(name).strip().lower(), code


def _dose(request: MedicationRequest) -> tuple[float, str]:
    field = "dosageInstruction[0].doseAndRate[0].doseQuantity"
    try:
        quantity = request.dosageInstruction[0].doseAndRate[0].doseQuantity  # type: ignore[index]
    except (TypeError, IndexError):
        quantity = None
    if quantity is None or quantity.value is None:
        raise InvalidPrescription(field, MISSING, "is required")
    if quantity.system != UCUM:
        raise InvalidPrescription(f"{field}.system", quantity.system, f"must be {UCUM}")
    if quantity.code not in DOSE_UNITS:
        raise InvalidPrescription(
            f"{field}.code", quantity.code, f"is not one of {sorted(DOSE_UNITS)}"
        )
    value = _positive(quantity.value, f"{field}.value")
    return value, str(quantity.code)


def _frequency_per_day(request: MedicationRequest) -> int:
    field = "dosageInstruction[0].timing.repeat"
    dosage = request.dosageInstruction[0]  # type: ignore[index]
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is None or repeat.frequency is None:
        raise InvalidPrescription(f"{field}.frequency", MISSING, "is required")
    period = float(repeat.period or 1)
    unit = repeat.periodUnit or "d"
    if unit not in PERIOD_PER_DAY or period <= 0:
        raise InvalidPrescription(f"{field}.periodUnit", unit, "must be d, h or wk")
    per_day = repeat.frequency * PERIOD_PER_DAY[unit] / period
    if per_day < 1 or abs(per_day - round(per_day)) > 1e-9:
        raise InvalidPrescription(
            f"{field}",
            f"{repeat.frequency}/{period:g}{unit}",
            "is not a whole number of doses a day",
        )
    return round(per_day)


def _units(request: MedicationRequest) -> int:
    field = "dispenseRequest.quantity.value"
    quantity = request.dispenseRequest.quantity if request.dispenseRequest else None
    if quantity is None or quantity.value is None:
        raise InvalidPrescription(field, MISSING, "is required (number of doses to supply)")
    value = quantity.value
    if value != value.to_integral_value() or value < 1:
        raise InvalidPrescription(field, float(value), "is not a whole number of doses")
    return int(value)


def _max_single_dose(request: MedicationRequest) -> float | None:
    dosage = request.dosageInstruction[0]  # type: ignore[index]
    cap = dosage.maxDosePerAdministration
    if cap is None or cap.value is None:
        return None
    field = "dosageInstruction[0].maxDosePerAdministration"
    if cap.code not in (None, "mg"):
        raise InvalidPrescription(f"{field}.code", cap.code, "must be mg")
    return _positive(cap.value, f"{field}.value")


def _observations(
    request: MedicationRequest, data: dict[str, Any], resolve: Resolver | None
) -> list[dict[str, Any]]:
    """Contained Observations, and referenced ones (supportingInformation) via the resolver."""
    found = [
        item
        for item in _list(data.get("contained"))
        if isinstance(item, dict) and item.get("resourceType") == "Observation"
    ]
    for index, reference in enumerate(request.supportingInformation or []):
        target = reference.reference or ""
        if target.startswith("#") or not target.startswith("Observation/"):
            continue
        resolved = resolve(target) if resolve else None
        if resolved is None:
            raise InvalidPrescription(
                f"supportingInformation[{index}]", target, "cannot be resolved"
            )
        found.append(resolved)
    return found


def _measurement(
    observations: list[dict[str, Any]], codes: set[str], to_unit: dict[str, float], what: str
) -> float | None:
    for observation in observations:
        codings = _list(_dict(observation.get("code")).get("coding"))
        if not any(
            _dict(c).get("system") == LOINC and _text(_dict(c).get("code")) in codes
            for c in codings
        ):
            continue
        quantity = _dict(observation.get("valueQuantity"))
        unit = _text(quantity.get("code")) or _text(quantity.get("unit"))
        field = f"Observation({what}).valueQuantity"
        if unit not in to_unit:
            raise InvalidPrescription(f"{field}.code", unit, f"is not one of {sorted(to_unit)}")
        return _positive(quantity.get("value"), f"{field}.value") * to_unit[unit]
    return None


def _dict(value: Any) -> dict[str, Any]:
    # Observations are read from the raw JSON, where any member may be null or the wrong type.
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _extension(request: MedicationRequest, url: str) -> str | None:
    for extension in request.extension or []:
        if extension.url == url:
            value = extension.valueString or extension.valueCode
            return str(value) if value else None
    return None


def _positive(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidPrescription(field, value, "is not a number")
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise InvalidPrescription(field, number, "must be a positive finite number")
    return number
