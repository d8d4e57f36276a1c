"""Clinical screening over the API: GET .../screening shows the order as the pharmacist judges
it; POST .../screen (password, note) gives the 'screened' signature, POST .../return a reason;
queueing asks for a screened batch. Every refusal is a problem naming the field and the value,
and leaves the batch and its trail as they were.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, Callers
from tests.api.payloads import native_measured_order

PROBLEM = "application/problem+json"
NOTE = "1 mg/kg for 12.4 kg (weighed 24 Nov), within 24.8 mg a day"


def entered(client: TestClient, headers: dict[str, str], rx_id: str) -> str:
    """A verified batch of issue 13's measured order, entered by the caller of `headers`."""
    answer = client.post(
        "/api/v1/prescriptions", json=native_measured_order(rx_id=rx_id), headers=headers
    )
    assert answer.status_code == 201, answer.text
    batch: str = answer.json()["batch"]["batch_number"]
    return batch


def record(client: TestClient, batch: str, callers: Callers) -> dict[str, Any]:
    answer = client.get(f"/api/v1/batches/{batch}/record", headers=callers["tech"])
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def trail(client: TestClient, batch: str, callers: Callers) -> list[str]:
    return [e["action"] for e in record(client, batch, callers)["trail"]]


def screen(
    client: TestClient, batch: str, headers: dict[str, str], password: str = PASSWORD
) -> Any:
    return client.post(
        f"/api/v1/batches/{batch}/screen",
        json={"note": NOTE, "password": password},
        headers=headers,
    )


def test_the_screening_view_shows_patient_dose_trail_maxima_lot_and_tablet(
    client: TestClient, callers: Callers
) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-1")
    view = client.get(f"/api/v1/batches/{batch}/screening", headers=callers["pharm"])
    assert view.status_code == 200, view.text
    sheet = view.json()
    assert sheet["state"] == "verified"
    assert sheet["entered_by"] == "tech"
    assert sheet["patient"]["weight"] == {
        "value": 12.4,
        "unit": "kg",
        "as_recorded": "12.4 kg",
        "status": "final",
        "source": "Observation/weight-0013",
        "measured_at": "2026-11-24T09:30:00Z",
    }
    assert sheet["prescribed"]["max_daily_dose_mg"] == 24.8
    assert sheet["formulary"]["max_mg_per_kg_per_day"] == 5.0
    assert sheet["dose"]["dose_mg"] == 12.0  # the step below 12.5 mg: 24.8 mg a day at most
    steps = [step["step"] for step in sheet["dose"]["trail"]]
    assert steps[:2] == ["body weight as recorded", "weight-based dose"]
    assert sheet["lot"]["drug_name"] == "propranolol"
    assert sheet["design"]["shape"] == "round"
    assert sheet["decisions"] == []


def test_screened_with_password_and_note_then_queued(client: TestClient, callers: Callers) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-2")
    screened = screen(client, batch, callers["pharm"])
    assert screened.status_code == 201, screened.text
    assert (screened.json()["meaning"], screened.json()["username"]) == ("screened", "pharm")
    queued = client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"])
    assert (queued.status_code, queued.json()["state"]) == (200, "queued")
    sheet = client.get(f"/api/v1/batches/{batch}/screening", headers=callers["tech"]).json()
    (decision,) = sheet["decisions"]
    assert (decision["decision"], decision["by"], decision["note"]) == ("screened", "pharm", NOTE)
    assert decision["signature_id"] == screened.json()["id"]


def test_a_wrong_password_is_401_and_screens_nothing(client: TestClient, callers: Callers) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-3")
    refused = screen(client, batch, callers["pharm"], password="not the password")
    assert (refused.status_code, refused.headers["content-type"]) == (401, PROBLEM)
    assert refused.json()["field"] == "password"
    assert trail(client, batch, callers) == ["job.create", "job.verify"]
    assert record(client, batch, callers)["signatures"] == []


def test_the_technician_who_entered_it_may_not_screen_or_return_it(
    client: TestClient, callers: Callers
) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-4")
    refused = screen(client, batch, callers["tech"])
    assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)
    assert refused.json()["detail"] == "role technician may not do this (needs pharmacist)"
    returned = client.post(
        f"/api/v1/batches/{batch}/return", json={"reason": "r"}, headers=callers["tech"]
    )
    assert returned.status_code == 403
    assert trail(client, batch, callers) == ["job.create", "job.verify"]


def test_the_pharmacist_who_entered_it_is_refused_by_four_eyes(
    client: TestClient, callers: Callers
) -> None:
    batch = entered(client, callers["pharm"], "RX-SCREEN-API-5")
    refused = screen(client, batch, callers["pharm"])
    assert refused.status_code == 403, refused.text
    assert "four eyes" in refused.json()["detail"]
    assert trail(client, batch, callers) == ["job.create", "job.verify"]


def test_queueing_an_unscreened_batch_is_409_naming_the_state(
    client: TestClient, callers: Callers
) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-6")
    refused = client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"])
    assert (refused.status_code, refused.headers["content-type"]) == (409, PROBLEM)
    assert (refused.json()["field"], refused.json()["value"]) == ("state", "verified")
    assert "is not screened" in refused.json()["detail"]
    assert trail(client, batch, callers) == ["job.create", "job.verify"]


def test_a_returned_batch_cannot_be_queued(client: TestClient, callers: Callers) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-7")
    empty = client.post(
        f"/api/v1/batches/{batch}/return", json={"reason": ""}, headers=callers["pharm"]
    )
    assert (empty.status_code, empty.headers["content-type"]) == (422, PROBLEM)
    assert trail(client, batch, callers) == ["job.create", "job.verify"]
    returned = client.post(
        f"/api/v1/batches/{batch}/return",
        json={"reason": "weight is not this child's"},
        headers=callers["pharm"],
    )
    assert (returned.status_code, returned.json()["state"]) == (200, "returned")
    refused = client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"])
    assert refused.status_code == 409
    assert (refused.json()["field"], refused.json()["value"]) == ("state", "returned")
    again = screen(client, batch, callers["pharm"])
    assert again.status_code == 409
    assert (again.json()["field"], again.json()["value"]) == ("state", "returned")
    assert trail(client, batch, callers)[-1] == "record.return"


def test_a_screened_signature_is_not_given_by_the_signatures_route(
    client: TestClient, callers: Callers
) -> None:
    batch = entered(client, callers["tech"], "RX-SCREEN-API-8")
    refused = client.post(
        f"/api/v1/batches/{batch}/signatures",
        json={"meaning": "screened", "password": PASSWORD},
        headers=callers["pharm"],
    )
    assert refused.status_code == 422, refused.text
    assert (refused.json()["field"], refused.json()["value"]) == ("meaning", "screened")
    assert record(client, batch, callers)["signatures"] == []
