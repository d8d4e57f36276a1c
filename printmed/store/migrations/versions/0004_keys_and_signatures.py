"""Keys and digital signatures: each audit entry signed by the service key, each e-signature by
the signer's own key, and the signers' keys (sealed under their passwords, certified).

Columns are added with plain ALTER TABLE ... ADD COLUMN (no table rebuild), so the append-only
triggers of audit_entries and signatures stay as they are. Existing rows keep NULL there.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False, unique=True),
        sa.Column("sealed_private_key", sa.Text, nullable=False),
        sa.Column("kdf_salt", sa.String(64), nullable=False),
        sa.Column("kdf_n", sa.Integer, nullable=False),
        sa.Column("kdf_r", sa.Integer, nullable=False),
        sa.Column("kdf_p", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("retired_at", sa.String(40), nullable=True),
        sa.Column("service_key_id", sa.String(16), nullable=False),
        sa.Column("certificate", sa.String(128), nullable=False),
    )
    op.create_index("ix_user_keys_user_id", "user_keys", ["user_id"])
    op.add_column("audit_entries", sa.Column("key_id", sa.String(16), nullable=True))
    op.add_column("audit_entries", sa.Column("service_signature", sa.String(128), nullable=True))
    op.add_column("signatures", sa.Column("user_key_id", sa.Integer, nullable=True))
    op.add_column("signatures", sa.Column("digital_signature", sa.String(128), nullable=True))
    # the sign-in defence finds an account's last unlock by its entries
    op.create_index("ix_audit_entries_entity_id", "audit_entries", ["entity", "entity_id"])


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL), never a table rebuild that would lose
    # the append-only triggers.
    op.drop_index("ix_audit_entries_entity_id", "audit_entries")
    for table, column in (
        ("signatures", "digital_signature"),
        ("signatures", "user_key_id"),
        ("audit_entries", "service_signature"),
        ("audit_entries", "key_id"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_user_keys_user_id", "user_keys")
    op.drop_table("user_keys")
