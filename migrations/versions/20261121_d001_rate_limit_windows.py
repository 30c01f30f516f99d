"""The PostgreSQL store of the rate limiter: one UNLOGGED row of hits per limiter key.

Revision ID: d001
Revises: p001
Create Date: 2026-11-21 11:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "d001"
down_revision = "p001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("hits", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_windows")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_rate_limit_windows_expires_at"), "rate_limit_windows", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_windows_expires_at"), table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
