"""The point-of-care master file and the sites that make batches to it.

- `sites`: every user, registered printer and batch belongs to one (and every API client, whose
  orders are made at its site, and every movement of a lot's stock, which is held at a site).
  The migration makes site 1 ("main"), the control site of a single-site install; a shared
  PostgreSQL database holds more (its id sequence moved past the row inserted with id 1).
- `users.control_site`: the control-site role (approves master-file changes, sees every site),
  held beside the user's pharmacy role.
- `master_versions`: each version of each master-file document (product, lot, printer profile,
  process parameters): its canonical JSON and SHA-256, the difference from the version before,
  who proposed or imported it and why, and the second person's decision with their Ed25519
  signature over it. status: "proposed", "approved", "rejected" or "superseded".
- `jobs.master_pins_json`: the versions (ids and content hashes) a batch was made with.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SITE_TABLES = ("users", "printers", "jobs", "api_clients", "lot_stock")


def upgrade() -> None:
    sites = op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("control", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.bulk_insert(
        sites,
        [
            {
                "id": 1,
                "code": "main",
                "name": "Main pharmacy",
                "control": True,
                "created_by": "migration",
                "created_at": "1970-01-01T00:00:00+00:00",
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('sites', 'id'), (SELECT max(id) FROM sites))"
        )
    for table in _SITE_TABLES:
        with op.batch_alter_table(table) as altered:
            altered.add_column(sa.Column("site_id", sa.Integer, nullable=False, server_default="1"))
            altered.create_index(f"ix_{table}_site_id", ["site_id"])
            altered.create_foreign_key(f"fk_{table}_site_id", "sites", ["site_id"], ["id"])
    with op.batch_alter_table("users") as users:
        users.add_column(
            sa.Column("control_site", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("master_pins_json", sa.Text, nullable=True))
    op.create_table(
        "master_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("content_json", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("diff_json", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.String(40), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.String(40), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=False),
        sa.Column("approval_sha256", sa.String(64), nullable=True),
        sa.Column("approval_key_id", sa.Integer, nullable=True),
        sa.Column("approval_signature", sa.String(128), nullable=True),
        sa.UniqueConstraint("kind", "key", "version", name="uq_master_versions_kind_key_version"),
    )


def downgrade() -> None:
    op.drop_table("master_versions")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("master_pins_json")
    with op.batch_alter_table("users") as users:
        users.drop_column("control_site")
    for table in reversed(_SITE_TABLES):
        with op.batch_alter_table(table) as altered:
            altered.drop_constraint(f"fk_{table}_site_id", type_="foreignkey")
            altered.drop_index(f"ix_{table}_site_id")
            altered.drop_column("site_id")
    op.drop_table("sites")
