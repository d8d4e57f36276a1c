"""SQLite writers queue on a lock file beside the database (an exclusive flock held for the
whole write transaction), so the next writer starts the moment the last one ends instead of
polling in SQLite's busy handler; read sessions never queue."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from printmed.store import open_store
from printmed.store.engine import FairLock


def _free(path: Path) -> bool:
    """True when another open file description could take the writers' lock right now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_write_transaction_holds_the_writers_lock_and_a_read_does_not(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    try:
        assert store.writers is not None
        lock = store.writers.path
        assert lock == tmp_path / "printmed.sqlite.writers"
        with store.read_session() as session:
            session.execute(text("SELECT 1"))
            assert _free(lock)
        with store.session() as session:
            session.execute(text("SELECT 1"))
            assert not _free(lock)
        assert _free(lock)
    finally:
        store.dispose()


def test_a_failed_transaction_releases_the_lock(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    try:
        assert store.writers is not None
        with pytest.raises(OperationalError, match="no_such_column"), store.session() as session:
            session.execute(text("SELECT no_such_column FROM users"))
        assert _free(store.writers.path)
    finally:
        store.dispose()


def test_writers_in_threads_take_turns_and_all_commit(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    inside = 0
    most = 0
    guard = threading.Lock()

    def write(n: int) -> None:
        nonlocal inside, most
        with store.session() as session:
            with guard:
                inside += 1
                most = max(most, inside)
            session.execute(
                text(
                    "INSERT INTO pharmacy (id, name, address, set_by, set_at)"
                    " VALUES (:n, 'x', 'y', 'z', 't')"
                ),
                {"n": n},
            )
            with guard:
                inside -= 1

    try:
        threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with store.read_session() as session:
            assert session.execute(text("SELECT count(*) FROM pharmacy")).scalar() == 8
        assert most == 1
    finally:
        store.dispose()


def test_the_fair_lock_serves_threads_in_the_order_they_asked() -> None:
    lock = FairLock()
    served: list[int] = []

    def take(n: int) -> None:
        with lock:
            served.append(n)

    threads = []
    with lock:
        for n in range(6):
            thread = threading.Thread(target=take, args=(n,))
            thread.start()
            threads.append(thread)
            while lock.waiting < n + 1:  # each asks before the next starts
                thread.join(0.001)
    for thread in threads:
        thread.join(10)
    assert served == list(range(6))
    with lock:  # free again once the queue is served
        assert lock.waiting == 0


def test_work_given_during_a_write_turn_runs_after_the_turn_has_passed_on(tmp_path: Path) -> None:
    """The audit chain's checkpoints (a file and its fsync) are written after the writers' lock
    is released; outside a turn the work runs at once."""
    from printmed.store.engine import after_write_turn

    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    assert store.writers is not None
    lock = store.writers.path
    seen: list[tuple[str, bool]] = []
    try:
        with store.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            after_write_turn(lambda: seen.append(("deferred", _free(lock))))
            seen.append(("in the turn", _free(lock)))
        after_write_turn(lambda: seen.append(("outside", _free(lock))))
    finally:
        store.dispose()
    assert seen == [("in the turn", False), ("deferred", True), ("outside", True)]
