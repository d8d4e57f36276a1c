"""Nothing a prescriber wrote is silently dropped: every element of a MedicationRequest that
could change what or how much the patient takes is read, or the order is refused naming it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B import dosage, medicationrequest, timing

from dosing.errors import InvalidPrescription
from printmed.intake import fhir_order
from tests.intake.orders import UCUM, fhir
from tests.intake.orders import fhir_order as order_of_issue

Change = Callable[[dict[str, Any]], None]
DOSAGE = "MedicationRequest.dosageInstruction[0]"
REPEAT = f"{DOSAGE}.timing.repeat"


def dosage_of(order: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = order["dosageInstruction"][0]
    return step


def repeat_of(order: dict[str, Any]) -> dict[str, Any]:
    repeat: dict[str, Any] = dosage_of(order)["timing"]["repeat"]
    return repeat


def days(value: float, code: str = "d") -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def mg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


def set_dosage(key: str, value: Any) -> Change:
    return lambda order: dosage_of(order).__setitem__(key, value)


def set_repeat(key: str, value: Any) -> Change:
    return lambda order: repeat_of(order).__setitem__(key, value)


def set_order(key: str, value: Any) -> Change:
    return lambda order: order.__setitem__(key, value)


def set_dispense(key: str, value: Any) -> Change:
    return lambda order: order["dispenseRequest"].__setitem__(key, value)


def second_step(order: dict[str, Any]) -> None:
    order["dosageInstruction"].append(dict(dosage_of(order), text="then 0.5 mg/kg"))


def second_dose_and_rate(order: dict[str, Any]) -> None:
    rates = dosage_of(order)["doseAndRate"]
    rates.append({"doseQuantity": dict(rates[0]["doseQuantity"], value=0.5)})


def medication_reference(order: dict[str, Any]) -> None:
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/propranolol-oral-solution"}


def second_weight(order: dict[str, Any]) -> None:
    order["contained"].append(dict(order["contained"][0], id="weight-2"))


REFUSED: list[tuple[str, Change, str]] = [
    ("a second dosage step without a sequence", second_step, f"{DOSAGE}.sequence"),
    ("a second dose or rate", second_dose_and_rate, f"{DOSAGE}.doseAndRate[1]"),
    (
        "a dose range",
        lambda o: dosage_of(o).__setitem__(
            "doseAndRate", [{"doseRange": {"low": mg(5), "high": mg(10)}}]
        ),
        f"{DOSAGE}.doseAndRate[0].doseRange",
    ),
    (
        "a rate",
        lambda o: dosage_of(o)["doseAndRate"][0].__setitem__("rateQuantity", mg(1)),
        f"{DOSAGE}.doseAndRate[0].rateQuantity",
    ),
    ("as needed", set_dosage("asNeededBoolean", True), f"{DOSAGE}.asNeededBoolean"),
    (
        "as needed for a reason",
        set_dosage("asNeededCodeableConcept", {"text": "for pain"}),
        f"{DOSAGE}.asNeededCodeableConcept",
    ),
    (
        "a lifetime maximum",
        set_dosage("maxDosePerLifetime", mg(500)),
        f"{DOSAGE}.maxDosePerLifetime",
    ),
    (
        "an additional instruction",
        set_dosage("additionalInstruction", [{"text": "halve the dose after 3 days"}]),
        f"{DOSAGE}.additionalInstruction",
    ),
    ("a method", set_dosage("method", {"text": "dissolve in water"}), f"{DOSAGE}.method"),
    ("a site", set_dosage("site", {"text": "buccal"}), f"{DOSAGE}.site"),
    (
        "a route that is not oral",
        set_dosage(
            "route",
            {"coding": [{"system": "http://snomed.info/sct", "code": "37161004"}]},
        ),
        f"{DOSAGE}.route",
    ),
    (
        "a dosage modifier extension",
        set_dosage("modifierExtension", [{"url": "http://x.example/hold", "valueBoolean": True}]),
        f"{DOSAGE}.modifierExtension",
    ),
    (
        "timing events",
        lambda o: dosage_of(o)["timing"].__setitem__("event", ["2026-11-25T08:00:00Z"]),
        f"{DOSAGE}.timing.event",
    ),
    (
        "a timing code",
        lambda o: dosage_of(o)["timing"].__setitem__("code", {"text": "TID"}),
        f"{DOSAGE}.timing.code",
    ),
    (
        "bounds as a period that disagrees with the supply (8 days, twice a day)",
        set_repeat("boundsPeriod", {"start": "2026-11-25", "end": "2026-12-02"}),
        f"{REPEAT}.boundsPeriod",
    ),
    (
        "bounds as a range",
        set_repeat("boundsRange", {"low": days(5), "high": days(7)}),
        f"{REPEAT}.boundsRange",
    ),
    (
        "a duration that disagrees with the supply",
        set_repeat("boundsDuration", days(7)),
        f"{REPEAT}.boundsDuration",
    ),
    ("a count that disagrees with the supply", set_repeat("count", 14), f"{REPEAT}.count"),
    ("a count range", set_repeat("countMax", 4), f"{REPEAT}.countMax"),
    ("a duration of each dose", set_repeat("duration", 30), f"{REPEAT}.duration"),
    ("a longest duration", set_repeat("durationMax", 30), f"{REPEAT}.durationMax"),
    ("a frequency range", set_repeat("frequencyMax", 3), f"{REPEAT}.frequencyMax"),
    ("a period range", set_repeat("periodMax", 2), f"{REPEAT}.periodMax"),
    ("days of the week", set_repeat("dayOfWeek", ["mon", "thu"]), f"{REPEAT}.dayOfWeek"),
    ("times of day", set_repeat("timeOfDay", ["08:00:00", "20:00:00"]), f"{REPEAT}.timeOfDay"),
    ("meal times", set_repeat("when", ["ACM", "ACV"]), f"{REPEAT}.when"),
    (
        "a weekly maximum",
        set_dosage("maxDosePerPeriod", {"numerator": mg(100), "denominator": days(1, "wk")}),
        f"{DOSAGE}.maxDosePerPeriod.denominator",
    ),
    (
        "a maximum per administration in grams",
        set_dosage("maxDosePerAdministration", {**mg(0.04), "unit": "g", "code": "g"}),
        f"{DOSAGE}.maxDosePerAdministration.code",
    ),
    (
        "a dose with a comparator",
        lambda o: dosage_of(o)["doseAndRate"][0]["doseQuantity"].__setitem__("comparator", "<"),
        f"{DOSAGE}.doseAndRate[0].doseQuantity.comparator",
    ),
    ("a Medication reference", medication_reference, "MedicationRequest.medicationReference"),
    ("do not perform", set_order("doNotPerform", True), "MedicationRequest.doNotPerform"),
    ("a note", set_order("note", [{"text": "give half"}]), "MedicationRequest.note"),
    (
        "an order modifier extension",
        set_order("modifierExtension", [{"url": "http://x.example/hold", "valueBoolean": True}]),
        "MedicationRequest.modifierExtension",
    ),
    (
        "implicit rules",
        set_order("implicitRules", "http://x.example/rules"),
        "MedicationRequest.implicitRules",
    ),
    (
        "an initial fill",
        set_dispense("initialFill", {"quantity": {"value": 1}}),
        "MedicationRequest.dispenseRequest.initialFill",
    ),
    (
        "repeat supplies",
        set_dispense("numberOfRepeatsAllowed", 2),
        "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed",
    ),
    (
        "a supply duration that disagrees with the supply",
        set_dispense("expectedSupplyDuration", days(14)),
        "MedicationRequest.dispenseRequest.expectedSupplyDuration",
    ),
    (
        "an order that has expired",
        set_dispense("validityPeriod", {"start": "2026-11-24", "end": "2026-11-28"}),
        "MedicationRequest.dispenseRequest.validityPeriod.end",
    ),
    (
        "a supply in tablets, not doses",
        lambda o: o["dispenseRequest"]["quantity"].__setitem__("unit", "tablet"),
        "MedicationRequest.dispenseRequest.quantity.unit",
    ),
    ("a second body weight", second_weight, "MedicationRequest.contained[2]"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in REFUSED], ids=[w for w, _, _ in REFUSED]
)
def test_an_element_that_is_not_read_refuses_the_order_naming_it(change: Change, field: str):
    order = order_of_issue()
    change(order)
    with pytest.raises(InvalidPrescription) as refused:
        fhir(order)
    assert refused.value.field == field


READ: list[tuple[str, Change]] = [
    (
        "a duration that agrees with the supply (1 day, twice a day, 2 doses)",
        set_repeat("boundsDuration", days(1)),
    ),
    ("the same in hours", set_repeat("boundsDuration", days(24, "h"))),
    ("a count that agrees with the supply", set_repeat("count", 2)),
    (
        "a period of one day that agrees with the supply",
        set_repeat("boundsPeriod", {"start": "2026-11-25", "end": "2026-11-25"}),
    ),
    ("a supply duration that agrees", set_dispense("expectedSupplyDuration", days(1))),
    ("not as needed", set_dosage("asNeededBoolean", False)),
    ("not do-not-perform", set_order("doNotPerform", False)),
    ("no repeats", set_dispense("numberOfRepeatsAllowed", 0)),
    ("a validity period still open", set_dispense("validityPeriod", {"end": "2026-12-24"})),
    (
        "a daily maximum per 24 hours",
        lambda o: dosage_of(o)["maxDosePerPeriod"].__setitem__("denominator", days(24, "h")),
    ),
    ("a sequence number", set_dosage("sequence", 1)),
    ("who asked and why", set_order("reasonCode", [{"text": "infantile haemangioma"}])),
]


@pytest.mark.parametrize("change", [c for _, c in READ], ids=[w for w, _ in READ])
def test_an_element_that_is_read_and_agrees_is_accepted(change: Change):
    order = order_of_issue()
    change(order)
    rx = fhir(order)
    assert (rx.units, rx.frequency_per_day, rx.max_daily_dose_mg) == (2, 2, 24.8)


def test_the_weaning_order_is_read_as_a_schedule_of_its_three_steps():
    from tests.api.payloads import weaning_order

    rx = fhir(weaning_order())
    assert rx.schedule is not None
    steps = [(s.dose.value, s.dose.unit, s.frequency_per_day, s.days) for s in rx.schedule]
    assert steps == [(10.0, "mg", 2, 7), (7.5, "mg", 2, 7), (5.0, "mg", 2, 7)]
    assert (rx.units, rx.dose.value, rx.frequency_per_day) == (42, 10.0, 2)


def test_the_prescribers_words_are_kept_as_written_for_the_pharmacist() -> None:
    order = order_of_issue()
    set_dosage("patientInstruction", "  one in the morning, two at night ")(order)
    words = fhir(order).prescriber_words or []
    assert [(w.kind, w.text, w.step) for w in words] == [
        ("dosage", "1 mg/kg twice a day (at most 24.8 mg a day)", None),
        ("patient", "one in the morning, two at night", None),
    ]


def test_each_steps_words_are_kept_with_the_step_they_belong_to() -> None:
    from tests.api.payloads import weaning_order

    words = fhir(weaning_order()).prescriber_words or []
    assert [(w.step, w.text) for w in words] == [
        (1, "10 mg twice a day for 7 days"),
        (2, "7.5 mg twice a day for 7 days"),
        (3, "5 mg twice a day for 7 days"),
    ]


def test_words_too_long_to_keep_whole_refuse_the_order_naming_them() -> None:
    order = order_of_issue()
    set_dosage("patientInstruction", "take with food. " * 70)(order)
    with pytest.raises(InvalidPrescription) as refused:
        fhir(order)
    assert refused.value.field == f"{DOSAGE}.patientInstruction"
    assert "over 1000 characters" in refused.value.reason


def test_an_order_without_words_keeps_none() -> None:
    order = order_of_issue()
    del dosage_of(order)["text"]
    assert fhir(order).prescriber_words is None


def test_the_daily_maximum_and_the_order_date_are_read():
    rx = fhir(order_of_issue())
    assert rx.max_daily_dose_mg == 24.8
    assert rx.max_single_dose_mg is None
    assert rx.authored_at is not None and rx.authored_at.isoformat() == "2026-11-24T10:00:00+00:00"


def _fields(model: Any) -> set[str]:
    return {
        name.removesuffix("__ext")
        for name in model.model_fields
        if name not in ("fhir_comments", "resource_type")
    }


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (medicationrequest.MedicationRequest, fhir_order.MR),
        (dosage.Dosage, "dosage"),
        (dosage.DosageDoseAndRate, "doseAndRate"),
        (timing.Timing, "timing"),
        (timing.TimingRepeat, "repeat"),
        (medicationrequest.MedicationRequestDispenseRequest, "dispenseRequest"),
    ],
)
def test_every_element_is_either_read_or_named_as_refused_in_the_module_docstring(model, kind):
    doc = fhir_order.__doc__ or ""
    refused_part = doc[doc.index("Refused") : doc.index("Accepted, not read")]
    words = set(re.findall(r"[A-Za-z]+", refused_part))
    unaccounted = _fields(model) - fhir_order.KNOWN[kind] - words
    assert unaccounted == set()
