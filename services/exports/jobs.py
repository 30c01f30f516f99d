"""The export service's queue, `export_jobs`, and its worker (docs/exports.md).

The queue is the platform's (platform_core/export_queue.py: the two-step claim under a
lease, the heartbeat, the rename into place on completion, the expiry sweep). A request
inserts a `queued` row (`create_job`); a claim turns it `processing` and sets
`started_at`; each lease renewal writes the progress (`records_written`). The rows come
from the source's query through a server-side cursor (`batch_rows` per round trip) and
go to the file writer as they come (platform_core/export_files.py), so memory is flat in
the number of rows. A finished job's webhook event commits with its row
(services/webhooks/outbox.py). Completed files expire after `lifetime_hours`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pathlib
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from platform_core.accounts import Principal
from platform_core.export_files import CONTENT_TYPES, row_limit, write_file
from platform_core.export_queue import (
    JobRefused,
    Progress,
    QueuedJob,
    QueueTable,
    QueueWorker,
    fetch_batches,
    row_connection,
    utcnow,
)
from platform_core.export_sources import ExportSource
from services.exports.config import ExportSettings
from services.webhooks import outbox


def new_export_id() -> str:
    return "exp_" + secrets.token_hex(10)


@dataclass
class Job(QueuedJob):
    """An `export_jobs` row: the queue's columns (platform_core/export_queue.py) and the request's."""

    source: str
    filters: dict[str, str]
    range_start: dt.datetime
    range_end: dt.datetime
    records_written: int
    records_total: int
    started_at: dt.datetime | None

    def percent(self) -> float:
        if self.status in ("completed", "expired"):
            return 100.0
        if self.records_total <= 0:
            return 0.0
        return round(min(99.9, 100.0 * self.records_written / self.records_total), 1)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


# Waiting jobs are `queued`; a claim sets `started_at` once and zeroes the progress,
# which each lease renewal writes; a completion sets both counts.
QUEUE = QueueTable(name="export_jobs", job=Job, waiting_status="queued", progress=True, started_column="started_at",
                   count_columns=("records_written", "records_total"))


async def create_job(conn: AsyncConnection, who: Principal, *, source: str, fmt: str, filters: Mapping[str, str],
                     start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Job:
    row = (await conn.execute(
        text("INSERT INTO export_jobs (account_id, livemode, id, source, format, filters, range_start, range_end, "
             "status, created_at) VALUES (:a, :l, :id, :s, :f, CAST(:filters AS jsonb), :start, :end, 'queued', :now) "
             f"RETURNING {', '.join(QUEUE.columns)}"),
        {"a": who.account_id, "l": who.livemode, "id": new_export_id(), "s": source, "f": fmt,
         "filters": db_json(filters), "start": start, "end": end, "now": now},
    )).one()
    await conn.commit()  # acknowledged only once the job is durable
    return QUEUE.job_of(row)


def db_json(value: Mapping[str, str]) -> str:
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True)


async def get_job(conn: AsyncConnection, who: Principal, export_id: str) -> Job | None:
    return await QUEUE.get(conn, who, export_id)


async def list_jobs(conn: AsyncConnection, who: Principal, *, source: str | None, status: str | None,
                    limit: int, before: tuple[dt.datetime, str] | None, now: dt.datetime) -> list[Job]:
    """A page of the account's jobs, newest first (`before`: the last row of the previous
    page). `status` "expired" also finds completed jobs past their deadline."""
    where = ["account_id = :a", "livemode = :l"]
    params: dict[str, Any] = {"a": who.account_id, "l": who.livemode, "n": limit, "now": now}
    if source is not None:
        where.append("source = :s")
        params["s"] = source
    if status == "expired":
        where.append("(status = 'expired' OR (status = 'completed' AND expires_at <= :now))")
    elif status == "completed":
        where.append("status = 'completed' AND expires_at > :now")
    elif status is not None:
        where.append("status = :st")
        params["st"] = status
    if before is not None:
        where.append("(created_at, id) < (:bc, :bi)")
        params["bc"], params["bi"] = before
    rows = (await conn.execute(
        text(f"SELECT {', '.join(QUEUE.columns)} FROM export_jobs WHERE {' AND '.join(where)} "
             "ORDER BY created_at DESC, id DESC LIMIT :n"), params)).all()
    return [QUEUE.job_of(r) for r in rows]


# --------------------------------------------------------------------------- the rows


def query_params(source: ExportSource, job: Job) -> dict[str, Any]:
    """The query's parameters: the scope, the range and every filter (None when not given)."""
    params: dict[str, Any] = {"account_id": job.account_id, "livemode": job.livemode, "start": job.range_start,
                              "end": job.range_end}
    for item in source.filters:
        raw = job.filters.get(item.name)
        params[item.name] = None if raw is None else item.parse(raw)[0]
    return params


def count_rows(conninfo: str, source: ExportSource, job: Job, statement_timeout_ms: int) -> int:
    with row_connection(conninfo, statement_timeout_ms) as conn:
        return int(conn.execute(source.count_query, query_params(source, job)).fetchone()[0])


# --------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class Owner:
    """The account and mode a job's webhook events belong to (what `outbox.emit` reads)."""

    account_id: Any
    livemode: bool


class ExportWorker(QueueWorker):
    """Claims export jobs of every source and builds their files, one at a time."""

    table = QUEUE
    log = logging.getLogger("services.exports.jobs")

    def __init__(self, engine: AsyncEngine, database_url: str, settings: ExportSettings,
                 sources: Mapping[str, ExportSource], *, worker_id: str | None = None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        super().__init__(engine, database_url, settings, worker_id=worker_id, clock=clock)
        self._sources = sources

    def build(self, job: Job, tmp: pathlib.Path, stop: threading.Event, progress: Progress) -> int:
        """The source's rows counted (the total shows at once; over `max_records` the job
        fails), then streamed into the file, each row counted as it is handed over."""
        source = self._sources.get(job.source)
        if source is None:
            raise JobRefused(f"The source {job.source} is no longer served")
        settings = self._settings
        counted = count_rows(self._conninfo, source, job, settings.statement_timeout_ms)
        progress.total(counted)
        limit = row_limit(job.format, settings.max_records)
        if counted > limit:
            sheet = " in one XLSX sheet" if limit < settings.max_records else ""
            raise JobRefused(f"The export would hold {counted} records, more than the {limit} allowed{sheet}; "
                             "narrow the time range or the filters")
        batches = fetch_batches(self._conninfo, job, source.query, query_params(source, job), settings, stop)
        rows = (row for batch in batches for row in batch)
        return write_file(job.format, tmp, source.columns, progress.rows(rows))

    async def finished(self, conn: AsyncConnection, job: Job, status: str, now: dt.datetime, **facts: Any) -> None:
        """The `export.completed` or `export.failed` webhook event, in the row's transaction."""
        await outbox.emit(conn, Owner(job.account_id, job.livemode),
                          [(f"export.{status}", outbox.export_finished(job, status, now, **facts))])

    def described(self, job: Job) -> dict[str, Any]:
        return {"source": job.source}
