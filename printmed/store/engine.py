"""Engines and sessions for the embedded SQLite file and for PostgreSQL, from one URL.

SQLite runs in WAL with synchronous=FULL and foreign keys on, and takes its write lock when a
transaction begins (BEGIN IMMEDIATE) so two processes never deadlock upgrading a read lock.
Writers queue for that lock on a lock file beside the database (`flock`, which wakes the next
writer the moment the last one ends) rather than in SQLite's busy handler, which polls with
sleeps of up to 100 ms and under ten concurrent orders made the slowest wait half a second.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from printmed.errors import InputError

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle this long is pinged before use (`_ping_if_idle`).
PING_AFTER_IDLE_S = 2.0
CHECKED_IN_AT = "printmed_checked_in_at"  # pool record info key
READ_ONLY = "printmed_read_only"  # execution option of Store.read_session


class FairLock:
    """A lock taken in the order it was asked for (threading.Lock promises no order: under
    load one thread can be passed over again and again, and its order waits seconds)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # set by the holder handing the lock over: held on our behalf now

    @property
    def waiting(self) -> int:
        """How many threads wait for their turn."""
        with self._guard:
            return len(self._waiting)

    def __exit__(self, *exc: object) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().set()  # handed over, still held
            else:
                self._held = False


class WriterQueue:
    """One SQLite database's writers, one at a time: threads of this process on a lock, then
    processes on an exclusive `flock` of `path` (released by the kernel if a process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = FairLock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """This thread's turn to write; what `after_write_turn` was given during it runs once
        the turn has passed to the next writer."""
        after: list[Callable[[], None]] = []
        try:
            with self._threads:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    _turn.after = after
                    yield
                finally:
                    _turn.after = None
                    os.close(fd)  # closing the descriptor releases the flock
        finally:
            for work in after:
                work()


_turn = threading.local()  # .after: the work waiting for this thread's write turn to end


def after_write_turn(work: Callable[[], None]) -> None:
    """Run `work` once this thread's SQLite write turn has ended (at once outside a turn):
    writing outside the database (the audit chain's checkpoints, with their fsync) need not
    hold up the next writer."""
    waiting: list[Callable[[], None]] | None = getattr(_turn, "after", None)
    if waiting is None:
        work()
    else:
        waiting.append(work)


def kept_for_transaction(session: Session, key: str) -> Any:
    """What `keep_for_transaction` kept under `key` in `session`'s current transaction; None in
    any other (a lock held, a row read, for as long as the transaction lasts and no longer)."""
    transaction = session.get_transaction()
    kept = session.info.get(key)
    return (
        kept[1] if transaction is not None and kept is not None and kept[0] is transaction else None
    )


def keep_for_transaction(session: Session, key: str, value: Any) -> None:
    """Keep `value` under `key` for `session`'s current transaction (`kept_for_transaction`)."""
    session.info[key] = (session.get_transaction(), value)


@dataclass(frozen=True)
class Store:
    """A migrated database: `engine`, and `session()` for one unit of work."""

    engine: Engine
    sessions: sessionmaker[Session]
    writers: WriterQueue | None = field(default=None, compare=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on leaving the block, rolled back on an exception."""
        if self.writers is None:
            with self.sessions() as session, session.begin():
                yield session
            return
        with self.writers.turn(), self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite a deferred BEGIN, so that in WAL it never
        waits for the writer (the API's lookups); the same as `session()` on PostgreSQL."""
        with self.sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            # Closing (not rolling back) ends the transaction and leaves loaded objects usable.
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def warm(self) -> int:
        """Open as many connections as the pool keeps, and have each read every table once: a
        service's first orders, arriving together, would otherwise wait for connections made
        for them (on PostgreSQL a server process each, its catalog caches empty). How many
        were warmed."""
        from printmed.store.models import Base

        keeps = max(1, int(getattr(self.engine.pool, "size", lambda: 1)()))
        # read-only: on SQLite a deferred BEGIN, which takes no write lock
        connections = [
            self.engine.connect().execution_options(**{READ_ONLY: True}) for _ in range(keeps)
        ]
        try:
            for connection in connections:
                with connection.begin():
                    for table in Base.metadata.sorted_tables:
                        connection.execute(select(literal(1)).select_from(table).limit(1))
        finally:
            for connection in connections:
                connection.close()  # back to the pool, which keeps it
        return keeps


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` URLs use the psycopg (v3) driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file's folder is created, its pragmas set on connect."""
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InputError("DATABASE_URL", url, "needs a SQLite file, not an in-memory database")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if backend == "postgresql":
        engine = create_engine(url)
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", functools.partial(_ping_if_idle, PING_AFTER_IDLE_S))
        return engine
    raise InputError("DATABASE_URL", url, "is neither sqlite nor postgresql")


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[CHECKED_IN_AT] = time.monotonic()


def _ping_if_idle(idle_s: float, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection idle for `idle_s` or longer is asked `SELECT 1` before it
    is handed out; one that does not answer (the server restarted, or ended it) is replaced
    (DisconnectionError makes the pool connect afresh). A connection in steady use is not asked:
    a ping on every checkout was a round trip per transaction, four in each order."""
    checked_in_at = record.info.get(CHECKED_IN_AT)
    if checked_in_at is None or time.monotonic() - checked_in_at < idle_s:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # any failure of the ping: this connection is not to be used
        raise DisconnectionError(f"the pooled connection did not answer: {error}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that "begin" below is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def open_store(url: str, *, migrate: bool = True) -> Store:
    """A `Store` for `url`, brought to the newest schema unless `migrate` is false."""
    engine = make_engine(url)
    if migrate:
        from printmed.store.migrate import upgrade

        upgrade(engine)
    writers = None
    if engine.dialect.name == "sqlite" and engine.url.database:
        writers = WriterQueue(Path(f"{engine.url.database}.writers"))
    return Store(
        engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), writers=writers
    )
