"""A FHIR R4 MedicationRequest (UK Core style) read into the native Prescription, or refused
naming the element (FHIRPath-like, e.g. `MedicationRequest.dosageInstruction[1]`) and its value.

fhir.resources (R4B models, imported only when an order is read) checks the structure; the codes,
units, ranges and the clinical data are checked here. Nothing a prescriber wrote is dropped:
every element is read, or refused, or listed below as changing neither what nor how much.

Read (MedicationRequest.…):
  status (active), intent (order, original-order, instance-order), medicationCodeableConcept
  (SNOMED CT / dm+d), subject, authoredOn, supportingInformation and contained Observations
  (body weight and height: status, subject, effective date, UCUM unit — printmed.intake.clinical),
  dispenseRequest.quantity (doses), dosageInstruction with exactly one doseAndRate:
  doseQuantity (mg, mg/kg, mg/m2), timing.repeat frequency/period/periodUnit, route (oral only),
  maxDosePerAdministration (mg), maxDosePerPeriod (mg per 1 d), asNeededBoolean false,
  doNotPerform false, dispenseRequest.numberOfRepeatsAllowed 0.
Several dosageInstructions are a schedule (a taper, a titration), read step by step in listed
order: each needs a `sequence` (rising as listed; two at once are refused) and how long it
lasts, timing.repeat.boundsDuration or boundsPeriod (whole days; each period starts when the one
before ends: an overlap or a gap is refused naming its start); its own dose, frequency and
maxima; the supply must be the sum of the steps' doses and expectedSupplyDuration their days.
Read when consistent with the supply, refused otherwise (they say how long, and the supply says
how many; when they agree nothing is lost): timing.repeat.boundsDuration, boundsPeriod,
timing.repeat.count, dispenseRequest.expectedSupplyDuration. dispenseRequest.validityPeriod:
refused once ended.
Refused (not read, and each can change what or how much is taken):
  a second doseAndRate, doseRange, rateQuantity, rateRange, rateRatio, asNeededBoolean true,
  asNeededCodeableConcept, timing.event, timing.code, timing.repeat.boundsRange, countMax,
  duration, durationMax, durationUnit, frequencyMax, periodMax, dayOfWeek, timeOfDay, when,
  offset, maxDosePerLifetime, additionalInstruction, site, method,
  medicationReference, doNotPerform true, note, dispenseRequest.initialFill,
  numberOfRepeatsAllowed above 0, implicitRules, and any modifierExtension (FHIR: a reader
  that does not understand one must not act on the resource).
Read for the pharmacist, not for the dose: reasonCode (each concept's text, else its coding's
  display or code) as the order's indication; each dosageInstruction's text (the dose in the
  prescriber's words) and patientInstruction (what the patient is told), kept as written
  (`prescriber_words`, with the step they belong to); all shown at clinical screening, where the
  pharmacist sees any disagreement with the structured dose.
Accepted, not read (they change neither what nor how much the patient takes): id, meta, text,
  language, extension (the pharmacy's formulation and tablet-shape extensions are read),
  identifier (names the order), category, priority, reported[x], encounter, requester,
  performer, performerType, recorder, reasonReference, instantiates*, basedOn,
  groupIdentifier, courseOfTherapyType, insurance, substitution, priorPrescription,
  detectedIssue, eventHistory, statusReason; dosageInstruction.sequence of a single dosage;
  doseAndRate.type; dispenseRequest dispenseInterval and performer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from dosing.errors import MISSING, DosingError, InvalidPrescription, Marker
from dosing.prescription import (
    CM_PER_UNIT,
    KG_PER_UNIT,
    MAX_WORDS_CHARS,
    DoseUnit,
    Prescription,
    parse_prescription,
)
from printmed.intake.clinical import question
from printmed.settings import ObservationWindows

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
ORAL_ROUTE = "26643006"
BODY_WEIGHT_CODES = {"29463-7", "3141-9"}
BODY_HEIGHT_CODES = {"8302-2", "8306-3"}
EXTENSION_BASE = "https://printmed.example.org/fhir/StructureDefinition/"
FORMULATION_EXTENSION = EXTENSION_BASE + "formulation"
SHAPE_EXTENSION = EXTENSION_BASE + "tablet-shape"
ACCEPTED_STATUS = {"active"}
ACCEPTED_INTENT = {"order", "original-order", "instance-order"}
DOSE_UNITS = frozenset(get_args(DoseUnit))  # UCUM codes that are also the native units
SUPPLY_UNITS = {"dose", "doses", "{dose}", "{doses}"}
DAYS_PER_UNIT = {"d": Decimal(1), "wk": Decimal(7), "h": Decimal(1) / Decimal(24)}

MR = "MedicationRequest"
DOSAGE = f"{MR}.dosageInstruction[0]"
DOSE_AND_RATE = f"{DOSAGE}.doseAndRate[0]"
REPEAT = f"{DOSAGE}.timing.repeat"
# Where a native field's value came from in the order: refusals made after intake (the dose
# rules) name the element the prescriber wrote.
FHIR_FIELDS = {
    "id": f"{MR}.identifier",
    "patient.id": f"{MR}.subject",
    "drug": f"{MR}.medicationCodeableConcept",
    "dose.value": f"{DOSE_AND_RATE}.doseQuantity.value",
    "dose.unit": f"{DOSE_AND_RATE}.doseQuantity.code",
    "dose": f"{DOSE_AND_RATE}.doseQuantity",
    "max_single_dose_mg": f"{DOSAGE}.maxDosePerAdministration",
    "max_daily_dose_mg": f"{DOSAGE}.maxDosePerPeriod",
    "frequency_per_day": f"{REPEAT}.frequency",
    "units": f"{MR}.dispenseRequest.quantity.value",
    "formulation": f"{MR}.extension[{FORMULATION_EXTENSION}]",
    "shape": f"{MR}.extension[{SHAPE_EXTENSION}]",
    "mesh": f"{MR}.extension[{SHAPE_EXTENSION}]",
    "authored_at": f"{MR}.authoredOn",
}

# The elements of each part of the order that are read or change nothing (module docstring);
# anything else is refused. A primitive's `_name` twin (its id and extensions) goes with it.
KNOWN: dict[str, frozenset[str]] = {
    MR: frozenset(
        [
            "resourceType",
            "id",
            "meta",
            "text",
            "language",
            "extension",
            "contained",
            "identifier",
            "status",
            "statusReason",
            "intent",
            "category",
            "priority",
            "doNotPerform",
            "reportedBoolean",
            "reportedReference",
            "medicationCodeableConcept",
            "subject",
            "encounter",
            "supportingInformation",
            "authoredOn",
            "requester",
            "performer",
            "performerType",
            "recorder",
            "reasonCode",
            "reasonReference",
            "instantiatesCanonical",
            "instantiatesUri",
            "basedOn",
            "groupIdentifier",
            "courseOfTherapyType",
            "insurance",
            "dosageInstruction",
            "dispenseRequest",
            "substitution",
            "priorPrescription",
            "detectedIssue",
            "eventHistory",
        ]
    ),
    "dosage": frozenset(
        [
            "id",
            "extension",
            "sequence",
            "text",
            "patientInstruction",
            "timing",
            "asNeededBoolean",
            "route",
            "doseAndRate",
            "maxDosePerPeriod",
            "maxDosePerAdministration",
        ]
    ),
    "timing": frozenset(["id", "extension", "repeat"]),
    "repeat": frozenset(
        [
            "id",
            "extension",
            "boundsDuration",
            "boundsPeriod",
            "count",
            "frequency",
            "period",
            "periodUnit",
        ]
    ),
    "doseAndRate": frozenset(["id", "extension", "type", "doseQuantity"]),
    "dispenseRequest": frozenset(
        [
            "id",
            "extension",
            "dispenseInterval",
            "validityPeriod",
            "numberOfRepeatsAllowed",
            "quantity",
            "expectedSupplyDuration",
            "performer",
        ]
    ),
}
WHY_REFUSED = {
    "medicationReference": "is not read: name the drug in medicationCodeableConcept "
    "(SNOMED CT or dm+d)",
    "modifierExtension": "changes the meaning of the order and is not understood here",
    "implicitRules": "changes the meaning of the order and is not understood here",
    "note": "may change the dose and is not read: put the dose in the structured elements",
    "maxDosePerLifetime": "is not read (this pharmacy keeps no record of earlier doses)",
    "doseRange": "is not read: prescribe one dose (doseQuantity)",
    "rateQuantity": "is not read: an oral tablet has a dose, not a rate",
    "rateRange": "is not read: an oral tablet has a dose, not a rate",
    "rateRatio": "is not read: an oral tablet has a dose, not a rate",
    "asNeededCodeableConcept": "is not read: as-needed doses are not printed here",
    "event": "is not read: give the timing as repeat.frequency per period",
    "code": "is not read: give the timing as repeat.frequency per period",
    "initialFill": "is not read: the supply is dispenseRequest.quantity",
}
DEFAULT_WHY = "is not read by this pharmacy, so the order is refused rather than printed without it"

Resolver = Callable[[str], dict[str, Any] | None]
FormulationChooser = Callable[[str, str | None], str]


def is_fhir(data: Any) -> bool:
    return isinstance(data, dict) and "resourceType" in data


def fhir_field(native_field: str) -> str:
    """The order's element a native field came from (itself when it is none of them); a
    schedule's step i is dosageInstruction[i] (the steps are read in the order listed)."""
    step = re.fullmatch(r"schedule\[(\d+)\](?:\.(.+))?", native_field)
    if step is not None:
        at, rest = _dosage_path(int(step.group(1))), step.group(2) or ""
        if not rest or rest.split(".")[0] == "days":
            return f"{at}.timing.repeat" if rest else at
        return fhir_field(rest).replace(DOSAGE, at)
    for name in sorted(FHIR_FIELDS, key=len, reverse=True):
        if native_field == name or native_field.startswith(name + "."):
            return FHIR_FIELDS[name] + native_field.removeprefix(name)
    return native_field


def in_fhir_terms(exc: DosingError) -> DosingError:
    """The same refusal naming the order's element instead of the native field."""
    named = fhir_field(exc.field)
    return exc if named == exc.field else type(exc)(named, exc.value, exc.reason)


def prescription_from_fhir(
    data: dict[str, Any],
    *,
    resolve: Resolver | None = None,
    choose_formulation: FormulationChooser | None = None,
    now: dt.datetime | None = None,
    windows: ObservationWindows | None = None,
) -> Prescription:
    """The native Prescription for a MedicationRequest, its body measurements questioned.

    resolve: looks up a non-contained reference such as "Observation/w1" (None: not found).
    choose_formulation: picks the lot for (drug name, code) when the order names none.
    now: the time of intake (default: the clock); windows: how recent a measurement must be
    (default: the PRINTMED_OBSERVATION_MAX_AGE_DAYS_* settings).
    """
    kind = data.get("resourceType")
    if kind != MR:
        raise InvalidPrescription(
            "resourceType", kind, "is not accepted: send one MedicationRequest (not a Bundle)"
        )
    _check_structure(data)
    now = now or dt.datetime.now(dt.UTC)
    _known_only(data, MR, MR)
    status, intent = data.get("status"), data.get("intent")
    if status not in ACCEPTED_STATUS:
        raise InvalidPrescription(f"{MR}.status", status, "is not an active order")
    if intent not in ACCEPTED_INTENT:
        raise InvalidPrescription(
            f"{MR}.intent", intent, f"is not one of {sorted(ACCEPTED_INTENT)}"
        )
    if data.get("doNotPerform") is True:
        raise InvalidPrescription(
            f"{MR}.doNotPerform", True, "says the medicine is not to be given"
        )
    dosages = _dosages(data)
    dosage = dosages[0][1]
    written_at = _instant(data["authoredOn"], f"{MR}.authoredOn") if "authoredOn" in data else None
    drug_name, drug_code = _medication(data)
    dose_value, dose_unit = _dose(dosage)
    frequency = _frequency_per_day(dosage)
    schedule = None
    if len(dosages) > 1:
        schedule = _schedule(dosages, [_frequency_per_day(d, at) for at, d in dosages])
    units = _units(data, frequency, now, schedule)
    patient, fields = _patient(data, resolve, written_at or now)
    if "weight" not in patient:
        raise InvalidPrescription(
            f"{MR}.contained.Observation(body weight)",
            MISSING,
            "is required: a body-weight Observation (LOINC 29463-7) in kg, g or [lb_av]",
        )
    per_m2 = dose_unit == "mg/m2" or any(s["dose"]["unit"] == "mg/m2" for s in schedule or [])
    if "height" not in patient and per_m2:
        raise InvalidPrescription(
            f"{MR}.contained.Observation(body height)",
            MISSING,
            "is required for a dose in mg/m2: a body-height Observation (LOINC 8302-2) in cm, "
            "m or [in_i]",
        )
    formulation = _extension(data, FORMULATION_EXTENSION)
    if formulation is None:
        if choose_formulation is None:
            raise InvalidPrescription(
                f"{MR}.extension[{FORMULATION_EXTENSION}]", MISSING, "is required to choose the lot"
            )
        formulation = choose_formulation(drug_name, drug_code)
    native: dict[str, Any] = {
        "id": _prescription_id(data),
        "patient": patient,
        "drug": {"name": drug_name, **({"code": drug_code} if drug_code else {})},
        "dose": {"value": dose_value, "unit": dose_unit},
        "frequency_per_day": frequency,
        "units": units,
        "formulation": formulation,
        **_shape(_extension(data, SHAPE_EXTENSION) or "round"),
    }
    if written_at is not None:
        native["authored_at"] = written_at.isoformat()
    indication = _indication(data)
    if indication is not None:
        native["indication"] = indication
    words = _prescriber_words(dosages)
    if words:
        native["prescriber_words"] = words
    if schedule is not None:  # each step's maxima are its own (the steps carry them)
        native["schedule"] = schedule
    for name, value in (
        ("max_single_dose_mg", _max_per_administration(dosage)),
        ("max_daily_dose_mg", _max_per_day(dosage)),
    ):
        if value is not None and schedule is None:
            native[name] = value
    try:
        rx = parse_prescription(native)
    except InvalidPrescription as exc:
        raise _named(exc, fields) from None
    return question(
        rx, now=now, windows=windows, fields=fields | {"authored_at": f"{MR}.authoredOn"}
    )


def _named(exc: InvalidPrescription, fields: dict[str, str]) -> DosingError:
    for name, path in fields.items():
        prefix = f"patient.{name}"
        if exc.field.startswith(prefix):  # patient.weight..., patient.weight_kg
            rest = exc.field.removeprefix(prefix + ".")
            element = rest if rest in ("status", "subject") else "valueQuantity.value"
            return InvalidPrescription(f"{path}.{element}", exc.value, exc.reason)
    return in_fhir_terms(exc)


def _check_structure(data: dict[str, Any]) -> None:
    from fhir.resources.R4B.medicationrequest import MedicationRequest  # only when an order comes
    from pydantic import ValidationError

    try:
        MedicationRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = MR + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        value = MISSING if error["type"] == "missing" else error.get("input")
        raise InvalidPrescription(field, _brief(value), f"is invalid ({error['msg']})") from None
    except (TypeError, KeyError, AttributeError) as exc:
        # fhir.resources trips over some malformed nested resources (a contained resource
        # without a resourceType) instead of reporting them.
        raise InvalidPrescription(
            f"{MR}.contained", type(exc).__name__, "holds a resource that is not valid FHIR"
        ) from None


def _brief(value: Any) -> Any:
    """A value short enough for a refusal: containers as compact JSON, cut at 120 characters."""
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
        return Marker(text if len(text) <= 120 else text[:117] + "...")
    return value


def _known_only(part: Any, kind: str, path: str) -> None:
    """Refuse the first element of `part` that is neither read nor known to change nothing."""
    for key, value in _dict(part).items():
        name = key.removeprefix("_")
        if name in KNOWN[kind]:
            continue
        raise InvalidPrescription(
            f"{path}.{key}", _brief(value), WHY_REFUSED.get(name, DEFAULT_WHY)
        )


def _dosages(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where it is, the dosage) of each dosageInstruction, each checked; several are the steps
    of a schedule, each with a `sequence` and listed in it (one after another, never two at
    once)."""
    dosages = _list(data.get("dosageInstruction"))
    if not dosages:
        raise InvalidPrescription(f"{MR}.dosageInstruction", MISSING, "is required")
    found = [(_dosage_path(i), _dosage(item, _dosage_path(i))) for i, item in enumerate(dosages)]
    if len(found) == 1:
        return found
    before = None
    for at, dosage in found:
        sequence = dosage.get("sequence")
        if isinstance(sequence, bool) or not isinstance(sequence, int):
            raise InvalidPrescription(
                f"{at}.sequence",
                MISSING if sequence is None else sequence,
                f"is required in each of the {len(found)} steps of a schedule (their order)",
            )
        if before is not None and sequence <= before:
            raise InvalidPrescription(
                f"{at}.sequence",
                sequence,
                f"does not follow the step before ({before}): list the steps in the order taken"
                + (" (two dosages at once are not read)" if sequence == before else ""),
            )
        before = sequence
    return found


def _dosage_path(index: int) -> str:
    return f"{MR}.dosageInstruction[{index}]"


def _dosage(item: Any, at: str) -> dict[str, Any]:
    dosage = _dict(item)
    _known_only(dosage, "dosage", at)
    if dosage.get("asNeededBoolean") is True:
        raise InvalidPrescription(
            f"{at}.asNeededBoolean", True, "is not read: as-needed doses are not printed here"
        )
    timing = _dict(dosage.get("timing"))
    _known_only(timing, "timing", f"{at}.timing")
    _known_only(timing.get("repeat"), "repeat", f"{at}.timing.repeat")
    rates = _list(dosage.get("doseAndRate"))
    if len(rates) > 1:
        raise InvalidPrescription(
            f"{at}.doseAndRate[1]",
            _brief(rates[1]),
            "is a second dose or rate: one dose per administration is printed",
        )
    if rates:
        _known_only(rates[0], "doseAndRate", f"{at}.doseAndRate[0]")
    route = dosage.get("route")
    if route is not None and not any(
        _dict(c).get("system") == SNOMED and _dict(c).get("code") == ORAL_ROUTE
        for c in _list(_dict(route).get("coding"))
    ):
        raise InvalidPrescription(
            f"{at}.route",
            _brief(route),
            f"is not oral (SNOMED CT {ORAL_ROUTE}): printed tablets are taken by mouth",
        )
    return dosage


def _indication(data: dict[str, Any]) -> str | None:
    """The order's reasonCode as one phrase ("; " between concepts): each concept's text, else
    its first coding's display, else that coding's system|code. None when there is none."""
    concepts = data.get("reasonCode")
    if concepts is None:
        return None
    if not isinstance(concepts, list) or not concepts:
        raise InvalidPrescription(f"{MR}.reasonCode", _brief(concepts), "is not a list of concepts")
    names = []
    for i, concept in enumerate(concepts):
        at = f"{MR}.reasonCode[{i}]"
        codings = concept.get("coding") if isinstance(concept, dict) else None
        coding = codings[0] if isinstance(codings, list) and codings else {}
        if not isinstance(concept, dict) or not isinstance(coding, dict):
            raise InvalidPrescription(at, _brief(concept), "is not a CodeableConcept")
        name = concept.get("text") or coding.get("display") or coding.get("code")
        if not isinstance(name, str) or not name.strip():
            raise InvalidPrescription(at, _brief(concept), "has no text, display or code")
        names.append(name.strip())
    indication = "; ".join(names)
    if len(indication) > 200:
        raise InvalidPrescription(f"{MR}.reasonCode", _brief(concepts), "is over 200 characters")
    return indication


def _prescriber_words(dosages: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each dosage's text and patientInstruction as written (kind "dosage" / "patient"), with
    its step when the order is a schedule; too long to keep whole is refused, never cut."""
    words = []
    for index, (at, dosage) in enumerate(dosages):
        for kind, key in (("dosage", "text"), ("patient", "patientInstruction")):
            if key not in dosage:
                continue
            text = dosage[key]
            if not isinstance(text, str) or not text.strip():
                raise InvalidPrescription(f"{at}.{key}", _brief(text), "is not text")
            if len(text.strip()) > MAX_WORDS_CHARS:
                raise InvalidPrescription(
                    f"{at}.{key}",
                    _brief(text),
                    f"is over {MAX_WORDS_CHARS} characters: it is kept whole or not at all",
                )
            step = {"step": index + 1} if len(dosages) > 1 else {}
            words.append({"kind": kind, "text": text.strip(), **step})
    return words


def _prescription_id(data: dict[str, Any]) -> str:
    for identifier in _list(data.get("identifier")):
        value = _dict(identifier).get("value")
        if value:
            return str(value)
    if data.get("id"):
        return f"MR-{data['id']}"
    raise InvalidPrescription(f"{MR}.identifier", MISSING, "or id is required to name the order")


def _medication(data: dict[str, Any]) -> tuple[str, str | None]:
    concept = _dict(data.get("medicationCodeableConcept"))
    if not concept:
        raise InvalidPrescription(
            f"{MR}.medicationCodeableConcept", MISSING, "is required (a SNOMED CT or dm+d code)"
        )
    code: str | None = None
    name = concept.get("text")
    for coding in _list(concept.get("coding")):
        coding = _dict(coding)
        if coding.get("system") in (SNOMED, DMD) and coding.get("code"):
            code = str(coding["code"])
            name = name or coding.get("display")
            break
    if not name:
        raise InvalidPrescription(f"{MR}.medicationCodeableConcept.text", MISSING, "names no drug")
    return str(name).strip().lower(), code


def _ucum(quantity: dict[str, Any], field: str, codes: frozenset[str] | set[str]) -> str:
    """The quantity's UCUM code, if it is one of `codes` (no comparator: "<5 mg" is no dose)."""
    if "comparator" in quantity:
        raise InvalidPrescription(
            f"{field}.comparator", quantity["comparator"], "is not read: give the value itself"
        )
    if quantity.get("system") != UCUM:
        raise InvalidPrescription(f"{field}.system", quantity.get("system"), f"must be {UCUM}")
    code = quantity.get("code")
    if code not in codes:
        raise InvalidPrescription(f"{field}.code", code, f"is not one of {sorted(codes)}")
    return str(code)


def _dose(dosage: dict[str, Any], at: str = DOSAGE) -> tuple[float, str]:
    field = f"{at}.doseAndRate[0].doseQuantity"
    quantity = _dict(_dict((_list(dosage.get("doseAndRate")) or [None])[0]).get("doseQuantity"))
    if quantity.get("value") is None:
        raise InvalidPrescription(field, MISSING, "is required")
    code = _ucum(quantity, field, DOSE_UNITS)
    return _positive(quantity["value"], f"{field}.value"), code


def _frequency_per_day(dosage: dict[str, Any], at: str = DOSAGE) -> int:
    repeat, where = _dict(_dict(dosage.get("timing")).get("repeat")), f"{at}.timing.repeat"
    frequency = repeat.get("frequency")
    if frequency is None:
        raise InvalidPrescription(f"{where}.frequency", MISSING, "is required")
    period = repeat.get("period", 1)
    unit = repeat.get("periodUnit", "d")
    if unit not in DAYS_PER_UNIT:
        raise InvalidPrescription(f"{where}.periodUnit", unit, "must be d, h or wk")
    days = _exact(_positive(period, f"{where}.period")) * DAYS_PER_UNIT[unit]
    per_day = Decimal(int(frequency)) / days
    if per_day < 1 or per_day != per_day.to_integral_value():
        raise InvalidPrescription(
            where, f"{frequency}/{period:g}{unit}", "is not a whole number of doses a day"
        )
    return int(per_day)


def _days(duration: Any, field: str) -> Decimal:
    quantity = _dict(duration)
    unit = _ucum(quantity, field, set(DAYS_PER_UNIT))
    return _exact(_positive(quantity.get("value"), f"{field}.value")) * DAYS_PER_UNIT[unit]


@dataclass(frozen=True)
class _Bounds:
    """How long one dosage lasts: days, the element it was read from and as written, and for a
    boundsPeriod its start and (exclusive) end, to check the next step follows it."""

    days: Decimal
    field: str
    written: Any
    period: tuple[dt.datetime, dt.datetime] | None = None
    written_period: dict[str, Any] | None = None


def _bounds(dosage: dict[str, Any], at: str) -> _Bounds | None:
    """timing.repeat.boundsDuration or boundsPeriod (start and end; dates are whole days, the
    end day included) of one dosage, or None when it has neither."""
    repeat, where = _dict(_dict(dosage.get("timing")).get("repeat")), f"{at}.timing.repeat"
    if "boundsDuration" in repeat and "boundsPeriod" in repeat:
        raise InvalidPrescription(
            f"{where}.boundsPeriod", _brief(repeat["boundsPeriod"]), "and boundsDuration: give one"
        )
    if "boundsDuration" in repeat:
        duration = repeat["boundsDuration"]
        field = f"{where}.boundsDuration"
        return _Bounds(_days(duration, field), field, _brief(duration))
    if "boundsPeriod" not in repeat:
        return None
    period, field = _dict(repeat["boundsPeriod"]), f"{where}.boundsPeriod"
    for end in ("start", "end"):
        if end not in period:
            raise InvalidPrescription(f"{field}.{end}", MISSING, "is required (how long it is)")
    start = _instant(period["start"], f"{field}.start")
    stop = _instant(period["end"], f"{field}.end")
    if len(str(period["end"])) == 10:
        stop += dt.timedelta(days=1)  # a date names the whole day
    if stop <= start:
        raise InvalidPrescription(f"{field}.end", period["end"], "is not after its start")
    days = Decimal((stop - start).total_seconds()) / Decimal(86_400)
    return _Bounds(days, field, _brief(period), (start, stop), period)


def _schedule(
    steps: list[tuple[str, dict[str, Any]]], frequencies: list[int]
) -> list[dict[str, Any]]:
    """The native schedule of several dosages: each step's dose, frequency and whole days (its
    bounds), one straight after another (boundsPeriods neither overlap nor leave a gap)."""
    schedule: list[dict[str, Any]] = []
    previous: _Bounds | None = None
    for (at, dosage), per_day in zip(steps, frequencies, strict=True):
        bounds = _bounds(dosage, at)
        if bounds is None:
            raise InvalidPrescription(
                f"{at}.timing.repeat.boundsDuration",
                MISSING,
                "is required in each step of a schedule (or boundsPeriod): how long it lasts",
            )
        if bounds.days != bounds.days.to_integral_value():
            raise InvalidPrescription(bounds.field, bounds.written, "is not a whole number of days")
        if previous is not None and previous.period and bounds.period:
            ended, started = previous.period[1], bounds.period[0]
            if started != ended:
                kind = "overlaps" if started < ended else "leaves a gap after"
                raise InvalidPrescription(
                    f"{bounds.field}.start",
                    _dict(bounds.written_period).get("start"),
                    f"{kind} the step before ({previous.field} {previous.written}): each step "
                    "starts when the one before ends (a date is the whole day)",
                )
        count = _dict(_dict(dosage.get("timing")).get("repeat")).get("count")
        if count is not None and count != int(bounds.days) * per_day:
            raise InvalidPrescription(
                f"{at}.timing.repeat.count",
                count,
                f"doses differ from the step's {int(bounds.days)} days at {per_day} a day",
            )
        dose_value, dose_unit = _dose(dosage, at)
        step: dict[str, Any] = {
            "dose": {"value": dose_value, "unit": dose_unit},
            "frequency_per_day": per_day,
            "days": int(bounds.days),
        }
        for name, value in (
            ("max_single_dose_mg", _max_per_administration(dosage, at)),
            ("max_daily_dose_mg", _max_per_day(dosage, at)),
        ):
            if value is not None:
                step[name] = value
        schedule.append(step)
        previous = bounds
    return schedule


def _units(data: dict[str, Any], per_day: int, now: dt.datetime, schedule: Any = None) -> int:
    """The supply in doses; the order's durations and counts, where given, must agree with it
    (a schedule's: the sum of its steps' doses and days)."""
    dispense = _dict(data.get("dispenseRequest"))
    _known_only(dispense, "dispenseRequest", f"{MR}.dispenseRequest")
    field = f"{MR}.dispenseRequest.quantity"
    quantity = _dict(dispense.get("quantity"))
    value = quantity.get("value")
    if value is None:
        raise InvalidPrescription(f"{field}.value", MISSING, "is required (number of doses)")
    for key in ("code", "unit"):
        if key in quantity and quantity[key] not in SUPPLY_UNITS:
            raise InvalidPrescription(
                f"{field}.{key}", quantity[key], "is not doses (the supply is counted in doses)"
            )
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != int(value)
        or value < 1
    ):
        raise InvalidPrescription(f"{field}.value", value, "is not a whole number of doses")
    units = int(value)
    repeats = dispense.get("numberOfRepeatsAllowed", 0)
    if repeats:
        raise InvalidPrescription(
            f"{MR}.dispenseRequest.numberOfRepeatsAllowed",
            repeats,
            "is not read: one supply is made per order",
        )
    end = _dict(dispense.get("validityPeriod")).get("end")
    if end is not None and _instant(end, f"{MR}.dispenseRequest.validityPeriod.end") < now:
        raise InvalidPrescription(
            f"{MR}.dispenseRequest.validityPeriod.end", end, "has passed: the order has expired"
        )
    if schedule is not None:
        return _schedule_supply(dispense, schedule, units)
    first = _dict(_list(data.get("dosageInstruction"))[0])
    repeat = _dict(_dict(first.get("timing")).get("repeat"))
    bounds = _bounds(first, DOSAGE)
    durations = [
        (f"{MR}.dispenseRequest.expectedSupplyDuration", dispense.get("expectedSupplyDuration"))
    ]
    if bounds is not None:
        durations.insert(0, (bounds.field, bounds.written))
    for name, duration in durations:
        if duration is None:
            continue
        days = bounds.days if bounds and name == bounds.field else _days(duration, name)
        if days * per_day != units:
            raise InvalidPrescription(
                name,
                _brief(duration),
                f"at {per_day} a day is {days * per_day:f} doses, but the supply "
                f"({field}.value) is {units}",
            )
    count = repeat.get("count")
    if count is not None and count != units:
        raise InvalidPrescription(
            f"{REPEAT}.count", count, f"doses differ from the supply ({field}.value {units})"
        )
    return units


def _schedule_supply(dispense: dict[str, Any], schedule: list[dict[str, Any]], units: int) -> int:
    """A schedule's supply: the sum of its steps' doses, and its days the expected duration."""
    field = f"{MR}.dispenseRequest.quantity.value"
    doses = [step["frequency_per_day"] * step["days"] for step in schedule]
    if sum(doses) != units:
        raise InvalidPrescription(
            field,
            units,
            f"doses differ from the schedule's {sum(doses)} "
            f"({' + '.join(str(n) for n in doses)}, its steps' days × doses a day)",
        )
    expected = dispense.get("expectedSupplyDuration")
    if expected is not None:
        name = f"{MR}.dispenseRequest.expectedSupplyDuration"
        days = sum(step["days"] for step in schedule)
        if _days(expected, name) != days:
            raise InvalidPrescription(
                name, _brief(expected), f"is not the schedule's {days} days in all"
            )
    return units


def _max_per_administration(dosage: dict[str, Any], at: str = DOSAGE) -> float | None:
    field = f"{at}.maxDosePerAdministration"
    if "maxDosePerAdministration" not in dosage:
        return None
    quantity = _dict(dosage["maxDosePerAdministration"])
    _ucum(quantity, field, {"mg"})
    return _positive(quantity.get("value"), f"{field}.value")


def _max_per_day(dosage: dict[str, Any], at: str = DOSAGE) -> float | None:
    """maxDosePerPeriod as mg a day: numerator in mg, denominator one day (1 d or 24 h)."""
    field = f"{at}.maxDosePerPeriod"
    if "maxDosePerPeriod" not in dosage:
        return None
    ratio = _dict(dosage["maxDosePerPeriod"])
    numerator = _dict(ratio.get("numerator"))
    _ucum(numerator, f"{field}.numerator", {"mg"})
    mg = _positive(numerator.get("value"), f"{field}.numerator.value")
    denominator = ratio.get("denominator")
    if denominator is None:
        raise InvalidPrescription(f"{field}.denominator", MISSING, "is required (1 d)")
    days = _days(denominator, f"{field}.denominator")
    if days != 1:
        raise InvalidPrescription(
            f"{field}.denominator",
            _brief(denominator),
            "is not one day: only a daily maximum (per 1 d or 24 h) is read",
        )
    return mg


# ---------------------------------------------------------------- the patient and measurements


def _patient(
    data: dict[str, Any], resolve: Resolver | None, written_at: dt.datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    """The native patient (id, age, weight and height as recorded) and where each came from."""
    contained = {
        str(_dict(item).get("id")): _dict(item)
        for item in _list(data.get("contained"))
        if _dict(item).get("id")
    }
    subject = _dict(data.get("subject"))
    reference = subject.get("reference")
    record: dict[str, Any] = {}
    if isinstance(reference, str) and reference.startswith("#"):
        record = contained.get(reference[1:], {})
    elif isinstance(reference, str) and reference.startswith("Patient/") and resolve is not None:
        record = resolve(reference) or {}
    if record and record.get("resourceType") != "Patient":
        raise InvalidPrescription(f"{MR}.subject", reference, "is not a Patient")
    patient_id = _patient_id(subject, record)
    patient: dict[str, Any] = {"id": patient_id}
    birth = record.get("birthDate")
    if birth is not None:
        born = _instant(birth, f"{MR}.subject.birthDate")
        if born > written_at:
            raise InvalidPrescription(f"{MR}.subject.birthDate", birth, "is after the order")
        patient["age_years"] = round((written_at - born).days / 365.25, 2)
    ours = _subject_keys(subject, contained)
    ours |= {_identifier_key(i) for i in _list(record.get("identifier"))} - {""}
    fields: dict[str, str] = {}
    for path, observation in _observations(data, resolve):
        codes = {
            _dict(c).get("code")
            for c in _list(_dict(observation.get("code")).get("coding"))
            if _dict(c).get("system") == LOINC
        }
        for name, wanted, factors in (
            ("weight", BODY_WEIGHT_CODES, KG_PER_UNIT),
            ("height", BODY_HEIGHT_CODES, CM_PER_UNIT),
        ):
            if not codes & wanted:
                continue
            if name in patient:
                raise InvalidPrescription(
                    path,
                    f"body {name}",
                    f"is a second body-{name} Observation (the first is {fields[name]}): "
                    "send the one to dose by",
                )
            patient[name] = _measurement(observation, path, factors, ours, patient_id)
            fields[name] = path
    return patient, fields


def _patient_id(subject: dict[str, Any], record: dict[str, Any]) -> str:
    reference = subject.get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    for identifier in [
        _dict(subject.get("identifier")),
        *map(_dict, _list(record.get("identifier"))),
    ]:
        if identifier.get("value"):
            return str(identifier["value"])
    raise InvalidPrescription(f"{MR}.subject", _brief(subject or MISSING), "must name a Patient")


def _subject_keys(subject: dict[str, Any], contained: dict[str, dict[str, Any]]) -> set[str]:
    """A subject as comparable keys: its reference, and each identifier as system|value."""
    keys = set()
    reference = subject.get("reference")
    if isinstance(reference, str) and reference:
        keys.add(reference)
        if reference.startswith("#"):
            for identifier in _list(contained.get(reference[1:], {}).get("identifier")):
                keys.add(_identifier_key(identifier))
    if "identifier" in subject:
        keys.add(_identifier_key(subject["identifier"]))
    return keys - {""}


def _identifier_key(identifier: Any) -> str:
    identifier = _dict(identifier)
    value = identifier.get("value")
    return f"{identifier.get('system', '')}|{value}" if value else ""


def _same_patient(ours: set[str], theirs: set[str]) -> bool:
    """One key in common and no identifier system naming someone else."""
    systems = {key.split("|")[0]: key for key in ours if "|" in key}
    for key in theirs:
        system = key.split("|")[0] if "|" in key else None
        if system is not None and system in systems and systems[system] != key:
            return False
    return bool(ours & theirs)


def _observations(
    data: dict[str, Any], resolve: Resolver | None
) -> list[tuple[str, dict[str, Any]]]:
    """(where it is, the resource) for contained Observations and referenced ones (the
    resolver); a reference that cannot be resolved is refused."""
    found = [
        (f"{MR}.contained[{index}]", _dict(item))
        for index, item in enumerate(_list(data.get("contained")))
        if _dict(item).get("resourceType") == "Observation"
    ]
    for index, reference in enumerate(_list(data.get("supportingInformation"))):
        target = _dict(reference).get("reference") or ""
        if not isinstance(target, str) or not target.startswith("Observation/"):
            continue
        resolved = resolve(target) if resolve else None
        if not isinstance(resolved, dict) or resolved.get("resourceType") != "Observation":
            raise InvalidPrescription(
                f"{MR}.supportingInformation[{index}]", target, "cannot be resolved"
            )
        found.append((target, resolved))
    return found


def _measurement(
    observation: dict[str, Any],
    path: str,
    factors: dict[str, Decimal],
    ours: set[str],
    patient_id: str,
) -> dict[str, Any]:
    """The Observation as a native measurement; its status, subject and date are questioned by
    printmed.intake.clinical (the one place for every way in)."""
    if "modifierExtension" in observation:
        raise InvalidPrescription(
            f"{path}.modifierExtension",
            _brief(observation["modifierExtension"]),
            WHY_REFUSED["modifierExtension"],
        )
    quantity = _dict(observation.get("valueQuantity"))
    if not quantity:
        raise InvalidPrescription(f"{path}.valueQuantity", MISSING, "is required")
    unit = _ucum(quantity, f"{path}.valueQuantity", set(factors))
    value = _positive(quantity.get("value"), f"{path}.valueQuantity.value")
    status = observation.get("status")
    if not isinstance(status, str):
        raise InvalidPrescription(f"{path}.status", status, "is required")
    subject = _dict(observation.get("subject"))
    theirs = _subject_keys(subject, {})
    if not theirs:
        raise InvalidPrescription(f"{path}.subject", MISSING, "is required (whose measurement)")
    named = patient_id if _same_patient(ours, theirs) else ", ".join(sorted(theirs))
    effective = _effective(observation, path)
    return {
        "value": value,
        "unit": unit,
        "status": status,
        "subject": named,
        "effective": effective.isoformat(),
        "source": f"{path} (#{observation['id']})" if "id" in observation else path,
    }


def _effective(observation: dict[str, Any], path: str) -> dt.datetime:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in observation:
            return _instant(observation[key], f"{path}.{key}")
    period = _dict(observation.get("effectivePeriod"))
    if "start" in period:  # the earlier end: the older, so the stricter, date
        return _instant(period["start"], f"{path}.effectivePeriod.start")
    raise InvalidPrescription(
        f"{path}.effective[x]", MISSING, "is required: when was the patient measured?"
    )


def _instant(text: Any, field: str) -> dt.datetime:
    """A FHIR date or dateTime as an aware datetime (a date is its first moment, UTC)."""
    if not isinstance(text, str):
        raise InvalidPrescription(field, text, "is not a date")
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidPrescription(
            field, text, "is not a date to the day (YYYY-MM-DD or a dateTime)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidPrescription(field, text, "has a time but no timezone")
    return moment


# ---------------------------------------------------------------- raw JSON helpers


def _shape(value: str) -> dict[str, Any]:
    """The tablet-shape extension as native fields: a built-in shape ("round"), a bundled mesh
    ("mesh:star") or an uploaded one ("mesh:" and its SHA-256)."""
    if not value.startswith("mesh:"):
        return {"shape": value}
    named = value.removeprefix("mesh:")
    key = "sha256" if len(named) == 64 and all(c in "0123456789abcdef" for c in named) else "name"
    return {"shape": "mesh", "mesh": {key: named}}


def _extension(data: dict[str, Any], url: str) -> str | None:
    for extension in _list(data.get("extension")):
        extension = _dict(extension)
        if extension.get("url") == url:
            value = extension.get("valueString") or extension.get("valueCode")
            return str(value) if value else None
    return None


def _dict(value: Any) -> dict[str, Any]:
    # read from the raw JSON (structure checked by fhir.resources), where members may be absent
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def _positive(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidPrescription(field, MISSING if value is None else value, "is not a number")
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise InvalidPrescription(field, number, "must be a positive finite number")
    return number


def warm_up(order: dict[str, Any]) -> None:
    """Read `order` (a bundled MedicationRequest) as an order is read, so the FHIR models and
    their validators are built before the first real order, not during it. Refusals (the
    bundled order's measurements may be too old by now) are expected; nothing is kept."""
    with contextlib.suppress(DosingError):
        prescription_from_fhir(order, choose_formulation=lambda name, code: name)
