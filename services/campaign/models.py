"""Tables of the campaign domain: the registry and the hourly projection of instances."""

from __future__ import annotations

import decimal
import uuid

from sqlalchemy import BigInteger, Index, Numeric, PrimaryKeyConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, ShortText, Tenanted, TimestampTZ


class Campaign(Tenanted, Base):
    """A campaign a partner registered. Instances name it by id; they may arrive first."""

    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[ShortText]
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_campaigns_created", "account_id", "livemode", text("created_at DESC"), "id"),)


class CampaignHourlyStats(Tenanted, Base):
    """Per campaign and hour of `started_at`: instances, purchases and revenue.

    Kept exact by the instance service's ingesting transaction (instances add to
    `instances`, an order turns its instance into a purchase and adds its total), so a
    committed write is in the next answer: the staleness bound is zero. The summary and
    deep pages read it instead of the campaign's raw rows.
    """

    __tablename__ = "campaign_hourly_stats"

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[TimestampTZ] = mapped_column(primary_key=True)
    instances: Mapped[int] = mapped_column(BigInteger)
    purchases: Mapped[int] = mapped_column(BigInteger)
    revenue: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))

    __table_args__ = (
        # The figures in the key's index: a window's sums are index-only scans.
        PrimaryKeyConstraint(
            "account_id", "livemode", "campaign_id", "hour",
            name="pk_campaign_hourly_stats", postgresql_include=["instances", "purchases", "revenue"],
        ),
    )
