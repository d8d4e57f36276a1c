"""The order's indication (FHIR reasonCode) is read for the pharmacist who screens it: each
concept's text, else its coding's display, else its code; a reasonCode that is not a list of
concepts is refused naming it; no indication is no indication, never a guess."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.errors import InvalidPrescription
from tests.intake.orders import fhir, fhir_order

SNOMED = "http://snomed.info/sct"


def with_reasons(*concepts: Any) -> dict[str, Any]:
    order = fhir_order()
    order["reasonCode"] = list(concepts)
    return order


def test_an_order_without_a_reason_has_no_indication() -> None:
    order = fhir_order()
    order.pop("reasonCode", None)
    assert fhir(order).indication is None


def test_the_text_then_the_display_then_the_code_names_each_reason() -> None:
    order = with_reasons(
        {"text": "Infantile haemangioma", "coding": [{"system": SNOMED, "code": "1"}]},
        {"coding": [{"system": SNOMED, "code": "2", "display": "Hypertension"}]},
        {"coding": [{"system": SNOMED, "code": "38341003"}]},
    )
    assert fhir(order).indication == "Infantile haemangioma; Hypertension; 38341003"


@pytest.mark.parametrize(
    ("reason", "field"),
    [
        ("haemangioma", "MedicationRequest.reasonCode"),
        ([], "MedicationRequest.reasonCode"),
        (["haemangioma"], "MedicationRequest.reasonCode[0]"),
        ([{"coding": [{"system": SNOMED}]}], "MedicationRequest.reasonCode[0]"),
        ([{"text": "  "}], "MedicationRequest.reasonCode[0]"),
        ([{"text": "x" * 201}], "MedicationRequest.reasonCode"),
    ],
)
def test_a_reason_that_names_nothing_is_refused_naming_it(reason: Any, field: str) -> None:
    order = fhir_order()
    order["reasonCode"] = reason
    with pytest.raises(InvalidPrescription) as refused:
        fhir(order)
    assert refused.value.field == field


@given(st.text(min_size=1, max_size=60).filter(lambda t: t.strip()))
def test_any_stated_text_is_the_indication_as_written(text: str) -> None:
    assert fhir(with_reasons({"text": text})).indication == text.strip()
