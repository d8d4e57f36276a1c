"""Issue 13's unsafe orders, as a prescribing system sends them (FHIR and native JSON): each is
refused with a 4xx naming the element and its value, and nothing is recorded — no batch, no
order, no G-code, no audit entry. The safe order of the issue is rounded down, not up.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from printmed.app import create_app
from printmed.settings import Settings
from printmed.store import open_store
from printmed.store.models import AuditEntry, Batch, Order, StoredGcode
from tests.api.conftest import Callers, api_settings
from tests.api.fhir_helpers import batch_of, post_order
from tests.api.payloads import (
    ANOTHER_CHILD,
    PER_DAY_24_8_MG,
    native_measured_order,
    uk_core_order,
    weaning_order,
)

PROBLEM = "application/problem+json"
Order_ = dict[str, Any]


def recorded(settings: Settings) -> dict[str, int]:
    """How many rows of each kind a refusal must not add."""
    store = open_store(settings.database_url)
    try:
        with store.session() as session:
            return {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Batch, Order, StoredGcode, AuditEntry)
            }
    finally:
        store.dispose()


def weight_entered_in_error(order: Order_) -> None:
    order["contained"][0]["status"] = "entered-in-error"


def weight_of_another_child(order: Order_) -> None:
    order["contained"][0]["subject"] = {"identifier": copy.deepcopy(ANOTHER_CHILD)}


def weight_naming_both_children(order: Order_) -> None:
    order["contained"][0]["subject"]["identifier"] = copy.deepcopy(ANOTHER_CHILD)


def max_daily_dose_too_tight_to_round_under(order: Order_) -> None:
    # A 6.4 kg infant: 6.4 mg twice a day, at most 12.8 mg a day. The nearest 0.5 mg step,
    # 6.5 mg, is above it; the step under it, 6 mg, is 6.25 % away: more than 5 % is refused.
    order["contained"][0]["valueQuantity"]["value"] = 6.4
    order["dosageInstruction"][0]["maxDosePerPeriod"] = copy.deepcopy(PER_DAY_24_8_MG)
    order["dosageInstruction"][0]["maxDosePerPeriod"]["numerator"]["value"] = 12.8


def dose_above_the_drugs_limit(order: Order_) -> None:
    # 3 mg/kg × 12.4 kg = 37.2 mg a dose; propranolol's limit on file is 2 mg/kg a dose (with
    # no prescribed maximum to cap it first)
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 3
    del order["dosageInstruction"][0]["maxDosePerPeriod"]


FHIR_CASES: list[tuple[Callable[[Order_], None], str, Any]] = [
    (weight_entered_in_error, "MedicationRequest.contained[0].status", "entered-in-error"),
    (
        weight_of_another_child,
        "MedicationRequest.contained[0].subject",
        "https://fhir.nhs.uk/Id/nhs-number|9990000026",
    ),
    (
        weight_naming_both_children,
        "MedicationRequest.contained[0].subject",
        "Patient/TEST-PATIENT-1, https://fhir.nhs.uk/Id/nhs-number|9990000026",
    ),
    (
        dose_above_the_drugs_limit,
        "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity",
        "max_mg_per_kg_per_dose of 2 mg/kg a dose",
    ),
    (
        max_daily_dose_too_tight_to_round_under,
        "MedicationRequest.dosageInstruction[0].maxDosePerPeriod",
        12.8,
    ),
]


@pytest.mark.parametrize(("change", "field", "value"), FHIR_CASES)
def test_an_unsafe_fhir_order_is_refused_naming_the_element_and_nothing_is_recorded(
    client: TestClient,
    callers: Callers,
    settings: Settings,
    change: Callable[[Order_], None],
    field: str,
    value: Any,
) -> None:
    before = recorded(settings)
    order = uk_core_order()
    change(order)
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [field]
    assert str(value) in issue["diagnostics"]
    assert recorded(settings) == before


def test_the_weaning_order_is_made_as_a_taper_each_tablet_gated_to_its_own_step(
    client: TestClient, callers: Callers
) -> None:
    answer = post_order(client, weaning_order(), callers["epma"])
    assert answer.status_code == 201, answer.text
    batch = batch_of(client, answer.json()["id"], callers["epma"])
    assert batch["state"] == "verified"
    assert [step["dose_mg"] for step in batch["dose"]["steps"]] == [10.0, 7.5, 5.0]
    record = client.get(f"/api/v1/batches/{batch['batch_number']}/record", headers=callers["tech"])
    tablets = record.json()["fields"]["gate_json"]["tablets"]
    assert [t["target_mg"] for t in tablets] == [10.0] * 14 + [7.5] * 14 + [5.0] * 14
    assert all(abs(t["deviation"]) <= 0.01 for t in tablets)


def test_a_weaning_step_beyond_its_maximum_refuses_the_order_naming_that_step(
    client: TestClient, callers: Callers, settings: Settings
) -> None:
    before = recorded(settings)
    order = weaning_order()
    order["dosageInstruction"][2]["maxDosePerAdministration"] = {
        "value": 4,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [
        "MedicationRequest.dosageInstruction[2].doseAndRate[0].doseQuantity.value"
    ]
    assert "above max_single_dose_mg 4" in issue["diagnostics"]
    assert recorded(settings) == before
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []


def test_the_issue_order_rounds_down_to_12_mg_to_stay_within_24_8_mg_a_day(
    client: TestClient, callers: Callers
) -> None:
    answer = post_order(client, uk_core_order(doses=2), callers["epma"])
    assert answer.status_code == 201, answer.text
    batch = batch_of(client, answer.json()["id"], callers["epma"])
    assert batch["dose"]["calculated_mg"] == pytest.approx(12.4)
    assert batch["dose"]["dose_mg"] == 12.0  # 12.5 mg twice a day would be 25 mg > 24.8 mg
    steps = {step["step"]: step for step in batch["dose"]["trail"]}
    weight = steps["body weight as recorded"]["inputs"]
    assert (weight["value"], weight["unit"], weight["status"]) == (12.4, "kg", "final")
    assert weight["effective"] == "2026-11-24T09:30:00+00:00"
    assert weight["source"] == "MedicationRequest.contained[0] (#weight)"
    rounding = steps["round down to stay within max_daily_dose_mg"]
    assert rounding["inputs"]["max_daily_dose_mg"] == 24.8
    assert rounding["result"] == 12.0


# ------------------------------------------------------------------ the native form, over the API


def native_entered_in_error(order: Order_) -> None:
    order["patient"]["weight"]["status"] = "entered-in-error"


def native_of_another_child(order: Order_) -> None:
    order["patient"]["weight"]["subject"] = "9990000026"


def native_too_tight_to_round_under(order: Order_) -> None:
    order["patient"]["weight"]["value"] = 6.4
    order["max_daily_dose_mg"] = 12.8


def native_weaning_steps(order: Order_) -> None:
    order["steps"] = [{"dose_mg": 10}, {"dose_mg": 7.5}, {"dose_mg": 5}]


def native_dose_above_the_drugs_limit(order: Order_) -> None:
    order["dose"]["value"] = 3
    order.pop("max_daily_dose_mg", None)


NATIVE_CASES: list[tuple[Callable[[Order_], None], str, Any]] = [
    (native_entered_in_error, "patient.weight.status", "entered-in-error"),
    (native_of_another_child, "patient.weight.subject", "9990000026"),
    (native_too_tight_to_round_under, "max_daily_dose_mg", 12.8),
    (native_dose_above_the_drugs_limit, "dose", 37.2),
]


@pytest.mark.parametrize(("change", "field", "value"), NATIVE_CASES)
def test_an_unsafe_native_order_is_a_problem_naming_the_field_and_nothing_is_recorded(
    client: TestClient,
    callers: Callers,
    settings: Settings,
    change: Callable[[Order_], None],
    field: str,
    value: Any,
) -> None:
    before = recorded(settings)
    order = native_measured_order()
    change(order)
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["tech"])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert (answer.json()["field"], answer.json()["value"]) == (field, value)
    assert recorded(settings) == before


def test_a_native_weaning_course_is_refused_naming_the_field_it_came_in(
    client: TestClient, callers: Callers, settings: Settings
) -> None:
    before = recorded(settings)
    order = native_measured_order()
    native_weaning_steps(order)
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["tech"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "steps"
    assert recorded(settings) == before


def test_the_native_issue_order_rounds_down_and_keeps_the_weight_as_recorded(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/api/v1/prescriptions", json=native_measured_order(), headers=callers["tech"]
    )
    assert answer.status_code == 201, answer.text
    dose = answer.json()["batch"]["dose"]
    assert dose["dose_mg"] == 12.0
    assert dose["trail"][0]["inputs"]["source"] == "Observation/weight-0013"


def test_the_live_check_questions_the_weight_too(client: TestClient, callers: Callers) -> None:
    order = native_measured_order()
    native_entered_in_error(order)
    answer = client.post("/api/v1/prescriptions/check", json=order, headers=callers["tech"])
    assert answer.status_code == 422
    assert answer.json()["field"] == "patient.weight.status"


def test_the_service_judges_recency_by_its_own_settings(
    tmp_path: Path, settings: Settings, callers: Callers
) -> None:
    # weighed 5 days before the order was written: recent by default (90 days for a child of
    # 2.5, 30 for one of unknown age), not when the service allows 3 days under 18
    order, native_one = uk_core_order(), native_measured_order()
    order["contained"][0]["effectiveDateTime"] = "2026-11-19T09:30:00Z"
    native_one["patient"]["weight"]["effective"] = "2026-11-19T09:30:00Z"
    strict = create_app(api_settings(tmp_path, PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_18="3"))
    with TestClient(strict) as client:
        fhir = post_order(client, order, callers["epma"])
        native = client.post("/api/v1/prescriptions", json=native_one, headers=callers["tech"])
    assert fhir.status_code == 422, fhir.text
    assert fhir.json()["issue"][0]["expression"] == ["MedicationRequest.contained[0].effective"]
    assert native.status_code == 422, native.text
    assert native.json()["field"] == "patient.weight.effective"
    assert "at most 3 days old" in native.json()["detail"]
