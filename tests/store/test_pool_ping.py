"""A pooled PostgreSQL connection is asked `SELECT 1` before use only after lying idle
(`engine.PING_AFTER_IDLE_S`): one the server ended meanwhile is replaced, and a connection in
steady use costs no extra round trip per transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from printmed.store import Store, engine, open_store
from tests.store.conftest import fresh_postgres_database


def _backend_pid(store: Store) -> int:
    with store.read_session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _end_backend(server_url: str, pid: int) -> None:
    admin = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


@pytest.fixture
def store_for(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    opened: list[Store] = []

    def make(idle_s: float) -> Store:
        monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", idle_s)
        store = open_store(fresh_postgres_database(postgres_url))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.dispose()


def test_a_connection_the_server_ended_while_idle_is_replaced(
    store_for: Any, postgres_url: str
) -> None:
    store = store_for(0.0)  # every checkout after a check-in counts as idle
    first = _backend_pid(store)
    _end_backend(postgres_url, first)
    assert _backend_pid(store) != first  # answered on a new connection, no error


def test_without_the_ping_the_ended_connection_would_have_failed(
    store_for: Any, postgres_url: str
) -> None:
    """What the ping is for: the same, with the connection not idle long enough to be asked."""
    store = store_for(3600.0)
    first = _backend_pid(store)
    _end_backend(postgres_url, first)
    with pytest.raises(OperationalError):
        _backend_pid(store)
    assert _backend_pid(store) != first  # the pool starts afresh after the failure


@pytest.mark.parametrize(("idle_s", "last_heard"), [(3600.0, "COMMIT"), (0.0, "ROLLBACK")])
def test_a_connection_in_steady_use_is_not_pinged(
    store_for: Any, postgres_url: str, idle_s: float, last_heard: str
) -> None:
    """What the server last heard on the pooled connection once it is handed out again: the
    previous transaction's COMMIT, or the ping's ROLLBACK when it lay idle past the limit."""
    store = store_for(idle_s)
    pid = _backend_pid(store)  # the pool's one connection
    with store.session() as session:
        session.execute(text("SELECT 2"))
    admin = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with store.engine.connect(), admin.connect() as watcher:  # handed out: pinged or not
            last = watcher.execute(
                text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
        assert last.strip().upper() == last_heard
    finally:
        admin.dispose()
