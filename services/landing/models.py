"""Tables of the landing domain: tenants, their visitors' events, and the daily salts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, PrimaryKeyConstraint,
    SmallInteger, String, func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, ShortText, TimestampTZ, UUIDCol, sequence_id

# The stored prefix of the hex SHA-256 of (salt, tenant, IP): the documented 45 characters.
VISITOR_HASH_LENGTH = 45


class LandingTenant(Base):
    """A business whose landing pages are tracked; it belongs to one account and mode.

    The id is a global integer because the public track endpoint names a tenant by id
    alone (the document's `tenant_id`); the dashboards look it up by (account, mode, id).
    """

    __tablename__ = "landing_tenants"

    id: Mapped[int] = sequence_id("landing_tenants", primary_key=True)
    account_id: Mapped[UUIDCol] = mapped_column(ForeignKey("accounts.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[ShortText]
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_landing_tenants_account", "account_id", "livemode", "id"),)


class TenantRows:
    """The leading key column of the rows of a tenant: its account (docs/scaling.md)."""

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True, sort_order=-1)


class LandingEvent(Base):
    """One counted (non-bot) visitor event. The IP is never stored, only `visitor_hash`.

    Partitioned by month of `occurred_at` (platform_core/lifecycle.py).
    """

    __tablename__ = "landing_events"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("landing_tenants.id"))
    occurred_at: Mapped[TimestampTZ]
    id: Mapped[int] = sequence_id("landing_events")
    # The EventType enum number of partnerlytics.landing.v1.
    event_type: Mapped[int] = mapped_column(SmallInteger)
    visitor_hash: Mapped[str] = mapped_column(String(VISITOR_HASH_LENGTH))
    # `time_on_page` only: metadata.seconds in milliseconds.
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    user_agent: Mapped[str] = mapped_column(String(512))
    referrer: Mapped[str] = mapped_column(String(2048))
    event_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)

    __table_args__ = (
        PrimaryKeyConstraint("account_id", "tenant_id", "occurred_at", "id", name="pk_landing_events"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


class LandingDailyVisitor(TenantRows, Base):
    """The distinct visitor hashes of a tenant's local day, kept by the transaction that
    writes the events; an insert that finds its row already there is not a new visitor."""

    __tablename__ = "landing_daily_visitors"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("landing_tenants.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(VISITOR_HASH_LENGTH), primary_key=True)


class LandingDailyStats(TenantRows, Base):
    """Per tenant and local day (of the tenant's zone): unique visitors and events per type.

    Kept exact by the transaction that writes the events (staleness zero); the dashboards
    read 7 rows of it, whatever the number of events.
    """

    __tablename__ = "landing_daily_stats"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("landing_tenants.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    visitors: Mapped[int] = mapped_column(BigInteger)
    pageview: Mapped[int] = mapped_column(BigInteger)
    click_whatsapp: Mapped[int] = mapped_column(BigInteger)
    click_call: Mapped[int] = mapped_column(BigInteger)
    click_toggle_currency: Mapped[int] = mapped_column(BigInteger)
    time_on_page: Mapped[int] = mapped_column(BigInteger)
    qr_scan: Mapped[int] = mapped_column(BigInteger)
    product_click: Mapped[int] = mapped_column(BigInteger)
    # The sum of the time_on_page events' durations.
    duration_ms: Mapped[int] = mapped_column(BigInteger)


class LandingSalt(Base):
    """The secret salt of one local day of one time zone, deleted 48 hours after the day began.

    Without it the stored hashes of that day cannot be linked to IPs any more, not even by
    trying all 2^32 IPv4 addresses.
    """

    __tablename__ = "landing_salts"

    time_zone: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    expires_at: Mapped[TimestampTZ] = mapped_column(index=True)



