"""The export queue of every family (docs/exports.md): one row per export job and, once
completed, its file.

A worker claims a `queued` row (or a `processing` one whose lease ran out: its worker
died) with `FOR UPDATE SKIP LOCKED` in its account and renews the lease while it
streams the rows; completion renames the file into place and marks the row in one
transaction guarded by the lease owner, so a job has at most one file. The primary key
leads with the account and mode (distributed by account on Citus, docs/scaling.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, Tenanted, TimestampTZ


class ExportJob(Tenanted, Base):
    """One export of one source's rows."""

    __tablename__ = "export_jobs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # exp_ + 20 hex
    source: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    range_start: Mapped[TimestampTZ]
    range_end: Mapped[TimestampTZ]  # exclusive
    status: Mapped[str] = mapped_column(String(12))  # queued, processing, completed, failed, expired
    records_written: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    records_total: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[TimestampTZ]
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # The queue: the oldest unfinished job first, across accounts. (An OR, not an IN
        # list: its definition reads back the same from pg_get_indexdef, bench/dataset.py.)
        Index("ix_export_jobs_queue", "created_at",
              postgresql_where=text("status = 'queued' OR status = 'processing'")),
        # Expiry: completed files by their deadline.
        Index("ix_export_jobs_expiry", "expires_at", postgresql_where=text("status = 'completed'")),
        # ListExports: an account's jobs, newest first.
        Index("ix_export_jobs_list", "account_id", "livemode", "created_at", "id"),
    )
