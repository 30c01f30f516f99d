"""Tables of the affiliate domain.

Raw rows (`affiliate_events`, `affiliate_conversions`) feed the paginated feeds; every
other section is read from `affiliate_daily_counts`, which the ingesting transaction
keeps exact, so a read touches days x labels rows however many events there are.
Every table leads its keys with the account and mode.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from sqlalchemy import (
    BigInteger,
    Date,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, Currency, Money, ShortText, Tenanted, TimestampTZ, sequence_id, tenant_foreign_key

Code = String(64)
Url = String(2048)


class Affiliate(Tenanted, Base):
    """A partner who promotes the business."""

    __tablename__ = "affiliates"

    id: Mapped[str] = mapped_column(Code, primary_key=True)
    name: Mapped[ShortText]


class TrackingCode(Tenanted, Base):
    """A code that attributes clicks and conversions to one affiliate, for good."""

    __tablename__ = "affiliate_tracking_codes"

    code: Mapped[str] = mapped_column(Code, primary_key=True)
    affiliate_id: Mapped[str] = mapped_column(Code)

    __table_args__ = (
        tenant_foreign_key("affiliate_id", "affiliates", "fk_affiliate_tracking_codes_affiliate"),
    )


class Product(Tenanted, Base):
    """A product's display name."""

    __tablename__ = "affiliate_products"

    product_id: Mapped[str] = mapped_column(Code, primary_key=True)
    name: Mapped[ShortText]


class TrackingEvent(Tenanted, Base):
    """A click, pageview, product view, cart change or thank-you view.

    `event_id` is the client's idempotency key, with `occurred_at` (the month partition's
    column must be in the key; docs/lifecycle.md); `id` is the public number the feeds
    show (from a sequence, unique without an index of its own).
    """

    __tablename__ = "affiliate_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[int] = sequence_id("affiliate_events")
    event_type: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[TimestampTZ] = mapped_column(primary_key=True)
    tracking_code: Mapped[str | None] = mapped_column(Code)
    session_id: Mapped[str | None] = mapped_column(String(128))
    page_url: Mapped[str | None] = mapped_column(Url)
    referrer_url: Mapped[str | None] = mapped_column(Url)
    product_id: Mapped[str | None] = mapped_column(Code)
    device: Mapped[str] = mapped_column(String(16))
    browser: Mapped[str] = mapped_column(String(64))
    os: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    traffic_source: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        # recent_events, newest first; recent_clicks (and each type) likewise.
        Index("ix_affiliate_events_feed", "account_id", "livemode", text("occurred_at DESC"), text("id DESC")),
        Index(
            "ix_affiliate_events_type_feed",
            "account_id", "livemode", "event_type", text("occurred_at DESC"), text("id DESC"),
        ),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


class Conversion(Tenanted, Base):
    """A completed order attributed to a tracking code; `order_id` is its natural key.

    Partitioned by month of `occurred_at`, which is therefore in the key with `order_id`.
    """

    __tablename__ = "affiliate_conversions"

    order_id: Mapped[str] = mapped_column(Code, primary_key=True)
    id: Mapped[int] = sequence_id("affiliate_conversions")
    tracking_code: Mapped[str] = mapped_column(Code)
    order_total: Mapped[Money]
    commission: Mapped[Money]
    currency: Mapped[Currency]
    occurred_at: Mapped[TimestampTZ] = mapped_column(primary_key=True)
    product_ids: Mapped[list[str]] = mapped_column(ARRAY(Code))

    __table_args__ = (
        Index("ix_affiliate_conversions_feed", "account_id", "livemode", text("occurred_at DESC"), text("id DESC")),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


class SessionDay(Tenanted, Base):
    """A visitor session seen on a UTC day: `unique_visitors` counts these rows."""

    __tablename__ = "affiliate_session_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class DailyCount(Tenanted, Base):
    """Per UTC day, the counts of one label of one dimension, exact at every commit.

    `dimension` is `total` (label '') for the stats, trends and daily series; `device`,
    `country`, `browser`, `os`, `source` for the click breakdowns; `page`, `code` and
    `product` for the tables. Only the counters a dimension uses are non-zero.
    """

    __tablename__ = "affiliate_daily_counts"

    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    label: Mapped[str] = mapped_column(String(2048), primary_key=True)
    clicks: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    pageviews: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    visitors: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    product_views: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    add_to_carts: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    remove_from_carts: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    thank_you_views: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    conversions: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    revenue: Mapped[decimal.Decimal] = mapped_column(Numeric(16, 2), server_default=text("0"))
    commission: Mapped[decimal.Decimal] = mapped_column(Numeric(16, 2), server_default=text("0"))

    __table_args__ = (
        # The counters in the key's index: a section's sums are index-only scans over
        # contiguous leaf pages instead of heap pages scattered by years of upserts
        # (bench: tables 2-3x faster). Updates are then never HOT, which ingestion can
        # afford: a batch touches days x labels rows, not one row per event.
        PrimaryKeyConstraint(
            "account_id", "livemode", "dimension", "day", "label",
            name="pk_affiliate_daily_counts", postgresql_include=[
                "clicks", "pageviews", "visitors", "product_views", "add_to_carts", "remove_from_carts",
                "thank_you_views", "conversions", "revenue", "commission"],
        ),
    )


COUNTERS = (
    "clicks", "pageviews", "visitors", "product_views", "add_to_carts", "remove_from_carts",
    "thank_you_views", "conversions", "revenue", "commission",
)
