"""Stock and calibration: each material lot's stock ledger (receipts, uses per batch) and the
calibration factors proposed from weighed batches and approved by a second pharmacist.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lot_stock",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lot", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("grams", sa.Float, nullable=False),
        sa.Column("batch_number", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "lot_calibrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lot", sa.String(64), nullable=False, index=True),
        sa.Column("printer", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("factor_before", sa.Float, nullable=False),
        sa.Column("factor", sa.Float, nullable=False),
        sa.Column("fit_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.String(40), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("approval_sha256", sa.String(64), nullable=True),
        sa.Column("approval_key_id", sa.Integer, nullable=True),
        sa.Column("approval_signature", sa.String(128), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lot_calibrations")
    op.drop_table("lot_stock")
