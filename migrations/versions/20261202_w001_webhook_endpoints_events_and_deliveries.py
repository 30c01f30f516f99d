"""Webhooks: the endpoints of an account, the outbox of events, and their deliveries
(docs/webhooks.md).

Each table leads its primary key with (account_id, livemode): distributed by account on
Citus (docs/scaling.md), colocated with the account's other rows, and the deliveries'
foreign keys to endpoints and events include the account so that Citus checks them per
shard. The app role gets its grants from the default privileges of migration s001.

Revision ID: w001
Revises: b001
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "w001"
down_revision = "b001"
branch_labels = None
depends_on = None


def _tenant_columns(table: str) -> list:
    return [
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts")),
    ]


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        *_tenant_columns("webhook_endpoints"),
        sa.Column("id", sa.String(length=19), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False),
        sa.Column("secret", sa.String(length=70), nullable=False),
        sa.Column("previous_secret", sa.String(length=70), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.String(length=20), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "livemode", "id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_events",
        *_tenant_columns("webhook_events"),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("api_version", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "livemode", "id", name=op.f("pk_webhook_events")),
    )
    op.create_index("ix_webhook_events_created", "webhook_events", ["account_id", "livemode", "created_at"])
    op.create_table(
        "webhook_deliveries",
        *_tenant_columns("webhook_deliveries"),
        sa.Column("endpoint_id", sa.String(length=19), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id", "livemode", "endpoint_id"],
                                ["webhook_endpoints.account_id", "webhook_endpoints.livemode", "webhook_endpoints.id"],
                                name=op.f("fk_webhook_deliveries_account_id_webhook_endpoints"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id", "livemode", "event_id"],
                                ["webhook_events.account_id", "webhook_events.livemode", "webhook_events.id"],
                                name=op.f("fk_webhook_deliveries_account_id_webhook_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "livemode", "endpoint_id", "event_id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["account_id", "livemode", "event_id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
