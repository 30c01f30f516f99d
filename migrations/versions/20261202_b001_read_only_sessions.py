"""Read-only sessions: `api_sessions`, a secret key exchanged for a short-lived token
stored only as its SHA-256 digest (platform_core/sessions.py).

A reference table on Citus, as `api_keys` (authentication looks a token up before the
account is known); swept by the maintenance job once expired (platform_core/lifecycle.py).

Revision ID: b001
Revises: c001
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "b001"
down_revision = "c001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_sessions",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("key_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_api_sessions_account_id_accounts")),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_api_sessions_key_id_api_keys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_sessions_token_hash")),
    )
    op.create_index(op.f("ix_api_sessions_account_id"), "api_sessions", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_sessions_account_id"), table_name="api_sessions")
    op.drop_table("api_sessions")
