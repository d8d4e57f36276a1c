"""A migrated SQLite store per test, in the test's own folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from printmed.records import masterfile
from printmed.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    with opened.session() as session:  # the fixtures as version 1 of the master file
        masterfile.first_start(session)
    yield opened
    opened.dispose()
