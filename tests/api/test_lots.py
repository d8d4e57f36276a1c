"""/api/v1/lots/{lot}/stock and a batch's reconciliation over the API: goods in by technicians
and pharmacists, the ledger for any staff member, a queue refused when the lot has too little
left, units rejected with a reason; every refusal a problem naming the field and the value,
with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from benchmarks import calibration_loop as loop
from printmed.auth.users import get_user
from printmed.settings import Settings
from printmed.store import Store, open_store
from tests.api.conftest import Callers
from tests.records.builders import printed_job, screened_job

PROBLEM = "application/problem+json"
LOT = "PVA-PRL-2611-A"  # fixtures/materials/propranolol-pva-10.json
TEST_LOT = "LOT-TEST-001"  # the lot of the builders' test batches


@pytest.fixture
def store(settings: Settings, client: TestClient) -> Iterator[Store]:
    opened = open_store(settings.database_url)
    yield opened
    opened.dispose()


def _stock(client: TestClient, callers: Callers, lot: str = LOT) -> dict:
    answer = client.get(f"/api/v1/lots/{lot}/stock", headers=callers["tech"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_technician_receives_stock_and_anyone_reads_the_ledger(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/api/v1/lots/propranolol-pva-10/stock",
        json={"grams": 250.0, "reason": "delivery note 4711"},
        headers=callers["tech"],
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["lot"] == LOT
    read = client.get(f"/api/v1/lots/{LOT}/stock", headers=callers["admin"]).json()
    assert (read["received_g"], read["used_g"], read["remaining_g"]) == (250.0, 0.0, 250.0)
    assert read["entries"] == [
        {
            "at": read["entries"][0]["at"],
            "kind": "receipt",
            "grams": 250.0,
            "batch_number": None,
            "actor": "tech",
            "reason": "delivery note 4711",
        }
    ]


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"grams": 0, "reason": "DN"}, "grams", 0),
        ({"grams": -3.5, "reason": "DN"}, "grams", -3.5),
        ({"grams": 5, "reason": ""}, "reason", ""),
    ],
)
def test_a_bad_receipt_is_a_problem_naming_field_and_value_and_changes_nothing(
    client: TestClient, callers: Callers, body: dict, field: str, value: object
) -> None:
    answer = client.post(f"/api/v1/lots/{LOT}/stock", json=body, headers=callers["tech"])
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert (answer.json()["field"], answer.json()["value"]) == (field, value)
    assert _stock(client, callers)["entries"] == []


def test_a_lot_not_on_file_is_refused_naming_it(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/api/v1/lots/NO-SUCH-LOT/stock", json={"grams": 5, "reason": "DN"}, headers=callers["tech"]
    )
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["value"]) == ("lot", "NO-SUCH-LOT")


def test_an_admin_may_not_receive_stock(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        f"/api/v1/lots/{LOT}/stock", json={"grams": 5, "reason": "DN"}, headers=callers["admin"]
    )
    assert answer.status_code == 403
    assert _stock(client, callers)["entries"] == []


def test_queueing_with_too_little_stock_is_refused_naming_lot_and_amounts(
    client: TestClient, callers: Callers, store: Store
) -> None:
    with store.session() as session:
        tech = get_user(session, "tech")
        pharm = get_user(session, "pharm")
    batch = screened_job(store, tech, pharm)
    received = client.post(
        f"/api/v1/lots/{TEST_LOT}/stock",
        json={"grams": 0.5, "reason": "DN"},
        headers=callers["tech"],
    )
    assert received.status_code == 201, received.text
    answer = client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"])
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["field"], problem["value"]) == ("lot", TEST_LOT)
    assert f"has 0.500 g left; {batch} needs 1.2" in problem["detail"]
    assert client.get(f"/api/v1/batches/{batch}", headers=callers["tech"]).json()["state"] == (
        "screened"
    )
    assert _stock(client, callers, TEST_LOT)["used_g"] == 0.0
    client.post(
        f"/api/v1/lots/{TEST_LOT}/stock",
        json={"grams": 5, "reason": "DN 2"},
        headers=callers["tech"],
    )
    queued = client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"])
    assert queued.status_code == 200, queued.text
    ledger = _stock(client, callers, TEST_LOT)
    assert ledger["used_g"] == pytest.approx(1.25, rel=0.01)
    assert ledger["entries"][-1]["batch_number"] == batch


def test_a_batch_reconciliation_and_rejected_units(
    client: TestClient, callers: Callers, store: Store
) -> None:
    with store.session() as session:
        tech = get_user(session, "tech")
    batch = printed_job(store, tech)
    before = client.get(f"/api/v1/batches/{batch}/reconciliation", headers=callers["pharm"])
    assert before.status_code == 200, before.text
    shown = before.json()
    assert (shown["planned"], shown["printed"], shown["released"]) == (10, 10, 10)
    assert shown["material_mg"] == pytest.approx(1250.0, rel=0.01)
    # the prime line (8 mm³ on the bundled FDM profile, 1.25 g/cm³) is drawn too, on no tablet
    assert shown["prime_volume_mm3"] == pytest.approx(8.0, rel=1e-3)
    assert shown["prime_mg"] == pytest.approx(10.0, rel=1e-3)
    rejected = client.post(
        f"/api/v1/batches/{batch}/rejected-units",
        json={"units": [4], "reason": "lifted off the plate"},
        headers=callers["tech2"],
    )
    assert rejected.status_code == 201, rejected.text
    assert rejected.json()["released"] == 9
    assert [(r["unit"], r["reason"], r["actor"]) for r in rejected.json()["rejected"]] == [
        (4, "lifted off the plate", "tech2")
    ]


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"units": [12], "reason": "lifted"}, "units", 12),
        ({"units": [2], "reason": " "}, "reason", " "),
    ],
)
def test_a_bad_unit_rejection_is_a_problem_and_records_nothing(
    client: TestClient, callers: Callers, store: Store, body: dict, field: str, value: object
) -> None:
    with store.session() as session:
        tech = get_user(session, "tech")
    batch = printed_job(store, tech)
    answer = client.post(
        f"/api/v1/batches/{batch}/rejected-units", json=body, headers=callers["tech"]
    )
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["value"]) == (field, value)
    shown = client.get(f"/api/v1/batches/{batch}/reconciliation", headers=callers["tech"]).json()
    assert shown["rejected"] == []


def _token(client: TestClient, username: str) -> dict[str, str]:
    password = loop.PASSWORDS[username][1]
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_calibration_loop_over_the_api_with_a_second_pharmacist(
    client: TestClient, callers: Callers, store: Store
) -> None:
    loop.add_staff(store)
    loop.released_batches(store, (1, 2), units=4, flow_error=0.04, seed=5)
    where = {"printer": loop.PRINTER, "profile_id": loop.PROFILE}
    admin = client.post(f"/api/v1/lots/{LOT}/calibrations", json=where, headers=callers["admin"])
    assert admin.status_code == 403
    proposed = client.post(
        f"/api/v1/lots/{LOT}/calibrations", json=where, headers=_token(client, "paula")
    )
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()["proposed"]
    assert proposal["factor"] == pytest.approx(1.04, abs=0.006)
    approval = f"/api/v1/calibrations/{proposal['id']}/approval"
    body = {"password": loop.PASSWORDS["paula"][1], "reason": "fit of 8 units"}
    own = client.post(approval, json=body, headers=_token(client, "paula"))
    assert own.status_code == 403, own.text
    assert "they proposed it" in own.json()["detail"]
    wrong = {"password": "not peter's", "reason": "fit of 8 units"}
    assert client.post(approval, json=wrong, headers=_token(client, "peter")).status_code == 401
    listed = client.get(f"/api/v1/lots/{LOT}/calibrations", headers=callers["tech"]).json()
    assert [c["status"] for c in listed] == ["proposed"]
    body = {"password": loop.PASSWORDS["peter"][1], "reason": "fit of 8 units"}
    approved = client.post(approval, json=body, headers=_token(client, "peter"))
    assert approved.status_code == 201, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "peter")


def test_an_order_over_the_api_is_designed_with_the_approved_calibration(
    client: TestClient, callers: Callers, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from printmed.jobs import calibration
    from printmed.jobs.service import get_batch
    from tests.api.payloads import native_order

    # the loop's batches entered for the printer the API queues for: its profile
    monkeypatch.setattr(loop, "PRINTER", loop.PROFILE)
    loop.add_staff(store)
    loop.released_batches(store, (1, 2), units=4, flow_error=0.04, seed=5)
    where = {"printer": loop.PROFILE, "profile_id": loop.PROFILE}
    proposed = client.post(
        f"/api/v1/lots/{LOT}/calibrations", json=where, headers=_token(client, "paula")
    )
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()["proposed"]
    body = {"password": loop.PASSWORDS["peter"][1], "reason": "fit of 8 units"}
    approval = f"/api/v1/calibrations/{proposal['id']}/approval"
    assert client.post(approval, json=body, headers=_token(client, "peter")).status_code == 201

    created = client.post(
        f"/api/v1/prescriptions?printer={loop.PROFILE}",
        json=native_order(rx_id="RX-CAL-1"),
        headers=callers["tech"],
    )
    assert created.status_code == 201, created.text
    with store.read_session() as session:
        in_use = calibration.in_use_by(
            session, get_batch(session, created.json()["batch"]["batch_number"])
        )
    assert in_use["factor"] == pytest.approx(proposal["factor"], rel=1e-12)
    assert in_use["calibration_id"] == proposal["id"]
