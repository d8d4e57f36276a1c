"""A body weight or height is used only when its record is final (amended, corrected), of the
order's patient, and recent enough for the patient's age — FHIR Observations and the native
form's recorded measurements alike, each refusal naming the element and the value."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from dosing.errors import InvalidPrescription
from printmed.intake.fhir_order import prescription_from_fhir
from printmed.settings import ObservationWindows, observation_windows
from tests.api.payloads import ANOTHER_CHILD, NHS_NUMBER
from tests.intake.orders import (
    NOW,
    fhir,
    fhir_order,
    measured_days_before,
    native,
    native_order,
)

WEIGHT = "MedicationRequest.contained[0]"
UNUSABLE = ["registered", "preliminary", "cancelled", "entered-in-error", "unknown"]
USABLE = ["final", "amended", "corrected"]


def refusal(read, order) -> InvalidPrescription:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidPrescription) as refused:
        read(order)
    return refused.value


# ------------------------------------------------------------------ status


@pytest.mark.parametrize("status", UNUSABLE)
def test_a_weight_not_final_is_refused_naming_its_status(status: str):
    order = fhir_order()
    order["contained"][0]["status"] = status
    refused = refusal(fhir, order)
    assert (refused.field, refused.value) == (f"{WEIGHT}.status", status)


@pytest.mark.parametrize("status", USABLE)
def test_a_final_amended_or_corrected_weight_is_used(status: str):
    order = fhir_order()
    order["contained"][0]["status"] = status
    assert fhir(order).patient.weight_kg == 12.4


def test_a_height_entered_in_error_is_refused_too():
    order = fhir_order()
    order["contained"][1]["status"] = "entered-in-error"
    assert refusal(fhir, order).field == "MedicationRequest.contained[1].status"


@pytest.mark.parametrize("status", UNUSABLE)
def test_a_native_weight_not_final_is_refused_naming_its_status(status: str):
    order = native_order()
    order["patient"]["weight"]["status"] = status
    refused = refusal(native, order)
    assert (refused.field, refused.value) == ("patient.weight.status", status)


# ------------------------------------------------------------------ whose


def test_a_weight_of_another_nhs_number_is_refused_naming_its_subject():
    order = fhir_order()
    order["contained"][0]["subject"] = {"identifier": copy.deepcopy(ANOTHER_CHILD)}
    refused = refusal(fhir, order)
    assert refused.field == f"{WEIGHT}.subject"
    assert refused.value == f"{NHS_NUMBER}|9990000026"
    assert "TEST-PATIENT-1" in refused.reason


def test_a_weight_whose_reference_matches_but_nhs_number_does_not_is_refused():
    order = fhir_order()
    order["contained"][0]["subject"]["identifier"]["value"] = "9990000026"
    assert refusal(fhir, order).field == f"{WEIGHT}.subject"


def test_a_weight_of_another_patient_reference_is_refused():
    order = fhir_order()
    order["contained"][0]["subject"] = {"reference": "Patient/TEST-PATIENT-2"}
    assert refusal(fhir, order).value == "Patient/TEST-PATIENT-2"


def test_a_weight_matched_by_nhs_number_alone_is_used():
    order = fhir_order()
    order["contained"][0]["subject"] = {"identifier": {"system": NHS_NUMBER, "value": "9990000018"}}
    assert fhir(order).patient.weight_kg == 12.4


def test_a_weight_of_nobody_is_refused():
    order = fhir_order()
    del order["contained"][0]["subject"]
    assert refusal(fhir, order).field == f"{WEIGHT}.subject"


def test_a_native_weight_of_another_patient_is_refused():
    order = native_order()
    order["patient"]["weight"]["subject"] = "TEST-PATIENT-2"
    refused = refusal(native, order)
    assert (refused.field, refused.value) == ("patient.weight.subject", "TEST-PATIENT-2")


# ------------------------------------------------------------------ how recent, by age


def child_of(age_years: float, order: dict | None = None) -> dict:
    """The FHIR order for a child born `age_years` before it was written (contained Patient)."""
    order = order or fhir_order()
    born = dt.date(2026, 11, 24) - dt.timedelta(days=round(age_years * 365.25))
    order["contained"].append(
        {
            "resourceType": "Patient",
            "id": "child",
            "identifier": [{"system": NHS_NUMBER, "value": "9990000018"}],
            "birthDate": born.isoformat(),
        }
    )
    order["subject"] = {"reference": "#child"}
    return order


@pytest.mark.parametrize(
    ("age_years", "days", "used"),
    [
        (0.5, 29, True),
        (0.5, 31, False),
        (10, 89, True),
        (10, 91, False),
        (40, 364, True),
        (40, 366, False),
    ],
)
def test_the_weight_must_be_as_recent_as_the_patients_age_asks(
    age_years: float, days: int, used: bool
):
    order = child_of(age_years)
    order["contained"][0]["effectiveDateTime"] = measured_days_before(days)
    if used:
        assert fhir(order).patient.age_years == pytest.approx(age_years, abs=0.01)
    else:
        refused = refusal(fhir, order)
        assert refused.field == f"{WEIGHT}.effective"
        assert f"{days} days before the order" in refused.reason


def test_a_patient_of_unknown_age_gets_the_strictest_window():
    order = fhir_order()  # no birth date anywhere
    order["contained"][0]["effectiveDateTime"] = measured_days_before(31)
    assert "of unknown age it must be at most 30 days old" in refusal(fhir, order).reason


@pytest.mark.parametrize(("age_years", "days"), [(0.5, 31), (10, 91), (40, 366)])
def test_the_native_weight_must_be_as_recent_as_the_patients_age_asks(age_years: float, days: int):
    order = native_order()
    order["patient"]["age_years"] = age_years
    order["patient"]["weight"]["effective"] = measured_days_before(days)
    assert refusal(native, order).field == "patient.weight.effective"


def test_the_windows_are_set_per_age_in_the_settings():
    windows = observation_windows({"PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_18": "120"})
    assert windows == ObservationWindows(30, 120, 365)
    order = native_order()
    order["patient"]["age_years"] = 10
    order["patient"]["weight"]["effective"] = measured_days_before(100)
    assert native(order, windows=windows).patient.weight_kg == 12.4
    with pytest.raises(InvalidPrescription):
        native(order)  # the default 90 days


def test_the_window_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_1", "7")
    order = native_order()
    order["patient"]["age_years"] = 0.5
    order["patient"]["weight"]["effective"] = measured_days_before(10)
    assert "at most 7 days old" in refusal(native, order).reason


def test_without_an_order_date_the_weight_is_judged_against_now():
    order = fhir_order()
    del order["authoredOn"]
    # measured 5 days before the order was written, 10 days before now
    order["contained"][0]["effectiveDateTime"] = measured_days_before(5)
    assert fhir(order).patient.weight_kg == 12.4
    assert refusal(lambda o: fhir(o, now=NOW + dt.timedelta(days=21)), order).field == (
        f"{WEIGHT}.effective"
    )


def test_a_weight_from_the_future_is_refused():
    order = fhir_order()
    order["contained"][0]["effectiveDateTime"] = (NOW + dt.timedelta(hours=1)).isoformat()
    assert "is in the future" in refusal(fhir, order).reason


def test_an_order_written_in_the_future_is_refused():
    order = fhir_order()
    order["authoredOn"] = "2026-12-24T10:00:00Z"
    assert refusal(fhir, order).field == "MedicationRequest.authoredOn"


@pytest.mark.parametrize(
    ("effective", "field"),
    [
        (None, f"{WEIGHT}.effective[x]"),
        ("2026-11", f"{WEIGHT}.effectiveDateTime"),
        ("2026-11-24T09:30:00", f"{WEIGHT}.effectiveDateTime"),
    ],
)
def test_a_weight_without_a_date_to_the_day_with_timezone_is_refused(effective, field):
    order = fhir_order()
    if effective is None:
        del order["contained"][0]["effectiveDateTime"]
    else:
        order["contained"][0]["effectiveDateTime"] = effective
    assert refusal(fhir, order).field == field


def test_a_weight_dated_to_the_day_counts_from_its_first_moment():
    order = fhir_order()
    order["contained"][0]["effectiveDateTime"] = "2026-11-20"
    assert fhir(order).patient.weight is not None
    assert fhir(order).patient.weight.effective.isoformat() == "2026-11-20T00:00:00+00:00"


def test_a_referenced_weight_is_questioned_under_its_reference():
    order = fhir_order()
    observation = order["contained"].pop(0)
    observation["status"] = "entered-in-error"
    order["supportingInformation"][0] = {"reference": "Observation/w1"}
    with pytest.raises(InvalidPrescription) as refused:
        prescription_from_fhir(
            order, resolve=lambda ref: observation if ref == "Observation/w1" else None, now=NOW
        )
    assert refused.value.field == "Observation/w1.status"
