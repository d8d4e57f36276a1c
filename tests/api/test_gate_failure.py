"""An order whose G-code fails the dose gate is refused through the API naming the tablet, and
leaves nothing behind: no batch, no order, no audit entry, no stored G-code, no kept answer."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gcode.write import write_gcode
from printmed.manufacture import plate
from printmed.store.models import AuditEntry, Batch, IdempotentAnswer, Order, StoredGcode
from tests.api.conftest import Callers
from tests.api.fhir_helpers import post_order
from tests.api.payloads import native_order, paediatric_order
from tests.gcode.tampering import scale_tablet_e

OVERDOSED_TABLET = 1
OVERDOSE_FACTOR = 1.05
RECORDS = (Batch, Order, AuditEntry, StoredGcode, IdempotentAnswer)


@pytest.fixture
def defective_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stands for a writer defect no real peer can produce: the writer is exact, so the gate
    can only be failed from outside by patching it to over-extrude one tablet by 5 %."""

    def overdosing_write_gcode(*args: object, **kwargs: object) -> str:
        text = write_gcode(*args, **kwargs)  # type: ignore[arg-type]
        return scale_tablet_e(text, OVERDOSED_TABLET, OVERDOSE_FACTOR)

    monkeypatch.setattr(plate, "write_gcode", overdosing_write_gcode)


def counts(app: FastAPI) -> dict[str, int]:
    with app.state.store.read_session() as session:
        return {
            table.__tablename__: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in RECORDS
        }


@pytest.mark.usefixtures("defective_writer")
def test_a_native_order_failing_the_dose_gate_is_a_problem_naming_the_tablet_and_leaves_nothing(
    app: FastAPI, client: TestClient, callers: Callers
) -> None:
    before = counts(app)
    answer = client.post(
        "/api/v1/prescriptions",
        json=native_order(units=3, rx_id="RX-GATE-1"),
        headers={**callers["tech"], "Idempotency-Key": "gate-fails"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["field"] == f"tablet[{OVERDOSED_TABLET}]"
    assert problem["value"] == "+5.00%"
    assert "off target" in problem["detail"]
    assert counts(app) == before
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []
    assert client.get("/api/v1/prescriptions", headers=callers["tech"]).json() == []


@pytest.mark.usefixtures("defective_writer")
def test_a_fhir_order_failing_the_dose_gate_is_an_outcome_naming_the_tablet_and_leaves_nothing(
    app: FastAPI, client: TestClient, callers: Callers
) -> None:
    before = counts(app)
    answer = post_order(client, paediatric_order(doses=3), callers["epma"], key="gate-fails")
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [f"tablet[{OVERDOSED_TABLET}]"]
    assert counts(app) == before


def test_the_exact_writer_passes_the_same_order(client: TestClient, callers: Callers) -> None:
    """The refusal above is the patched writer's: the same order is made without it."""
    answer = client.post(
        "/api/v1/prescriptions",
        json=native_order(units=3, rx_id="RX-GATE-1"),
        headers=callers["tech"],
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["batch"]["state"] == "verified"
