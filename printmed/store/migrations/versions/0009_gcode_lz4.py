"""Stored G-code compressed with LZ4 on PostgreSQL.

Every order keeps its program (~70 kB for one tablet) in `gcode_programs.text`, which PostgreSQL
compresses when it stores it. Its default method, pglz, took 1.3 ms of the server's CPU for each
program kept, LZ4 0.3 ms, and LZ4 also reads back (every record's read-back, every print) faster.
Only values written from now on are compressed with LZ4; those already kept stay as they are and
read the same. A server built without LZ4 keeps pglz (the change is tried in a savepoint).
SQLite stores the text as it is: nothing to do there.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql(
            f"ALTER TABLE gcode_programs ALTER COLUMN text SET COMPRESSION {method}"
        )
    except DBAPIError:  # compression method lz4 not supported by this server's build
        savepoint.rollback()
    else:
        savepoint.commit()


def upgrade() -> None:
    _compression("lz4")


def downgrade() -> None:
    _compression("pglz")
