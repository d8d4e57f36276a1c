"""How recent a measurement must be, as a rule over any age and any date (Hypothesis): used
exactly when it was taken at most the patient's window of whole days before the order was
written, and never from the future; a prescribing system's bare number is never used."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.errors import InvalidPrescription
from dosing.prescription import parse_prescription
from printmed.intake.clinical import question
from printmed.settings import ObservationWindows
from tests.intake.orders import NOW, WRITTEN, native_order

WINDOWS = ObservationWindows(under_1_year_days=30, under_18_years_days=90, adult_days=365)


def window(age_years: float | None) -> int:
    if age_years is None or age_years < 1:
        return 30
    return 90 if age_years < 18 else 365


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    age_years=st.none() | st.floats(min_value=0, max_value=110, allow_nan=False),
    before=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=800)),
)
def test_a_weight_is_used_exactly_when_within_the_window_for_the_age(
    age_years: float | None, before: dt.timedelta
) -> None:
    order = native_order()
    order["patient"]["age_years"] = age_years
    order["patient"]["weight"]["effective"] = (WRITTEN - before).isoformat()
    rx = parse_prescription(order)
    if before.days <= window(age_years):
        assert question(rx, now=NOW, windows=WINDOWS) is rx
    else:
        with pytest.raises(InvalidPrescription) as refused:
            question(rx, now=NOW, windows=WINDOWS)
        assert refused.value.field == "patient.weight.effective"
        assert f"is {before.days} days before the order was written" in refused.value.reason


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(ahead=st.timedeltas(min_value=dt.timedelta(minutes=6), max_value=dt.timedelta(days=60)))
def test_a_weight_from_the_future_is_never_used(ahead: dt.timedelta) -> None:
    order = native_order()
    order["patient"]["weight"]["effective"] = (NOW + ahead).isoformat()
    with pytest.raises(InvalidPrescription, match="is in the future"):
        question(parse_prescription(order), now=NOW, windows=WINDOWS)


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(weight_kg=st.floats(min_value=0.3, max_value=350, allow_nan=False))
def test_a_prescribing_systems_bare_weight_is_never_used(weight_kg: float) -> None:
    order = native_order()
    del order["patient"]["weight"]
    order["patient"]["weight_kg"] = weight_kg
    rx = parse_prescription(order)
    assert question(rx, now=NOW) is rx  # a staff member's own entry
    with pytest.raises(InvalidPrescription) as refused:
        question(rx, now=NOW, as_recorded=True)
    assert (refused.value.field, refused.value.value) == ("patient.weight_kg", weight_kg)
