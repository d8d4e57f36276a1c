"""Body measurements in kg, g or [lb_av] and cm, m or [in_i], converted with exact factors
(1 lb = 0.45359237 kg, 1 in = 2.54 cm); the trail keeps the quantity as written; any other
unit is refused naming it."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.calculate import calculate
from dosing.errors import InvalidPrescription
from printmed import catalog
from tests.intake.orders import NOW, fhir, fhir_order, native, native_order

UCUM = "http://unitsofmeasure.org"


def with_quantity(index: int, value: float, code: str) -> dict:
    """The order of the issue with contained[index] (0 weight, 1 height) as `value` `code`."""
    order = fhir_order()
    quantity = {"value": value, "unit": code, "system": UCUM, "code": code}
    order["contained"][index]["valueQuantity"] = quantity
    return order


def with_weight(value: float, code: str) -> dict:
    return with_quantity(0, value, code)


def with_height(value: float, code: str) -> dict:
    return with_quantity(1, value, code)


def test_a_weight_in_pounds_is_converted_exactly():
    # 27.3 lb × 0.45359237 kg/lb = 12.383071701 kg, exactly
    assert fhir(with_weight(27.3, "[lb_av]")).patient.weight_kg == 12.383071701


def test_a_weight_in_grams_is_converted_exactly():
    assert fhir(with_weight(12400, "g")).patient.weight_kg == 12.4


def test_a_height_in_inches_and_in_metres_is_converted_exactly():
    assert fhir(with_height(34.6, "[in_i]")).patient.height_cm == 87.884
    assert fhir(with_height(0.88, "m")).patient.height_cm == 88.0


def test_the_trail_keeps_the_weight_as_written():
    rx = fhir(with_weight(27.3, "[lb_av]"))
    dose = calculate(rx, catalog.formulation(rx.formulation), on=NOW.date())
    step = dose.trail[0]
    assert step.step == "body weight as recorded"
    assert (step.inputs["value"], step.inputs["unit"]) == (27.3, "[lb_av]")
    assert step.formula == "value * 0.45359237 kg/[lb_av] (exact)"
    assert step.result == 12.383071701


@pytest.mark.parametrize("code", ["lb", "[lb_i]", "kg/m2", "cm", "[oz_av]"])
def test_a_weight_in_any_other_unit_is_refused_naming_it(code: str):
    with pytest.raises(InvalidPrescription) as refused:
        fhir(with_weight(27.3, code))
    assert refused.value.field == "MedicationRequest.contained[0].valueQuantity.code"
    assert refused.value.value == code


@pytest.mark.parametrize("code", ["ft", "[ft_i]", "mm", "kg"])
def test_a_height_in_any_other_unit_is_refused_naming_it(code: str):
    with pytest.raises(InvalidPrescription) as refused:
        fhir(with_height(3, code))
    assert refused.value.field == "MedicationRequest.contained[1].valueQuantity.code"


def test_a_weight_that_is_not_ucum_is_refused_naming_its_system():
    order = fhir_order()
    del order["contained"][0]["valueQuantity"]["system"]
    with pytest.raises(InvalidPrescription) as refused:
        fhir(order)
    assert refused.value.field == "MedicationRequest.contained[0].valueQuantity.system"


def test_a_weight_below_a_value_is_not_a_weight():
    order = fhir_order()
    order["contained"][0]["valueQuantity"]["comparator"] = "<"
    with pytest.raises(InvalidPrescription) as refused:
        fhir(order)
    assert refused.value.field == "MedicationRequest.contained[0].valueQuantity.comparator"


def test_a_native_weight_in_pounds_is_converted_and_another_unit_refused():
    order = native_order()
    order["patient"]["weight"] |= {"value": 27.3, "unit": "[lb_av]"}
    assert native(order).patient.weight_kg == 12.383071701
    order["patient"]["weight"]["unit"] = "lb"
    with pytest.raises(InvalidPrescription) as refused:
        native(order)
    assert (refused.value.field, refused.value.value) == ("patient.weight.unit", "lb")


def test_a_native_weight_in_kg_that_contradicts_the_record_is_refused():
    order = native_order()
    order["patient"]["weight_kg"] = 12.0
    with pytest.raises(InvalidPrescription, match=r"is not the recorded 12\.4 kg"):
        native(order)


@given(
    pounds=st.decimals(min_value="0.5", max_value="700", places=2),
    inches=st.decimals(min_value="10", max_value="98", places=1),
)
def test_conversion_is_the_exact_product_rounded_once(pounds, inches):
    order = native_order()
    order["patient"]["weight"] |= {"value": float(pounds), "unit": "[lb_av]"}
    order["patient"]["height"] = dict(
        order["patient"]["weight"], value=float(inches), unit="[in_i]"
    )
    del order["patient"]["height_cm"]
    patient = native(order).patient
    assert patient.weight_kg == float(Fraction(pounds) * Fraction("0.45359237"))
    assert patient.height_cm == float(Fraction(inches) * Fraction("2.54"))
