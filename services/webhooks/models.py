"""Tables of webhooks (docs/webhooks.md): the receivers, the outbox of events, and one
delivery row per (endpoint, event).

Every table leads its primary key with the account and mode (distributed by account on
Citus, colocated with the rest of the account's rows). The signing secret is stored as
is: an HMAC key must be usable to sign, so it cannot be a hash like an API key; it grants
no access to the API (docs/webhooks.md, "Secrets").
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, Tenanted, TimestampTZ


class WebhookEndpoint(Tenanted, Base):
    """A receiver of an account and mode."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(19), primary_key=True)  # we_ + 16 hex
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}")
    secret: Mapped[str] = mapped_column(String(70))
    previous_secret: Mapped[str | None] = mapped_column(String(70))
    previous_secret_expires_at: Mapped[TimestampTZ | None]
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str] = mapped_column(String(20), server_default="")
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())


class WebhookEvent(Tenanted, Base):
    """The outbox: one row per event, written in the transaction of the data it describes.
    `body` is the exact JSON every delivery of it posts."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # evt_ + 32 hex
    type: Mapped[str] = mapped_column(String(64))
    api_version: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_webhook_events_created", "account_id", "livemode", "created_at"),)


class WebhookDelivery(Tenanted, Base):
    """The delivery of one event to one endpoint: its queue entry and its log."""

    __tablename__ = "webhook_deliveries"

    endpoint_id: Mapped[str] = mapped_column(String(19), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # pending (to be attempted), succeeded, failed (gave up: a final answer or 3 days).
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())
    # A worker's lease on the attempt in flight; NULL when none is.
    leased_until: Mapped[TimestampTZ | None]
    last_attempt_at: Mapped[TimestampTZ | None]
    response_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())

    __table_args__ = (
        ForeignKeyConstraint(["account_id", "livemode", "endpoint_id"],
                             ["webhook_endpoints.account_id", "webhook_endpoints.livemode", "webhook_endpoints.id"],
                             ondelete="CASCADE"),
        ForeignKeyConstraint(["account_id", "livemode", "event_id"],
                             ["webhook_events.account_id", "webhook_events.livemode", "webhook_events.id"],
                             ondelete="CASCADE"),
        # The worker's candidates: the due pending deliveries, oldest first.
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_event", "account_id", "livemode", "event_id"),
    )


def new_endpoint_id() -> str:
    return "we_" + uuid.uuid4().hex[:16]


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex
