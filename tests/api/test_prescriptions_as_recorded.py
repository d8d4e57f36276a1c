"""/api/v1/prescriptions from a prescribing system: body measurements as recorded (a bare number
has no date to question), the batch queued for a profile or one registered printer of it, and
the prescriber's words carried through to the screening view."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from printmed.settings import Settings
from tests.api.conftest import Callers
from tests.api.fhir_helpers import batch_of, post_order
from tests.api.payloads import as_recorded, native_order, uk_core_order
from tests.api.test_questioned_orders import recorded

PROBLEM = "application/problem+json"
CALIBRATED = {"e_steps_mm": 100.1, "bed_level_mm": 0.03, "nozzle_temperature_c": 1.0}


def bare_height(order: dict[str, Any]) -> dict[str, Any]:
    """The weight as recorded beside a height given only as a number."""
    order = as_recorded(native_order(units=1))
    order["patient"]["height_cm"] = order["patient"].pop("height")["value"]
    return order


@pytest.mark.parametrize(
    ("order", "field", "value"),
    [
        (native_order(units=1), "patient.weight_kg", 12.4),
        (bare_height(native_order(units=1)), "patient.height_cm", 88.0),
    ],
    ids=["bare weight", "bare height"],
)
@pytest.mark.parametrize("path", ["/api/v1/prescriptions", "/api/v1/prescriptions/check"])
def test_a_prescribing_systems_bare_measurement_is_a_problem_naming_it(
    client: TestClient,
    callers: Callers,
    settings: Settings,
    path: str,
    order: dict[str, Any],
    field: str,
    value: float,
) -> None:
    before = recorded(settings)
    answer = client.post(path, json=order, headers=callers["epma"])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert (answer.json()["field"], answer.json()["value"]) == (field, value)
    assert "send patient." in answer.json()["detail"]
    assert recorded(settings) == before


def test_a_prescribing_systems_dated_weight_goes_into_the_dose_trail(
    client: TestClient, callers: Callers
) -> None:
    order = as_recorded(native_order(units=1), days_ago=3)
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["epma"])
    assert answer.status_code == 201, answer.text
    weighed = answer.json()["batch"]["dose"]["trail"][0]["inputs"]
    assert (weighed["effective"], weighed["source"], weighed["status"]) == (
        order["patient"]["weight"]["effective"],
        "Observation/weight-TEST-PATIENT-1",
        "final",
    )


def _register(client: TestClient, callers: Callers, name: str, profile: str) -> None:
    printer = {
        "name": name,
        "profile_id": profile,
        "serial_number": f"SN-{name.upper()}",
        "location": "clean room 2",
        "connection": {"kind": "sim"},
    }
    assert (
        client.post("/api/v1/printers", json=printer, headers=callers["pharm"]).status_code == 201
    )
    calibrated = client.post(
        f"/api/v1/printers/{name}/calibrations", json=CALIBRATED, headers=callers["pharm"]
    )
    assert calibrated.status_code == 201, calibrated.text


def test_an_order_may_name_one_registered_printer_of_the_profile(
    client: TestClient, callers: Callers
) -> None:
    _register(client, callers, "fdm-a", "fdm-pharma-04")
    checked = client.post(
        "/api/v1/prescriptions/check?printer=fdm-a",
        json=as_recorded(native_order(units=1)),
        headers=callers["epma"],
    )
    assert checked.status_code == 200, checked.text
    assert (checked.json()["printer"], checked.json()["queued_for"]) == ("fdm-pharma-04", "fdm-a")
    sent = client.post(
        "/api/v1/prescriptions?printer=fdm-a",
        json=as_recorded(native_order(units=1)),
        headers=callers["epma"],
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["batch"]["printer"] == "fdm-a"


@pytest.mark.parametrize(
    ("printer", "reason"),
    [
        ("fdm-z", "is neither a printer profile on file"),
        ("sse-a", "is a printer of profile sse-syringe-08, which prints sse, but lot"),
    ],
)
def test_a_printer_the_register_or_the_lot_refuses_is_a_problem_naming_it(
    client: TestClient, callers: Callers, settings: Settings, printer: str, reason: str
) -> None:
    _register(client, callers, "sse-a", "sse-syringe-08")
    before = recorded(settings)
    answer = client.post(
        f"/api/v1/prescriptions?printer={printer}",
        json=as_recorded(native_order(units=1)),
        headers=callers["epma"],
    )
    assert answer.status_code == 422, answer.text
    assert (answer.json()["field"], answer.json()["value"]) == ("printer", printer)
    assert reason in answer.json()["detail"]
    assert recorded(settings) == before


def test_the_prescribers_words_are_in_the_screening_view(
    client: TestClient, callers: Callers
) -> None:
    order = uk_core_order()
    order["dosageInstruction"][0]["patientInstruction"] = "with milk, morning and evening"
    sent = post_order(client, order, callers["epma"])
    assert sent.status_code == 201, sent.text
    batch = batch_of(client, sent.json()["id"], callers["epma"])["batch_number"]
    sheet = client.get(f"/api/v1/batches/{batch}/screening", headers=callers["pharm"]).json()
    assert [(w["text"], w["said"]) for w in sheet["prescribed"]["prescriber_words"]] == [
        ("1 mg/kg twice a day (at most 24.8 mg a day)", "the dose in words"),
        ("with milk, morning and evening", "instruction for the patient"),
    ]
