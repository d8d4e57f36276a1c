"""Posting FHIR orders as a prescribing system does (application/fhir+json)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient

FHIR_JSON = "application/fhir+json"


def post_order(
    client: TestClient,
    order: dict[str, Any],
    headers: dict[str, str],
    key: str | None = None,
) -> httpx.Response:
    extra = {"Content-Type": FHIR_JSON, **headers}
    if key is not None:
        extra["Idempotency-Key"] = key
    return client.post("/fhir/MedicationRequest", content=json.dumps(order), headers=extra)


def task_of(client: TestClient, order_id: str, headers: dict[str, str]) -> dict[str, Any]:
    found = client.get(
        "/fhir/Task", params={"focus": f"MedicationRequest/{order_id}"}, headers=headers
    )
    assert found.status_code == 200, found.text
    bundle = found.json()
    assert bundle["total"] == 1
    task: dict[str, Any] = bundle["entry"][0]["resource"]
    return task


def batch_of(client: TestClient, order_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get(f"/api/v1/prescriptions/{order_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    batch: dict[str, Any] = answer.json()["batch"]
    return batch
