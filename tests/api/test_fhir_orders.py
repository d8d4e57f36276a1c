"""FHIR MedicationRequests in, as an ePMA sends them: each accepted order is a batch through the
dose gate with the dose the prescription asks for; bad orders are refused as OperationOutcome."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

from tests.api.conftest import PASSWORD, Callers
from tests.api.fhir_helpers import FHIR_JSON, batch_of, post_order, task_of
from tests.api.payloads import adult_fixed_dose_order, as_bundle, paediatric_order


def test_paediatric_weight_based_order_becomes_a_verified_batch_of_the_weight_based_dose(
    client: TestClient, callers: Callers
) -> None:
    answer = post_order(client, paediatric_order(doses=28), callers["epma"])
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    stored = answer.json()
    assert answer.headers["location"].endswith(f"/fhir/MedicationRequest/{stored['id']}/_history/1")
    batch = batch_of(client, stored["id"], callers["epma"])
    # 1 mg/kg × 12.4 kg = 12.4 mg, rounded to the lot's 0.5 mg step
    assert batch["state"] == "verified"
    assert batch["dose"]["calculated_mg"] == pytest.approx(12.4)
    assert batch["dose"]["dose_mg"] == pytest.approx(12.5)
    assert batch["dose"]["doses"] == 28
    assert len(batch["gate"]["tablets"]) == 28
    for tablet in batch["gate"]["tablets"]:
        assert tablet["target_mg"] == pytest.approx(12.5)
        assert tablet["gcode_mg"] == pytest.approx(12.5, rel=0.01)
    assert batch["gate"]["prime_volume_mm3"] == pytest.approx(8.0, rel=1e-3)  # on no tablet
    assert batch["gate"]["prime_max_volume_mm3"] == 20.0


def test_fixed_dose_adult_order_becomes_a_batch_of_that_dose(
    client: TestClient, callers: Callers
) -> None:
    answer = post_order(client, adult_fixed_dose_order(doses=1), callers["epma"])
    assert answer.status_code == 201, answer.text
    batch = batch_of(client, answer.json()["id"], callers["epma"])
    assert batch["dose"]["dose_mg"] == pytest.approx(200.0)
    assert batch["design"]["shape"] == "ring"
    assert batch["created_by"] == "client:epma"


def test_stored_order_is_read_back_with_its_server_id(client: TestClient, callers: Callers) -> None:
    created = post_order(client, adult_fixed_dose_order(), callers["epma"]).json()
    read = client.get(f"/fhir/MedicationRequest/{created['id']}", headers=callers["epma"])
    assert read.status_code == 200
    assert read.json() == created
    assert read.json()["identifier"][0]["value"] == "EPMA-TEST-0003"


def test_a_bundle_is_refused_clearly(client: TestClient, callers: Callers) -> None:
    answer = post_order(client, as_bundle(adult_fixed_dose_order()), callers["epma"])
    assert answer.status_code == 422
    outcome = OperationOutcome.model_validate(answer.json())
    assert outcome.issue[0].expression == ["resourceType"]
    assert "not a Bundle" in outcome.issue[0].diagnostics
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []


def test_weight_based_order_without_a_weight_is_refused_naming_the_observation(
    client: TestClient, callers: Callers
) -> None:
    order = paediatric_order()
    order["contained"] = [c for c in order["contained"] if c["id"] != "weight"]
    order["supportingInformation"] = [{"reference": "#height"}]
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422
    assert "body weight" in answer.json()["issue"][0]["expression"][0]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("status",), "draft", "status"),
        (("intent",), "plan", "intent"),
        (("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value"), -1, "value"),
        (("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "code"), "g/kg", "code"),
    ],
)
def test_orders_our_checks_refuse_name_the_field(
    client: TestClient, callers: Callers, path: tuple[object, ...], value: object, field: str
) -> None:
    order = paediatric_order(doses=1)
    target = order
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["issue"][0]["expression"][0].endswith(field)


def test_a_body_that_is_not_json_is_a_structure_error(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/fhir/MedicationRequest",
        content=b"{not json",
        headers={"Content-Type": FHIR_JSON, **callers["epma"]},
    )
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["code"] == "structure"


def test_xml_is_refused_as_unsupported_media(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/fhir/MedicationRequest",
        content=b"<MedicationRequest/>",
        headers={"Content-Type": "application/fhir+xml", **callers["epma"]},
    )
    assert answer.status_code == 415
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_task_of_an_order_follows_its_batch_through_queue_and_rejection(
    client: TestClient, callers: Callers
) -> None:
    order_id = post_order(client, adult_fixed_dose_order(), callers["epma"]).json()["id"]
    task = Task.model_validate(task_of(client, order_id, callers["epma"]))
    assert task.status == "accepted"
    assert task.businessStatus.coding[0].code == "verified"
    assert task.focus.reference == f"MedicationRequest/{order_id}"
    batch = batch_of(client, order_id, callers["epma"])["batch_number"]

    screening = {"note": "200 mg for an adult: in range", "password": PASSWORD}
    screened = client.post(
        f"/api/v1/batches/{batch}/screen", json=screening, headers=callers["pharm"]
    )
    assert screened.status_code == 201, screened.text
    assert task_of(client, order_id, callers["epma"])["status"] == "accepted"
    assert client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"]).status_code == 200
    assert task_of(client, order_id, callers["epma"])["status"] == "ready"
    rejected = client.post(
        f"/api/v1/batches/{batch}/reject",
        json={"reason": "ward cancelled"},
        headers=callers["tech"],
    )
    assert rejected.status_code == 200
    read = client.get(f"/fhir/Task/{order_id}", headers=callers["epma"]).json()
    assert (read["status"], read["businessStatus"]["coding"][0]["code"]) == ("rejected", "rejected")


def test_dispense_is_not_found_before_release(client: TestClient, callers: Callers) -> None:
    order_id = post_order(client, adult_fixed_dose_order(), callers["epma"]).json()["id"]
    answer = client.get(f"/fhir/MedicationDispense/{order_id}", headers=callers["epma"])
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_capability_statement_is_valid_fhir_and_public(client: TestClient) -> None:
    answer = client.get("/fhir/metadata")
    assert answer.status_code == 200
    statement = CapabilityStatement.model_validate(answer.json())
    kinds = {r.type: {i.code for i in r.interaction} for r in statement.rest[0].resource}
    assert kinds["MedicationRequest"] == {"create", "read"}
    assert kinds["Task"] == {"read", "search-type"}


def test_nan_is_not_json_and_is_refused_as_structure(client: TestClient, callers: Callers) -> None:
    text = json.dumps(paediatric_order(doses=1)).replace('"value": 12.4', '"value": NaN')
    answer = client.post(
        "/fhir/MedicationRequest",
        content=text.encode(),
        headers={"Content-Type": FHIR_JSON, **callers["epma"]},
    )
    assert answer.status_code == 400
    assert "NaN" in answer.json()["issue"][0]["diagnostics"]
