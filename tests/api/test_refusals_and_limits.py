"""Refusals are documents a client can act on (problem+json on /api, OperationOutcome on /fhir)
and the service protects itself: body size limit and per-caller rate limit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from printmed.app import create_app
from tests.api.conftest import Callers, api_settings
from tests.api.fhir_helpers import post_order
from tests.api.payloads import as_recorded, native_order, paediatric_order

PROBLEM = "application/problem+json"


def test_an_invalid_native_prescription_names_the_field_and_value(
    client: TestClient, callers: Callers
) -> None:
    order = native_order()
    order["patient"]["weight_kg"] = 400
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["tech"])
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["errors"][0]["field"] == "patient.weight_kg"
    assert problem["errors"][0]["value"] == 400


def test_a_dose_refusal_from_the_dosing_rules_is_a_problem_naming_the_field(
    client: TestClient, callers: Callers
) -> None:
    order = native_order()
    order["formulation"] = "no-such-lot"
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["tech"])
    assert answer.status_code == 422
    assert answer.json()["field"] == "formulation"
    assert answer.json()["value"] == "no-such-lot"
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []


def test_a_native_order_is_read_back_with_dose_design_and_batch(
    client: TestClient, callers: Callers
) -> None:
    created = client.post("/api/v1/prescriptions", json=native_order(), headers=callers["tech"])
    assert created.status_code == 201
    read = client.get(created.headers["location"], headers=callers["tech"]).json()
    assert read["prescription"]["id"] == "RX-0001"
    assert read["batch"]["state"] == "verified"
    assert read["batch"]["dose"]["dose_mg"] == 12.5
    assert read["batch"]["design"]["shape"] == "round"
    assert len(read["batch"]["gcode_sha256"]) == 64


def test_an_unknown_order_is_404_as_a_problem(client: TestClient, callers: Callers) -> None:
    answer = client.get("/api/v1/prescriptions/nope", headers=callers["tech"])
    assert (answer.status_code, answer.headers["content-type"]) == (404, PROBLEM)


def test_an_unknown_path_under_fhir_is_an_operation_outcome(client: TestClient) -> None:
    answer = client.get("/fhir/Patient/1")
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_body_above_the_limit_is_413_before_any_parsing(
    client: TestClient, callers: Callers
) -> None:
    big = b'{"resourceType": "MedicationRequest", "note": "' + b"x" * 1_100_000 + b'"}'
    answer = client.post(
        "/fhir/MedicationRequest",
        content=big,
        headers={"Content-Type": "application/fhir+json", **callers["epma"]},
    )
    assert answer.status_code == 413
    assert answer.json()["issue"][0]["code"] == "too-costly"


def test_a_caller_above_the_rate_limit_is_told_when_to_come_back(
    tmp_path: Path, callers: Callers
) -> None:
    app = create_app(api_settings(tmp_path, PRINTMED_RATE_LIMIT_PER_MINUTE="5"))
    with TestClient(app) as client:
        codes = [client.get("/fhir/metadata").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        limited = client.get("/fhir/metadata")
        assert int(limited.headers["retry-after"]) >= 1
        # another caller (its own credential) has its own allowance
        other = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer someone-else"})
        assert other.status_code == 401


def test_users_are_managed_by_an_admin_over_the_api(client: TestClient, callers: Callers) -> None:
    created = client.post(
        "/api/v1/users",
        json={
            "username": "locum",
            "full_name": "Locum Pharmacist",
            "role": "pharmacist",
            "password": "a long enough one",
        },
        headers={**callers["admin"], "Idempotency-Key": "new-locum"},
    )
    assert created.status_code == 201, created.text
    names = [u["username"] for u in client.get("/api/v1/users", headers=callers["admin"]).json()]
    assert "locum" in names
    weak = client.post(
        "/api/v1/users",
        json={"username": "weak", "full_name": "W", "role": "technician", "password": "short"},
        headers=callers["admin"],
    )
    assert (weak.status_code, weak.json()["field"]) == (422, "password")


def test_printers_on_file_are_listed_with_their_queue(client: TestClient, callers: Callers) -> None:
    printers = client.get("/api/v1/printers", headers=callers["tech"]).json()
    assert {p["id"] for p in printers} == {"fdm-pharma-04", "sse-syringe-08"}
    assert all(p["queued"] == 0 and p["printing"] is None for p in printers)


def test_logs_carry_no_patient_data(
    client: TestClient, callers: Callers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    order = paediatric_order(doses=1)
    refused = {**order, "status": "draft"}
    post_order(client, refused, callers["epma"])
    post_order(client, order, callers["epma"])
    for patient_detail in ("TEST-PATIENT-1", "12.4", "propranolol"):
        assert patient_detail not in caplog.text


def test_the_api_documentation_is_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    script = page.text.split('src="')[1].split('"')[0]
    assert client.get(script).status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "printmed"


def test_a_prescription_is_checked_without_recording_anything(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/api/v1/prescriptions/check", json=as_recorded(native_order()), headers=callers["epma"]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["dose"]["dose_mg"] == 12.5
    assert answer.json()["printer"] == "fdm-pharma-04"
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []
