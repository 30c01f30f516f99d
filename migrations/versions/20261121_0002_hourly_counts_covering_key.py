"""The hourly counts' primary key covers `n`, so the list's sums are index-only scans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE instance_hourly_counts DROP CONSTRAINT pk_instance_hourly_counts")
    op.execute(
        "ALTER TABLE instance_hourly_counts ADD CONSTRAINT pk_instance_hourly_counts "
        "PRIMARY KEY (account_id, livemode, hour, is_purchase) INCLUDE (n)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE instance_hourly_counts DROP CONSTRAINT pk_instance_hourly_counts")
    op.execute(
        "ALTER TABLE instance_hourly_counts ADD CONSTRAINT pk_instance_hourly_counts "
        "PRIMARY KEY (account_id, livemode, hour, is_purchase)"
    )
