"""Sign-in and API tables: staff sessions, API clients, orders, idempotent answers.

Revision ID: api_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_seen_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=True),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(48), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("prescription_id", sa.String(128), nullable=False, index=True),
        sa.Column("resource_json", sa.Text, nullable=True),
        sa.Column(
            "batch_number",
            sa.String(32),
            sa.ForeignKey("jobs.batch_number"),
            nullable=False,
            unique=True,
        ),
        sa.Column("received_from", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "idempotent_answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("principal", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("location", sa.String(255), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("principal", "key"),
    )


def downgrade() -> None:
    for table in ("idempotent_answers", "orders", "api_clients", "staff_sessions"):
        op.drop_table(table)
