from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from printmed.records import masterfile
from printmed.store import Store, open_store
from tests.store.conftest import any_store, postgres_url

__all__ = ["any_store", "postgres_url", "started_any_store", "store"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store at first start: the fixtures as version 1 of the master file."""
    opened = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    masterfile.start(opened)
    yield opened
    opened.dispose()


@pytest.fixture
def started_any_store(any_store: Store) -> Store:
    """`any_store` (SQLite, then PostgreSQL) at first start."""
    masterfile.start(any_store)
    return any_store
