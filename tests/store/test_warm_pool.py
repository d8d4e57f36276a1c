"""A service warms its store's connection pool as it starts (`Store.warm`): the pool's
connections are open and have read every table before the first orders arrive together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from printmed.store import Store
from printmed.store.models import Base


def test_warming_opens_the_pools_connections_and_reads_every_table(any_store: Store) -> None:
    connects: list[Any] = []
    event.listen(any_store.engine, "connect", lambda dbapi, _record: connects.append(dbapi))
    read: list[str] = []

    def seen(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        read.append(statement)

    event.listen(any_store.engine, "before_cursor_execute", seen)
    warmed = any_store.warm()
    assert warmed == any_store.engine.pool.size() == 5  # type: ignore[attr-defined]
    assert 1 <= len(connects) <= warmed  # the migration's connection may be in the pool already
    assert any_store.engine.pool.checkedin() == warmed  # type: ignore[attr-defined]
    for table in Base.metadata.sorted_tables:
        assert sum(f"FROM {table.name}" in s for s in read) == warmed, table.name
    connects.clear()
    with any_store.read_session() as session, any_store.session() as other:
        session.connection()
        other.connection()
    assert connects == []  # the orders' sessions took warmed connections, made none
    if any_store.writers is not None:  # SQLite: warming took no write lock (a deferred BEGIN)
        assert not any("IMMEDIATE" in s for s in read[: warmed * len(Base.metadata.tables)])
