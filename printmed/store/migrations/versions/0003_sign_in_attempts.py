"""Sign-in attempts and account locks: every staff sign-in, failed or not, and who is locked.

Revision ID: 0003
Revises: api_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
    )
    op.create_index("ix_sign_in_attempts_username_at", "sign_in_attempts", ["username", "at"])
    op.create_index("ix_sign_in_attempts_address_at", "sign_in_attempts", ["address", "at"])
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("locked_at", sa.String(40), nullable=True))
        users.add_column(sa.Column("locked_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.drop_column("locked_reason")
        users.drop_column("locked_at")
    op.drop_index("ix_sign_in_attempts_address_at", "sign_in_attempts")
    op.drop_index("ix_sign_in_attempts_username_at", "sign_in_attempts")
    op.drop_table("sign_in_attempts")
