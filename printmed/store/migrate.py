"""Brings a database to the newest schema with the Alembic migrations shipped in the package.

Several processes may start at once (a worker per printer, the API): on PostgreSQL an advisory
lock makes them migrate one after another; SQLite's BEGIN IMMEDIATE does the same.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

STORE_DIR = Path(__file__).resolve().parent
MIGRATION_LOCK_KEY = 7_310_001


def alembic_config() -> Config:
    config = Config(str(STORE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(STORE_DIR / "migrations"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision` in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
