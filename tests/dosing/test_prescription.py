"""The native prescription form: what it accepts and how it refuses."""

from __future__ import annotations

import pytest

from dosing.errors import InvalidPrescription
from dosing.prescription import parse_prescription
from tests.dosing.conftest import rx_data


def test_the_issue_example_is_accepted_with_its_values():
    rx = parse_prescription(rx_data())
    assert rx.patient.weight_kg == 12.4
    assert rx.dose.unit == "mg/kg"
    assert rx.units == 28
    assert rx.bsa_formula == "mosteller"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("patient.weight_kg", 0, "patient.weight_kg: 0 is invalid"),
        ("patient.weight_kg", 400, "patient.weight_kg: 400 is invalid"),
        ("patient.weight_kg", -3.5, "patient.weight_kg: -3.5 is invalid"),
        ("patient.weight_kg", "12", "patient.weight_kg: '12' is invalid"),
        ("dose.unit", "mg/lb", "dose.unit: 'mg/lb' is invalid"),
        ("dose.value", -1, "dose.value: -1 is invalid"),
        ("dose.value", float("nan"), "dose.value: nan is invalid"),
        ("shape", "heart", "shape: 'heart' is invalid"),
        ("units", 0, "units: 0 is invalid"),
        ("id", "../etc", "id: '../etc' is invalid"),
    ],
)
def test_out_of_range_or_malformed_field_is_named_with_its_value(path, value, expected):
    with pytest.raises(InvalidPrescription) as caught:
        parse_prescription(rx_data(**{path: value}))
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_missing_field_is_named():
    with pytest.raises(InvalidPrescription, match=r"^patient\.weight_kg: \(missing\) is required$"):
        parse_prescription(rx_data(**{"patient.weight_kg": ...}))


def test_unknown_field_is_refused_rather_than_ignored():
    with pytest.raises(InvalidPrescription, match=r"^patient\.weight_lb: 27 is not a field"):
        parse_prescription(rx_data(**{"patient.weight_lb": 27}))


def test_optional_fields_may_be_left_out():
    rx = parse_prescription(
        rx_data(**{"max_single_dose_mg": ..., "patient.height_cm": ..., "patient.age_years": ...})
    )
    assert rx.max_single_dose_mg is None
    assert rx.patient.height_cm is None


def test_a_json_array_is_not_a_prescription():
    with pytest.raises(InvalidPrescription, match=r"^prescription: list is not a JSON object$"):
        parse_prescription([1, 2])


@pytest.mark.parametrize("name", ["height", "weight"])
def test_a_null_number_beside_a_recorded_measurement_takes_the_measurement(name):
    # found by schemathesis: "height_cm": null beside a recorded height was a server error
    unit, value = {"height": ("[in_i]", 34.0), "weight": ("[lb_av]", 30.0)}[name]
    record = {
        "value": value,
        "unit": unit,
        "effective": "2026-11-20T08:15:00Z",
        "status": "final",
        "subject": "TEST-PATIENT-1",
        "source": f"Observation/{name}-1",
    }
    number = {"height": "patient.height_cm", "weight": "patient.weight_kg"}[name]
    rx = parse_prescription(rx_data(**{f"patient.{name}": record, number: None}))
    expected = {"height": 34.0 * 2.54, "weight": 30.0 * 0.45359237}[name]
    assert getattr(rx.patient, number.split(".")[1]) == pytest.approx(expected, rel=1e-12)
