"""A real FHIR client library (fhirpy) talks to the server over HTTP as an ePMA would:
reads the CapabilityStatement, creates a MedicationRequest, finds and reads its Task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from printmed.app import create_app
from printmed.settings import Settings
from tests.api.conftest import Callers
from tests.api.live_server import serving
from tests.api.payloads import as_bundle, paediatric_order


@pytest.fixture
def fhir(settings: Settings, callers: Callers) -> Iterator[SyncFHIRClient]:
    with serving(create_app(settings)) as base_url:
        yield SyncFHIRClient(f"{base_url}/fhir", authorization=callers["epma"]["Authorization"])


def test_fhir_client_creates_an_order_and_follows_its_task(fhir: SyncFHIRClient) -> None:
    statement = fhir.execute("metadata", method="get")
    assert statement["fhirVersion"] == "4.0.1"

    sent = paediatric_order(doses=1)
    del sent["id"]  # a new resource: the client POSTs it and the server names it
    order = fhir.resource("MedicationRequest", **sent)
    order.save()
    assert order.id

    tasks = fhir.resources("Task").search(focus=f"MedicationRequest/{order.id}").fetch()
    assert len(tasks) == 1
    task = tasks[0]
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("accepted", "verified")
    assert task["focus"]["reference"] == f"MedicationRequest/{order.id}"

    again = fhir.reference("Task", task.id).to_resource()
    assert again["identifier"][0]["value"] == task["identifier"][0]["value"]
    read = fhir.reference("MedicationRequest", order.id).to_resource()
    assert read["dispenseRequest"]["quantity"]["value"] == 1


def test_fhir_client_hears_a_bundle_refused_as_an_operation_outcome(
    fhir: SyncFHIRClient,
) -> None:
    with pytest.raises(OperationOutcome) as refused:
        fhir.execute("MedicationRequest", method="post", data=as_bundle(paediatric_order()))
    assert "not a Bundle" in str(refused.value)


def test_fhir_client_gets_not_found_for_an_unknown_task(fhir: SyncFHIRClient) -> None:
    with pytest.raises(ResourceNotFound):
        fhir.reference("Task", "no-such-task").to_resource()
