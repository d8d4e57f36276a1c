"""Retries never make two batches: Idempotency-Key replays the first answer, reuses with another
body are refused, and an order identifier already received is the same order."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient

from tests.api.conftest import Callers
from tests.api.fhir_helpers import post_order
from tests.api.payloads import adult_fixed_dose_order, native_order


def _batches(client: TestClient, callers: Callers) -> list[dict[str, object]]:
    return client.get("/api/v1/batches", headers=callers["tech"]).json()  # type: ignore[no-any-return]


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer(
    client: TestClient, callers: Callers
) -> None:
    first = post_order(client, adult_fixed_dose_order(), callers["epma"], key="order-7")
    again = post_order(client, adult_fixed_dose_order(), callers["epma"], key="order-7")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(_batches(client, callers)) == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    client: TestClient, callers: Callers
) -> None:
    post_order(client, adult_fixed_dose_order(doses=1), callers["epma"], key="order-8")
    other = post_order(client, adult_fixed_dose_order(doses=2), callers["epma"], key="order-8")
    assert other.status_code == 422
    assert other.json()["issue"][0]["expression"] == ["Idempotency-Key"]
    assert len(_batches(client, callers)) == 1


def test_keys_belong_to_their_caller(client: TestClient, callers: Callers) -> None:
    mine = client.post(
        "/api/v1/prescriptions",
        json=native_order(rx_id="RX-A"),
        headers={**callers["tech"], "Idempotency-Key": "k"},
    )
    theirs = client.post(
        "/api/v1/prescriptions",
        json=native_order(rx_id="RX-A"),
        headers={**callers["pharm"], "Idempotency-Key": "k"},
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def test_the_same_order_identifier_without_a_key_is_the_same_order(
    client: TestClient, callers: Callers
) -> None:
    first = post_order(client, adult_fixed_dose_order(), callers["epma"])
    again = post_order(client, adult_fixed_dose_order(), callers["epma"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(_batches(client, callers)) == 1


def test_a_changed_order_under_a_used_identifier_is_a_conflict(
    client: TestClient, callers: Callers
) -> None:
    post_order(client, adult_fixed_dose_order(doses=1), callers["epma"])
    changed = post_order(client, adult_fixed_dose_order(doses=2), callers["epma"])
    assert changed.status_code == 409
    assert changed.json()["issue"][0]["code"] == "duplicate"
    assert len(_batches(client, callers)) == 1


def test_concurrent_retries_with_one_key_make_one_batch(
    client: TestClient, callers: Callers
) -> None:
    body = json.dumps(native_order(rx_id="RX-RACE"))
    headers = {**callers["tech"], "Idempotency-Key": "race", "Content-Type": "application/json"}
    answers: list[tuple[int, str]] = []

    def send() -> None:
        answer = client.post("/api/v1/prescriptions", content=body, headers=headers)
        answers.append((answer.status_code, answer.json()["id"]))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} <= {200, 201}
    assert len({order_id for _, order_id in answers}) == 1
    assert len(_batches(client, callers)) == 1


def test_an_order_recorded_before_a_field_was_added_is_the_same_order_sent_again() -> None:
    """A prescription recorded without a field added since (e.g. prescriber_words) says the same
    as the same order parsed now, with the field empty; a changed value still differs."""
    from dosing.prescription import parse_prescription
    from printmed.api.orders import says_the_same
    from printmed.audit import canonical_json

    rx = parse_prescription(native_order(rx_id="RX-OLD"))
    recorded = rx.model_dump(mode="json")
    assert recorded["prescriber_words"] is None
    del recorded["prescriber_words"]
    assert says_the_same(canonical_json(recorded), rx)
    recorded["units"] = rx.units + 1
    assert not says_the_same(canonical_json(recorded), rx)
