"""A migrated SQLite store per test, in the test's own folder; `any_store` for the tests that
must hold on SQLite and on a real PostgreSQL server (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from printmed.records import masterfile
from printmed.store import Store, open_store
from tests.store.conftest import any_store, postgres_url

__all__ = ["any_store", "postgres_url", "store"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    with opened.session() as session:  # the fixtures as version 1 of the master file
        masterfile.first_start(session)
    yield opened
    opened.dispose()
