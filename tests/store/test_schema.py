"""The schema comes from the Alembic migrations shipped in the package; SQLite runs in WAL with
synchronous=FULL and foreign keys on; settings come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from printmed.errors import InputError
from printmed.settings import load_settings
from printmed.store import Store, open_store
from printmed.store.engine import normalise_url
from printmed.store.migrate import STORE_DIR, alembic_config, upgrade
from printmed.store.models import Base


def test_migrations_ship_inside_the_package() -> None:
    assert (STORE_DIR / "alembic.ini").is_file()
    assert (STORE_DIR / "migrations" / "versions" / "0001_initial.py").is_file()


def test_migrated_store_has_every_table_and_its_version(any_store: Store) -> None:
    tables = set(inspect(any_store.engine).get_table_names())
    assert {
        "users",
        "jobs",
        "gcode_programs",
        "print_progress",
        "audit_entries",
        "signatures",
        "alembic_version",
    } <= tables
    with any_store.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_every_table_in_the_store_package_is_what_the_migrations_made(any_store: Store) -> None:
    """The tables' declarations (all in printmed.store.models) and the migrated schema agree:
    no table, column, index or constraint on one side only."""
    with any_store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(any_store: Store) -> None:
    upgrade(any_store.engine)
    with any_store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'printmed.sqlite'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_in_memory_and_unknown_databases_are_refused() -> None:
    with pytest.raises(InputError, match="DATABASE_URL"):
        open_store("sqlite://")
    with pytest.raises(InputError, match="neither sqlite nor postgresql"):
        open_store("mysql://x@localhost/db")


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "PRINTMED_DATA_DIR": str(tmp_path),
            "PRINTMED_PHARMACY_NAME": "Test Pharmacy",
            "PRINTMED_SESSION_IDLE_MINUTES": "5",
        }
    )
    assert settings.database_url == f"sqlite:///{tmp_path / 'printmed.sqlite'}"
    assert settings.pharmacy_name == "Test Pharmacy"
    assert settings.session_idle_minutes == 5.0
    assert load_settings({"DATABASE_URL": "postgresql://x/y"}).database_url == "postgresql://x/y"


def test_a_bad_idle_time_is_refused_naming_the_variable() -> None:
    with pytest.raises(InputError, match="PRINTMED_SESSION_IDLE_MINUTES: 'soon'"):
        load_settings({"PRINTMED_SESSION_IDLE_MINUTES": "soon"})
