"""Stores to test on: a SQLite file always, and a real PostgreSQL 15 server started here.

The server runs as the `postgres` user (it refuses root) in a temporary folder on a free port,
from scripts/postgres-cluster.sh, and is stopped when the session ends.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from printmed.store import Store, open_store

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres-cluster.sh"
_databases = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    parent = tempfile.mkdtemp(prefix="printmed-pg-")
    os.chmod(parent, 0o711)
    cluster = os.path.join(parent, "cluster")
    url = subprocess.run(
        ["bash", str(SCRIPT), "start", cluster, str(_free_port())],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", cluster], check=False, timeout=60)
        os.rmdir(parent)


def fresh_postgres_database(server_url: str) -> str:
    """A new empty database on the test server; its URL."""
    name = f"printmed_test_{os.getpid()}_{next(_databases)}"
    admin = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'printmed.sqlite'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    store = open_store(url)
    yield store
    store.dispose()
