"""The same service on PostgreSQL: concurrent orders get distinct batch numbers and a key
retried concurrently still makes one batch (what SQLite's single writer gives for free)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from printmed.app import create_app
from printmed.auth import login
from printmed.auth.users import create_user
from printmed.store import open_store
from tests.api.conftest import PASSWORD, api_settings
from tests.api.payloads import native_order
from tests.store.conftest import fresh_postgres_database, postgres_url

__all__ = ["postgres_url"]  # the session's PostgreSQL server, a fixture


@pytest.fixture
def pg_client(tmp_path: Path, postgres_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    url = fresh_postgres_database(postgres_url)
    store = open_store(url)
    with store.session() as session:
        create_user(
            session, None, username="tech", full_name="Tech", role="technician", password=PASSWORD
        )
        _, token = login(session, "tech", PASSWORD, kind="bearer")
    store.dispose()
    app = create_app(api_settings(tmp_path, DATABASE_URL=url))
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _send_all(
    client: TestClient, bodies: list[tuple[str, dict[str, str]]]
) -> list[dict[str, object]]:
    answers: list[dict[str, object]] = []

    def send(body: str, headers: dict[str, str]) -> None:
        answer = client.post("/api/v1/prescriptions", content=body, headers=headers)
        answers.append({"status": answer.status_code, **answer.json()})

    threads = [threading.Thread(target=send, args=item) for item in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_orders_on_postgresql_get_distinct_batch_numbers(
    pg_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = pg_client
    bodies = [(json.dumps(native_order(rx_id=f"RX-PG-{n}")), headers) for n in range(6)]
    answers = _send_all(client, bodies)
    assert [a["status"] for a in answers] == [201] * 6, answers
    batches = {a["batch"]["batch_number"] for a in answers}  # type: ignore[index]
    assert len(batches) == 6
    listed = client.get("/api/v1/batches", headers=headers).json()
    assert sorted(b["batch_number"] for b in listed) == sorted(batches)
    assert {b["state"] for b in listed} == {"verified"}


def test_a_key_retried_concurrently_on_postgresql_makes_one_batch(
    pg_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = pg_client
    keyed = {**headers, "Idempotency-Key": "pg-race"}
    body = json.dumps(native_order(rx_id="RX-PG-RACE"))
    answers = _send_all(client, [(body, keyed)] * 4)
    assert {a["status"] for a in answers} <= {200, 201}, answers
    assert len({a["id"] for a in answers}) == 1
    assert len(client.get("/api/v1/batches", headers=headers).json()) == 1
