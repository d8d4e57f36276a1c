"""The printer register: each physical printer (name, profile, serial, location, connection,
status, calibration due date, the batch its line is cleared for), its calibration records, and
the physical printer's serial on the batch that printed on it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "printers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("profile_id", sa.String(64), nullable=False, index=True),
        sa.Column("serial_number", sa.String(64), nullable=False, unique=True),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("connection", sa.String(16), nullable=False),
        sa.Column("usb_port", sa.String(255), nullable=True),
        sa.Column("usb_baud", sa.Integer, nullable=True),
        sa.Column("octoprint_url", sa.String(255), nullable=True),
        sa.Column("octoprint_key_sealed", sa.Text, nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("calibration_due_on", sa.String(10), nullable=True),
        sa.Column("cleared_batch", sa.String(32), nullable=True),
        sa.Column("cleared_lot", sa.String(64), nullable=True),
        sa.Column("cleared_by", sa.String(64), nullable=True),
        sa.Column("cleared_at", sa.String(40), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "printer_calibrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "printer_id", sa.Integer, sa.ForeignKey("printers.id"), nullable=False, index=True
        ),
        sa.Column("checks_json", sa.Text, nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("performed_by", sa.String(64), nullable=False),
        sa.Column("performed_at", sa.String(40), nullable=False),
        sa.Column("next_due_on", sa.String(10), nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
    )
    # Plain ADD COLUMN: no rebuild of jobs (which orders reference).
    op.add_column("jobs", sa.Column("printer_serial", sa.String(64), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN printer_serial")
    op.drop_table("printer_calibrations")
    op.drop_table("printers")
