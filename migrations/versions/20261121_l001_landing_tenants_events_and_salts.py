"""Landing analytics: tenants, their visitors' events, daily rollups and the daily salts of the IP hashes.

Revision ID: l001
Revises: a001
Create Date: 2026-11-21 09:19:27.357750
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "l001"
down_revision = "a001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "landing_salts",
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("time_zone", "day", name=op.f("pk_landing_salts")),
    )
    op.create_index(op.f("ix_landing_salts_expires_at"), "landing_salts", ["expires_at"], unique=False)
    op.create_table(
        "landing_tenants",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_landing_tenants_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landing_tenants")),
    )
    op.create_index("ix_landing_tenants_account", "landing_tenants", ["account_id", "livemode", "id"], unique=False)
    op.create_table(
        "landing_events",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_type", sa.SmallInteger(), nullable=False),
        sa.Column("visitor_hash", sa.String(length=45), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("referrer", sa.String(length=2048), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["landing_tenants.id"], name=op.f("fk_landing_events_tenant_id_landing_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "occurred_at", "id", name="pk_landing_events"),
    )
    op.create_table(
        "landing_daily_visitors",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_hash", sa.String(length=45), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["landing_tenants.id"], name=op.f("fk_landing_daily_visitors_tenant_id_landing_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "visitor_hash", name=op.f("pk_landing_daily_visitors")),
    )
    op.create_table(
        "landing_daily_stats",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (
            "visitors", "pageview", "click_whatsapp", "click_call", "click_toggle_currency", "time_on_page",
            "qr_scan", "product_click", "duration_ms",
        )),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["landing_tenants.id"], name=op.f("fk_landing_daily_stats_tenant_id_landing_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_landing_daily_stats")),
    )


def downgrade() -> None:
    op.drop_table("landing_daily_stats")
    op.drop_table("landing_daily_visitors")
    op.drop_table("landing_events")
    op.drop_index("ix_landing_tenants_account", table_name="landing_tenants")
    op.drop_table("landing_tenants")
    op.drop_index(op.f("ix_landing_salts_expires_at"), table_name="landing_salts")
    op.drop_table("landing_salts")
