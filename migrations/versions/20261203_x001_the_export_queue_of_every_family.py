"""The export queue of every family: `export_jobs` (docs/exports.md).

The primary key leads with (account_id, livemode): distributed by account on Citus
(docs/scaling.md; `distribute` at the end of `upgrade head` picks the new table up),
colocated with the account's other rows. The app role gets its grants from the default
privileges of migration s001.

Revision ID: x001
Revises: w001
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "x001"
down_revision = "w001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("range_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("range_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("records_written", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("records_total", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_name", sa.String(length=64), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_export_jobs_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", "livemode", "id", name=op.f("pk_export_jobs")),
    )
    op.create_index("ix_export_jobs_queue", "export_jobs", ["created_at"],
                    postgresql_where=sa.text("status = 'queued' OR status = 'processing'"))
    op.create_index("ix_export_jobs_expiry", "export_jobs", ["expires_at"],
                    postgresql_where=sa.text("status = 'completed'"))
    op.create_index("ix_export_jobs_list", "export_jobs", ["account_id", "livemode", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("export_jobs")
