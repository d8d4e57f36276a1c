"""An order taken all the way over the API: FHIR in, queued, printed by the app's own worker on
the simulated printer, weighed, released by a pharmacist who made none of it; then the Task is
completed and its output, the MedicationDispense, carries the batch number."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.medicationdispense import MedicationDispense

from printers.sim_printer import SimPrinter
from printmed.app import create_app
from printmed.settings import Settings
from tests.api.conftest import PASSWORD, Callers
from tests.api.fhir_helpers import batch_of, post_order, task_of
from tests.api.payloads import paediatric_order

PRINTER = "fdm-pharma-04"
PRINT_TIMEOUT_S = 90.0


@pytest.fixture
def printing_client(settings: Settings) -> Iterator[TestClient]:
    printer = SimPrinter(speed_factor=500.0, baud=None)
    app = create_app(settings, printers={PRINTER: printer}, worker_poll_s=0.05)
    with TestClient(app) as test_client:
        yield test_client


def _wait_for_state(client: TestClient, batch: str, headers: dict[str, str], state: str) -> None:
    deadline = time.monotonic() + PRINT_TIMEOUT_S
    while time.monotonic() < deadline:
        current = client.get(f"/api/v1/batches/{batch}", headers=headers).json()["state"]
        if current == state:
            return
        assert current in ("queued", "printing"), current
        time.sleep(0.1)
    raise AssertionError(f"{batch} did not reach {state} in {PRINT_TIMEOUT_S} s")


def test_released_order_completes_its_task_with_a_dispense_of_the_batch(
    printing_client: TestClient, callers: Callers
) -> None:
    client = printing_client
    order_id = post_order(client, paediatric_order(doses=2), callers["epma"]).json()["id"]
    made = batch_of(client, order_id, callers["epma"])
    batch = made["batch_number"]
    assert client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"]).status_code == 200
    _wait_for_state(client, batch, callers["tech"], "printed")
    assert task_of(client, order_id, callers["epma"])["status"] == "in-progress"

    record = client.get(f"/api/v1/batches/{batch}/record", headers=callers["tech"]).json()
    lot = record["fields"]["formulation_json"]
    fraction = lot["loading_percent_w_w"] / 100 * lot["assay_percent"] / 100
    unit_mg = made["dose"]["dose_mg"] / fraction
    weights = {"weights_mg": [unit_mg * 1.002, unit_mg * 0.998]}
    preview = client.post(
        f"/api/v1/batches/{batch}/weights/check", json=weights, headers=callers["tech"]
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["passed"] is True
    assert (
        client.get(f"/api/v1/batches/{batch}", headers=callers["tech"]).json()["state"] == "printed"
    )
    weighed = client.post(
        f"/api/v1/batches/{batch}/weights",
        json={"weights_mg": [unit_mg * 1.002, unit_mg * 0.998]},
        headers=callers["tech"],
    )
    assert weighed.status_code == 201, weighed.text
    assert weighed.json()["passed"] is True

    refused = client.post(
        f"/api/v1/batches/{batch}/release", json={"password": "not mine!"}, headers=callers["pharm"]
    )
    assert refused.status_code == 401
    released = client.post(
        f"/api/v1/batches/{batch}/release", json={"password": PASSWORD}, headers=callers["pharm"]
    )
    assert released.status_code == 201, released.text
    assert released.json()["meaning"] == "released"

    record = client.get(f"/api/v1/batches/{batch}/record", headers=callers["pharm"]).json()
    assert record["fields"]["qc_json"]["passed"] is True
    assert record["fields"]["weights_json"]["source"] == "manual"
    assert [s["meaning"] for s in record["signatures"]] == ["released"]
    assert record["integrity"]["intact"] is True
    progress = client.get(f"/api/v1/batches/{batch}/progress", headers=callers["tech"]).json()
    assert progress["lines_acknowledged"] == progress["lines_total"] > 0

    task = task_of(client, order_id, callers["epma"])
    assert task["status"] == "completed"
    output = task["output"][0]["valueReference"]["reference"]
    assert output == f"MedicationDispense/{order_id}"
    answer = client.get(f"/fhir/{output}", headers=callers["epma"])
    assert answer.status_code == 200
    dispense = MedicationDispense.model_validate(answer.json())
    assert dispense.contained[0].batch.lotNumber == batch
    assert dispense.quantity.value == 2
    assert dispense.authorizingPrescription[0].reference == f"MedicationRequest/{order_id}"

    pdf = client.get(f"/api/v1/batches/{batch}/record.pdf", headers=callers["pharm"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    label = client.get(f"/api/v1/batches/{batch}/label.pdf", headers=callers["tech"])
    assert label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")


def test_a_printer_this_service_drives_is_controlled_over_the_api_and_recorded(
    printing_client: TestClient, callers: Callers
) -> None:
    client = printing_client
    paused = client.post(f"/api/v1/printers/{PRINTER}/pause", headers=callers["tech"])
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"printer": PRINTER, "action": "pause", "batch_number": None}
    live = client.get(f"/api/v1/printers/{PRINTER}", headers=callers["tech"]).json()["live"]
    assert live["controllable"] is True
    resumed = client.post(f"/api/v1/printers/{PRINTER}/resume", headers=callers["pharm"])
    assert resumed.status_code == 200


def test_a_printer_driven_elsewhere_cannot_be_controlled_from_here(
    printing_client: TestClient, callers: Callers
) -> None:
    answer = printing_client.post("/api/v1/printers/sse-syringe-08/pause", headers=callers["tech"])
    assert answer.status_code == 422
    assert "another process" in answer.json()["detail"]


def test_the_admin_may_not_control_printers(printing_client: TestClient, callers: Callers) -> None:
    answer = printing_client.post(f"/api/v1/printers/{PRINTER}/pause", headers=callers["admin"])
    assert answer.status_code == 403
