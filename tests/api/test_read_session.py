"""The API's lookups (keys, tokens, Tasks) read in a deferred transaction: on SQLite they never
wait for a writer holding the write lock, and objects read stay usable after the session."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select, text

from printmed.auth.users import create_user
from printmed.store import open_store
from printmed.store.models import User

WRITER_HOLDS_S = 3.0


def test_a_read_session_does_not_wait_for_the_writer(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.session() as session:
            session.execute(text("INSERT INTO gcode_programs VALUES ('sha', 'G1 X1', 1)"))
            holding.set()
            release.wait(WRITER_HOLDS_S)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(WRITER_HOLDS_S)
        began = time.monotonic()
        with store.read_session() as session:
            programs = session.scalar(text("SELECT count(*) FROM gcode_programs"))
        waited_s = time.monotonic() - began
    finally:
        release.set()
        thread.join()
        store.dispose()
    assert programs == 0  # the writer's row is not committed yet
    assert waited_s < 1.0


def test_objects_read_stay_loaded_after_the_read_session(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    with store.session() as session:
        create_user(
            session, None, username="tina", full_name="Tina", role="technician", password="x" * 12
        )
    with store.read_session() as session:
        user = session.scalar(select(User).where(User.username == "tina"))
    store.dispose()
    assert user is not None
    assert (user.username, user.role) == ("tina", "technician")
