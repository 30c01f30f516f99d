"""Campaign registry and the hourly campaign projection, backfilled from the instances.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:05:21.276046
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_hourly_stats",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instances", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_campaign_hourly_stats_account_id_accounts")
        ),
    )
    # The figures in the key's index (INCLUDE), which Alembic's create_table cannot say.
    op.execute(
        "ALTER TABLE campaign_hourly_stats ADD CONSTRAINT pk_campaign_hourly_stats "
        "PRIMARY KEY (account_id, livemode, campaign_id, hour) INCLUDE (instances, purchases, revenue)"
    )
    op.create_table(
        "campaigns",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_campaigns_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", "livemode", "id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        "ix_campaigns_created", "campaigns",
        ["account_id", "livemode", sa.literal_column("created_at DESC"), "id"], unique=False,
    )
    op.create_index(
        "ix_instances_campaign_window", "instances",
        ["account_id", "livemode", "campaign_id", sa.literal_column("started_at DESC"), "id"],
        unique=False, postgresql_include=["is_purchase", "insider_id", "purchased_insider_id"],
    )
    # Instances and orders ingested before this revision.
    op.execute(
        "INSERT INTO campaign_hourly_stats (account_id, livemode, campaign_id, hour, instances, purchases, revenue) "
        "SELECT i.account_id, i.livemode, i.campaign_id, date_trunc('hour', i.started_at AT TIME ZONE 'UTC') "
        "AT TIME ZONE 'UTC', count(*), count(*) FILTER (WHERE i.is_purchase), coalesce(sum(o.total), 0) "
        "FROM instances i LEFT JOIN orders o ON i.is_purchase AND o.account_id = i.account_id "
        "AND o.livemode = i.livemode AND o.instance_id = i.id GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    op.drop_index("ix_instances_campaign_window", table_name="instances")
    op.drop_index("ix_campaigns_created", table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("campaign_hourly_stats")
