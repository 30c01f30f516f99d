"""Tables of the voucher domain.

Every table carries the account and mode (live/test) first in its primary key and in
every index: every query is scoped by them. Amounts are integer minor units (`bigint`),
exact like the API's figures.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, Currency, Tenanted, TimestampTZ

ClientId = String(64)


class Voucher(Tenanted, Base):
    """A discount code the partner hands out."""

    __tablename__ = "vouchers"

    id: Mapped[str] = mapped_column(String(18), primary_key=True)  # v_ + 16 hex
    code: Mapped[str] = mapped_column(String(64))
    currency: Mapped[Currency]
    created_at: Mapped[TimestampTZ]
    ingested_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())


class VoucherCustomer(Tenanted, Base):
    """A customer of the partner's shop, with the dimensions insights group by."""

    __tablename__ = "voucher_customers"

    id: Mapped[str] = mapped_column(ClientId, primary_key=True)
    segment: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))


class VoucherValidation(Tenanted, Base):
    """A checkout attempt that validated a voucher (partitioned by month of `validated_at`)."""

    __tablename__ = "voucher_validations"

    id: Mapped[str] = mapped_column(ClientId, primary_key=True)
    voucher_id: Mapped[str] = mapped_column(String(18))
    customer_id: Mapped[str | None] = mapped_column(ClientId)
    order_amount: Mapped[int] = mapped_column(BigInteger)
    validated_at: Mapped[TimestampTZ] = mapped_column(primary_key=True)

    __table_args__ = (
        Index(
            "ix_voucher_validations_period", "account_id", "livemode", "voucher_id", "validated_at",
            postgresql_include=["customer_id"],
        ),
        {"postgresql_partition_by": "RANGE (validated_at)"},
    )


class VoucherRedemption(Tenanted, Base):
    """An order that completed with a voucher: one use (partitioned by month of `redeemed_at`)."""

    __tablename__ = "voucher_redemptions"

    id: Mapped[str] = mapped_column(ClientId, primary_key=True)
    voucher_id: Mapped[str] = mapped_column(String(18))
    customer_id: Mapped[str] = mapped_column(ClientId)
    order_total: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    redeemed_at: Mapped[TimestampTZ] = mapped_column(primary_key=True)

    __table_args__ = (
        # Every analytics read of one voucher's period is an index-only range scan.
        Index(
            "ix_voucher_redemptions_period", "account_id", "livemode", "voucher_id", "redeemed_at",
            postgresql_include=["customer_id", "order_total", "discount"],
        ),
        # New vs returning customers and lifetime values look customers up across vouchers.
        Index(
            "ix_voucher_redemptions_customer", "account_id", "livemode", "customer_id", "redeemed_at",
            postgresql_include=["order_total"],
        ),
        {"postgresql_partition_by": "RANGE (redeemed_at)"},
    )


class VoucherDaily(Tenanted, Base):
    """Per voucher and UTC day: uses, discounts, order totals and validations.

    Kept exact in the ingesting transaction (only rows actually inserted are added, so a
    retried batch changes nothing), so trends and the period sums read a row per day
    instead of every redemption. Distinct customers cannot be summed across days and are
    counted from the raw rows.
    """

    __tablename__ = "voucher_daily"

    voucher_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    uses: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    discount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    gross: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    validations: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint(
            "account_id", "livemode", "voucher_id", "day", name="pk_voucher_daily",
            postgresql_include=["uses", "discount", "gross", "validations"],
        ),
    )


class VoucherExport(Tenanted, Base):
    """An export job and, once completed, its file. The table is the job queue.

    A worker claims a `processing` row with `FOR UPDATE SKIP LOCKED` and holds a lease
    (`lease_expires_at`) that it renews while it works; a row whose lease ran out (its
    worker died) is claimed again. Completion renames the file into place and marks the
    row in one transaction guarded by the lease owner, so a job has at most one file.
    """

    __tablename__ = "voucher_exports"

    id: Mapped[str] = mapped_column(String(23), primary_key=True)  # export_ + 16 hex
    status: Mapped[str] = mapped_column(String(12))  # processing, completed, failed, expired
    format: Mapped[str] = mapped_column(String(4))
    voucher_ids: Mapped[list[str]] = mapped_column(ARRAY(String(18)))
    metrics: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    period_start: Mapped[dt.date] = mapped_column()
    period_end: Mapped[dt.date] = mapped_column()  # inclusive
    record_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[TimestampTZ]
    estimated_completion: Mapped[TimestampTZ]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The queue: oldest processing job first, across accounts.
        Index("ix_voucher_exports_queue", "created_at", postgresql_where=text("status = 'processing'")),
        # Expiry: completed files by their deadline.
        Index("ix_voucher_exports_expiry", "expires_at", postgresql_where=text("status = 'completed'")),
    )
