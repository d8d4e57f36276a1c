"""The first schema: users, jobs, G-code programs, print progress, audit entries, signatures.

Audit entries, signatures and G-code programs refuse UPDATE and DELETE by trigger on SQLite
and PostgreSQL (and TRUNCATE on PostgreSQL): a record is corrected by a new entry, never edited.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_entries", "signatures", "gcode_programs")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "gcode_programs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_number", sa.String(32), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("printer", sa.String(64), nullable=False, index=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("prescription_json", sa.Text, nullable=False),
        sa.Column("formulation_json", sa.Text, nullable=False),
        sa.Column("dose_json", sa.Text),
        sa.Column("design_json", sa.Text),
        sa.Column("gate_json", sa.Text),
        sa.Column("gcode_sha256", sa.String(64), sa.ForeignKey("gcode_programs.sha256")),
        sa.Column("parameters_json", sa.Text),
        sa.Column("firmware_json", sa.Text),
        sa.Column("stream_report_json", sa.Text),
        sa.Column("weights_json", sa.Text),
        sa.Column("qc_json", sa.Text),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "print_progress",
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("lines_total", sa.Integer, nullable=False),
        sa.Column("lines_sent", sa.Integer, nullable=False),
        sa.Column("lines_acknowledged", sa.Integer, nullable=False),
        sa.Column("last_acknowledged_line", sa.Integer, nullable=False),
        sa.Column("temperatures_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("batch_number", sa.String(32), index=True),
        sa.Column("old_json", sa.Text, nullable=False),
        sa.Column("new_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_number", sa.String(32), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("meaning", sa.String(16), nullable=False),
        sa.Column("signed_at", sa.String(40), nullable=False),
        sa.Column("through_seq", sa.Integer, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("signature_hash", sa.String(64), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        for statement in append_only_triggers(dialect, table):
            op.execute(statement)


def append_only_triggers(dialect: str, table: str) -> list[str]:
    """DDL that makes `table` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    return [
        "CREATE OR REPLACE FUNCTION printmed_refuse_change() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END; "
        "$$ LANGUAGE plpgsql",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION printmed_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION printmed_refuse_change()",
    ]


def downgrade() -> None:
    for table in (
        "signatures",
        "audit_entries",
        "print_progress",
        "jobs",
        "gcode_programs",
        "users",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS printmed_refuse_change()")
