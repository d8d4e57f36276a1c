"""Alembic environment: runs the migrations on the connection printmed.store.migrate passes in.

Standalone use (`alembic -c printmed/store/alembic.ini upgrade head`) takes DATABASE_URL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from printmed.settings import load_settings
from printmed.store.engine import make_engine
from printmed.store.models import Base


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = make_engine(load_settings().database_url)
        with engine.begin() as own:
            _migrate(own)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
