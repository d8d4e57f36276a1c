"""An order taken all the way over the API: FHIR in, screened by a pharmacist, queued, printed
by the app's own worker on the simulated printer, weighed, released by a pharmacist who made
none of it; then the Task is completed and its output, the MedicationDispense, carries the batch
number.

The signing password goes through the sign-in defence: wrong ones wait (429, Retry-After) and
are recorded, and a locked pharmacist releases nothing. Its clock is moved by the tests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.medicationdispense import MedicationDispense
from sqlalchemy import select

from printmed.app import create_app
from printmed.auth import login
from printmed.auth.dependencies import sign_in_clock
from printmed.auth.users import get_user
from printmed.jobs.printers import simulated_printer
from printmed.settings import Settings
from printmed.store import open_store
from printmed.store.models import SignInAttempt
from tests.api.conftest import PASSWORD, Callers, add_staff, api_settings
from tests.api.fhir_helpers import batch_of, post_order, task_of
from tests.api.payloads import paediatric_order
from tests.moving_clock import MovingClock
from tests.records.builders import good_weights, printed_job

PRINTER = "fdm-pharma-04"
PRINT_TIMEOUT_S = 90.0


@pytest.fixture
def printing_client(settings: Settings) -> Iterator[TestClient]:
    printer = simulated_printer(PRINTER, speed_factor=500.0, baud=None)
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
    screening = {"note": "1 mg/kg for the weight on the order: in range", "password": PASSWORD}
    screened = client.post(
        f"/api/v1/batches/{batch}/screen", json=screening, headers=callers["pharm"]
    )
    assert screened.status_code == 201, screened.text
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
    # the screening pharmacist released it: screening is not a step of making the batch
    assert [s["meaning"] for s in record["signatures"]] == ["screened", "released"]
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


@dataclass(frozen=True)
class Pharmacy:
    """An app on a store of its own, its sign-in clock, and staff bearer tokens by username."""

    app: FastAPI
    client: TestClient
    clock: MovingClock
    headers: dict[str, dict[str, str]]


@pytest.fixture
def pharmacy(tmp_path: Path) -> Iterator[Pharmacy]:
    """Not a copy of the seeded store: a copy's audit chain starts as every other copy's, and the
    checkpoints outside the database (one folder for the test run) would mix theirs."""
    settings = api_settings(tmp_path)
    store = open_store(settings.database_url)
    add_staff(store)
    with store.session() as session:
        headers = {
            name: {"Authorization": f"Bearer {login(session, name, PASSWORD, kind='bearer')[1]}"}
            for name in ("tech", "pharm")
        }
    store.dispose()
    app = create_app(settings)
    clock = MovingClock(dt.datetime.now(dt.UTC))
    app.dependency_overrides[sign_in_clock] = lambda: clock
    with TestClient(app) as client:
        yield Pharmacy(app, client, clock, headers)


def _weighed(pharmacy: Pharmacy) -> str:
    """A batch made, printed and weighed by technicians (the store's own path), for pharm."""
    store = pharmacy.app.state.store
    with store.session() as session:
        tech = get_user(session, "tech")
    batch = printed_job(store, tech)
    weighed = pharmacy.client.post(
        f"/api/v1/batches/{batch}/weights",
        json={"weights_mg": good_weights()},
        headers=pharmacy.headers["tech"],
    )
    assert weighed.status_code == 201, weighed.text
    return batch


def _attempts(app: FastAPI) -> list[tuple[str, str, str]]:
    with app.state.store.session() as session:
        rows = session.scalars(select(SignInAttempt).order_by(SignInAttempt.id))
        return [(a.username, a.channel, a.outcome) for a in rows]


def test_wrong_release_passwords_wait_429_and_are_recorded_then_the_right_one_releases(
    pharmacy: Pharmacy,
) -> None:
    client, app, clock, callers = pharmacy.client, pharmacy.app, pharmacy.clock, pharmacy.headers
    batch = _weighed(pharmacy)
    before = len(_attempts(app))
    release_path = f"/api/v1/batches/{batch}/release"
    statuses = [
        client.post(release_path, json={"password": "not mine!"}, headers=callers["pharm"])
        for _ in range(3)
    ]
    assert [s.status_code for s in statuses] == [401] * 3
    refused = client.post(release_path, json={"password": PASSWORD}, headers=callers["pharm"])
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "https://printmed.example.org/problems/sign-in-throttled"
    assert (problem["field"], problem["value"]) == ("username", "pharm")
    signing = client.post(
        f"/api/v1/batches/{batch}/signatures",
        json={"meaning": "reviewed", "password": PASSWORD},
        headers=callers["pharm"],
    )
    assert signing.status_code == 429  # any signature, not only a release
    assert client.get(f"/api/v1/batches/{batch}", headers=callers["pharm"]).json()["state"] == (
        "weighed"
    )
    assert (
        _attempts(app)[before:]
        == [("pharm", "api", "wrong_password")] * 3 + [("pharm", "api", "throttled")] * 2
    )

    clock.advance(1)
    released = client.post(release_path, json={"password": PASSWORD}, headers=callers["pharm"])
    assert released.status_code == 201, released.text
    assert released.json()["meaning"] == "released"
    assert _attempts(app)[-1] == ("pharm", "api", "accepted")


def test_a_locked_pharmacist_cannot_release_over_the_api_even_with_the_right_password(
    pharmacy: Pharmacy,
) -> None:
    client, app, clock, callers = pharmacy.client, pharmacy.app, pharmacy.clock, pharmacy.headers
    batch = _weighed(pharmacy)
    # ten failed sign-ins from two computers, each after the account's wait: pharm locks
    for n in range(10):
        clock.advance(3600)
        caller = TestClient(app, client=(f"10.2.0.{n % 2 + 1}", 40000))
        wrong = caller.post("/api/v1/auth/token", json={"username": "pharm", "password": "x"})
        assert wrong.status_code == 401
    clock.advance(3600)
    refused = client.post(
        f"/api/v1/batches/{batch}/release", json={"password": PASSWORD}, headers=callers["pharm"]
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "https://printmed.example.org/problems/account-locked"
    assert _attempts(app)[-1] == ("pharm", "api", "locked")
    assert client.get(f"/api/v1/batches/{batch}", headers=callers["pharm"]).json()["state"] == (
        "weighed"
    )
