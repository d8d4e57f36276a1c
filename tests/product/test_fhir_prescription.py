"""FHIR R4 MedicationRequest in: the same dose as the native form, and clear refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dosing.errors import InvalidPrescription
from printmed.catalog import fixtures_dir
from printmed.intake import read_prescription
from printmed.intake.fhir_order import prescription_from_fhir
from printmed.manufacture import dose_for

PRESCRIPTIONS = fixtures_dir() / "prescriptions"


def child_order() -> dict:
    return json.loads((PRESCRIPTIONS / "propranolol-child.fhir.json").read_text())


def test_fhir_order_gives_the_same_dose_as_the_native_form():
    fhir = read_prescription(PRESCRIPTIONS / "propranolol-child.fhir.json")
    native = read_prescription(PRESCRIPTIONS / "propranolol-child.json")
    assert fhir.patient.weight_kg == native.patient.weight_kg == 12.4
    assert fhir.patient.height_cm == 88
    assert fhir.max_single_dose_mg == 40
    assert fhir.frequency_per_day == 2
    assert fhir.units == 28
    assert dose_for(fhir)[1].dose_mg == dose_for(native)[1].dose_mg == 12.5


def test_referenced_weight_observation_is_read_from_beside_the_file():
    rx = read_prescription(PRESCRIPTIONS / "theophylline-adult.fhir.json")
    assert rx.patient.weight_kg == 70
    assert rx.formulation == "theophylline-eudragit-30"  # the one usable lot of theophylline
    assert rx.shape == "ring"


def test_a_bundle_is_refused_clearly():
    with pytest.raises(InvalidPrescription, match=r"^resourceType: 'Bundle' is not accepted"):
        prescription_from_fhir({"resourceType": "Bundle", "type": "transaction", "entry": []})


def test_weight_based_order_without_weight_is_refused():
    order = child_order()
    order["contained"] = [o for o in order["contained"] if o["id"] != "weight"]
    order["supportingInformation"] = [{"reference": "#height"}]
    with pytest.raises(InvalidPrescription, match=r"body weight\): \(missing\) is required"):
        prescription_from_fhir(order)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda o: o.update(status="cancelled"),
            r"^MedicationRequest\.status: 'cancelled' is not an active order",
        ),
        (lambda o: o.update(intent="plan"), r"^MedicationRequest\.intent: 'plan' is not one of"),
        (
            lambda o: o["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(
                code="mg/lb"
            ),
            r"doseQuantity\.code: 'mg/lb' is not one of",
        ),
        (
            lambda o: o["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=-1),
            r"doseQuantity\.value: -1 must be a positive finite number",
        ),
        (
            lambda o: o["contained"][0]["valueQuantity"].update(code="lb", unit="lb"),
            r"valueQuantity\.code: 'lb' is not one of",
        ),
        (
            lambda o: o["dosageInstruction"][0]["timing"]["repeat"].update(frequency=3, period=2),
            r"is not a whole number of doses a day",
        ),
        (lambda o: o.update(status=5), r"^MedicationRequest\.status: 5 is invalid"),
    ],
)
def test_values_fhir_resources_lets_through_are_refused_by_our_checks(change, expected):
    order = copy.deepcopy(child_order())
    change(order)
    with pytest.raises(InvalidPrescription, match=expected):
        prescription_from_fhir(order)


def test_mg_per_m2_needs_a_height_observation(tmp_path: Path):
    order = child_order()
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(
        code="mg/m2", unit="mg/m2"
    )
    order["contained"] = [o for o in order["contained"] if o["id"] != "height"]
    with pytest.raises(InvalidPrescription, match=r"body height\): \(missing\) is required"):
        prescription_from_fhir(order)
