"""Data exports: the job queue in PostgreSQL, the file writers and the worker.

A request inserts a `processing` row (`create_export`). A worker claims the oldest
claimable row (read without a lock, then taken in its account with `FOR UPDATE SKIP
LOCKED`: each statement on one node under Citus) with a lease that it renews while it works
(`ExportWorker`); when a worker dies its lease runs out and another worker claims the
job again. The file is written under a temporary name of its own and renamed to the
job's one final name in the transaction that marks the row completed, guarded by the
lease owner: a job never ends with two files, and a worker that lost its lease throws
its work away. Completed files expire after 24 hours and are deleted.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import logging
import os
import pathlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from platform_core import db
from platform_core.accounts import Principal
from platform_core.distribution import CROSS_ACCOUNT
from services.voucher import queries
from services.voucher.config import VoucherSettings
from services.voucher.periods import Period

log = logging.getLogger("services.voucher.exports")

FORMATS = ("csv", "json", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LIFETIME = dt.timedelta(hours=24)
CHUNK_BYTES = 64 * 1024
# Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def new_export_id() -> str:
    return "export_" + secrets.token_hex(8)


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def human_size(size: int) -> str:
    """`file_size` as the document shows it ("2.5MB"), in binary units."""
    if size < 1024:
        return f"{size}B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f}KB"
    return f"{size / (1024 * 1024):.1f}MB"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --------------------------------------------------------------------------- the rows


@dataclass
class ExportJob:
    account_id: Any
    livemode: bool
    id: str
    status: str
    format: str
    voucher_ids: list[str]
    metrics: list[str]
    period_start: dt.date
    period_end: dt.date
    record_count: int
    created_at: dt.datetime
    estimated_completion: dt.datetime
    attempts: int
    lease_owner: str | None
    file_name: str | None
    file_size: int | None
    completed_at: dt.datetime | None
    expires_at: dt.datetime | None
    failed_at: dt.datetime | None
    failure_reason: str | None

    @property
    def period(self) -> Period:
        return Period(self.period_start, self.period_end)

    def state(self, now: dt.datetime) -> str:
        """`completed` turns `expired` at `expires_at`, even before the sweep deletes the file."""
        if self.status == "completed" and self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return self.status


_COLUMNS = (
    "account_id, livemode, id, status, format, voucher_ids, metrics, period_start, period_end, record_count, "
    "created_at, estimated_completion, attempts, lease_owner, file_name, file_size, completed_at, expires_at, "
    "failed_at, failure_reason"
)


def _job(row) -> ExportJob:
    return ExportJob(**row._mapping)


def estimate(now: dt.datetime, records: int) -> dt.datetime:
    """A generous guess: a few seconds, plus one per 20,000 records."""
    return (now + dt.timedelta(seconds=5 + records // 20_000)).replace(microsecond=0)


async def create_export(
    session: AsyncSession, who: Principal, *, voucher_ids: list[str], metrics: list[str], fmt: str,
    period: Period, now: dt.datetime,
) -> ExportJob:
    row = (await session.execute(
        text(
            "INSERT INTO voucher_exports (account_id, livemode, id, status, format, voucher_ids, metrics, "
            "period_start, period_end, record_count, created_at, estimated_completion) "
            "VALUES (:a, :l, :id, 'processing', :f, :v, :m, :ps, :pe, :n, :now, :eta) "
            f"RETURNING {_COLUMNS}"
        ),
        {"a": who.account_id, "l": who.livemode, "id": new_export_id(), "f": fmt, "v": voucher_ids, "m": metrics,
         "ps": period.first_day, "pe": period.last_day, "n": len(voucher_ids) * period.days, "now": now,
         "eta": estimate(now, len(voucher_ids) * period.days)},
    )).one()
    await session.commit()  # acknowledged only once the job is durable
    return _job(row)


async def get_export(conn: AsyncConnection, who: Principal, export_id: str) -> ExportJob | None:
    row = (await conn.execute(
        text(f"SELECT {_COLUMNS} FROM voucher_exports WHERE account_id = :a AND livemode = :l AND id = :id"),
        {"a": who.account_id, "l": who.livemode, "id": export_id},
    )).first()
    return _job(row) if row is not None else None


def file_path(export_dir: pathlib.Path, job: ExportJob) -> pathlib.Path:
    return export_dir / str(job.account_id) / f"{job.id}.{job.format}"


def read_chunks(path: pathlib.Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


# --------------------------------------------------------------------------- the files

_EXPORT_ROWS = """
WITH ids AS (
    SELECT id, ord FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS x(id, ord)
), days AS (
    SELECT d::date AS day FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
), t AS (
    SELECT voucher_id, day, uses, discount, gross, validations
    FROM voucher_daily
    WHERE account_id = %(a)s AND livemode = %(l)s AND voucher_id = ANY(%(ids)s::text[])
      AND day >= %(first)s AND day <= %(last)s
), c AS (
    -- Distinct customers do not add up across days: counted from the rows, when asked for.
    SELECT voucher_id, (redeemed_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT customer_id) AS customers
    FROM voucher_redemptions
    WHERE %(with_customers)s AND account_id = %(a)s AND livemode = %(l)s AND voucher_id = ANY(%(ids)s::text[])
      AND redeemed_at >= %(s)s AND redeemed_at < %(e)s
    GROUP BY 1, 2
)
SELECT ids.id, vo.code, days.day, coalesce(t.uses, 0), coalesce(t.discount, 0), coalesce(t.gross, 0),
       coalesce(c.customers, 0), coalesce(t.validations, 0)
FROM ids
JOIN vouchers vo ON vo.account_id = %(a)s AND vo.livemode = %(l)s AND vo.id = ids.id
CROSS JOIN days
LEFT JOIN t ON t.voucher_id = ids.id AND t.day = days.day
LEFT JOIN c ON c.voucher_id = ids.id AND c.day = days.day
ORDER BY ids.ord, days.day
"""


def metric_values(metrics: list[str], uses: int, discount: int, gross: int, customers: int, validations: int) -> list:
    """The requested metrics of one voucher-day, by the API's definitions."""
    values = {
        "uses": uses,
        "discount": discount,
        "orders": validations,
        "conversion_rate": queries.fraction(uses, validations),
        "avg_order_value": queries.average(gross, uses),
        "revenue_impact": gross - discount,
        "unique_customers": customers,
    }
    return [values[m] for m in metrics]


class LeaseLost(Exception):
    """Another worker owns the job now; this one's work is thrown away."""


def export_rows(
    conninfo: str, job: ExportJob, batch_rows: int, pause_s: float, stop: threading.Event,
    statement_timeout_ms: int = 60_000,
) -> Iterator[list]:
    """The file's rows (voucher_id, code, date, metrics...), streamed from a server-side cursor."""
    period = job.period
    with psycopg.connect(conninfo, options=f"-c jit=off -c statement_timeout={int(statement_timeout_ms)}",
                         connect_timeout=db.DB_CONNECT_TIMEOUT_S) as conn:
        with conn.cursor(name=f"export_{job.id}") as cur:
            cur.itersize = batch_rows
            cur.execute(_EXPORT_ROWS, {
                "ids": job.voucher_ids, "first": period.first_day, "last": period.last_day, "a": job.account_id,
                "l": job.livemode, "s": period.start, "e": period.end,
                "with_customers": "unique_customers" in job.metrics,
            })
            while rows := cur.fetchmany(batch_rows):
                if stop.is_set():
                    raise LeaseLost(job.id)
                for voucher_id, code, day, uses, discount, gross, customers, validations in rows:
                    yield [voucher_id, code, day.isoformat(),
                           *metric_values(job.metrics, int(uses), int(discount), int(gross), customers,
                                          int(validations))]
                if pause_s:
                    time.sleep(pause_s)


def write_file(fmt: str, path: pathlib.Path, job: ExportJob, rows: Iterable[list]) -> int:
    """Writes the rows in `fmt`, streaming (memory does not grow with the rows); returns the count."""
    header = ["voucher_id", "code", "date", *job.metrics]
    count = 0
    if fmt == "csv":
        # A byte-order mark so that spreadsheet tools read UTF-8 codes correctly.
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([neutralise(v) for v in row])
                count += 1
    elif fmt == "json":
        with open(path, "w", encoding="utf-8") as handle:
            head = {"export_id": job.id, "format": "json", "time_period": {
                "start": f"{job.period_start.isoformat()}T00:00:00Z", "end": f"{job.period_end.isoformat()}T23:59:59Z"},
                "metrics": job.metrics}
            handle.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "records": [')
            for row in rows:
                handle.write(("," if count else "") + "\n" + json.dumps(dict(zip(header, row)), ensure_ascii=False))
                count += 1
            handle.write("\n]}\n")
    elif fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        # write_only streams rows to disk; cells are typed strings so nothing is a formula.
        book = Workbook(write_only=True)
        sheet = book.create_sheet("export")
        sheet.append(header)
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=neutralise(value))
                if isinstance(value, str):
                    cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
            count += 1
        book.save(path)
    else:  # pragma: no cover - the format is checked when the export is requested
        raise ValueError(fmt)
    return count


def build_file(
    conninfo: str, job: ExportJob, tmp: pathlib.Path, settings: VoucherSettings, stop: threading.Event
) -> int:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    rows = export_rows(conninfo, job, settings.export_batch_rows, settings.export_pause_seconds, stop,
                       settings.export_statement_timeout_ms)
    return write_file(job.format, tmp, job, rows)


# --------------------------------------------------------------------------- the worker


def plain_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


# How many of the oldest claimable jobs one claim tries, one after the other.
CLAIM_CANDIDATES = 8
_CLAIMABLE = "status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at < now())"
_CANDIDATES = text(f"SELECT account_id, livemode, id FROM voucher_exports WHERE {_CLAIMABLE} "
                   "ORDER BY created_at LIMIT :n")
_CLAIM = text(
    f"WITH next AS (SELECT account_id, livemode, id FROM voucher_exports "
    f"  WHERE account_id = :a AND livemode = :l AND id = :id AND {_CLAIMABLE} FOR UPDATE SKIP LOCKED) "
    "UPDATE voucher_exports e SET lease_owner = :w, attempts = e.attempts + 1, "
    "  lease_expires_at = now() + make_interval(secs => :lease) "
    "FROM next WHERE e.account_id = :a AND e.livemode = next.livemode AND e.id = next.id "
    f"RETURNING {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))}"
)


class ExportWorker:
    """Claims export jobs from the queue table and builds their files, one at a time."""

    def __init__(
        self, engine: AsyncEngine, database_url: str, settings: VoucherSettings, *,
        worker_id: str | None = None, clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._conninfo = plain_url(database_url)
        self._settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock

    async def claim(self) -> ExportJob | None:
        """The oldest claimable job, leased to this worker; None when there is none.

        Two steps, so that each statement stays on one node under Citus (docs/scaling.md),
        which takes no row locks across shards: read the oldest few candidates of any
        account without a lock, then claim one of them in its account with
        `FOR UPDATE SKIP LOCKED` and a check that it is still claimable. Of workers racing
        for a row, one leases it; the others skip it and try their next candidate."""
        async with self._engine.connect() as conn:
            await conn.execute(text(CROSS_ACCOUNT))
            candidates = (await conn.execute(_CANDIDATES, {"n": CLAIM_CANDIDATES})).all()
        for account_id, livemode, job_id in candidates:
            async with self._engine.begin() as conn:
                row = (await conn.execute(_CLAIM, {
                    "a": account_id, "l": livemode, "id": job_id,
                    "w": self.worker_id, "lease": self._settings.export_lease_seconds,
                })).first()
            if row is not None:
                return _job(row)
        return None

    async def _owned_update(self, job: ExportJob, sets: str, params: dict) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text(f"UPDATE voucher_exports SET {sets} WHERE account_id = :a AND livemode = :l AND id = :id "
                     "AND status = 'processing' AND lease_owner = :w"),
                {"a": job.account_id, "l": job.livemode, "id": job.id, "w": self.worker_id, **params},
            )
            return result.rowcount == 1

    async def _heartbeat(self, job: ExportJob, lost: threading.Event) -> None:
        every = self._settings.export_lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            renewed = await self._owned_update(
                job, "lease_expires_at = now() + make_interval(secs => :lease)",
                {"lease": self._settings.export_lease_seconds},
            )
            if not renewed:
                lost.set()
                return

    async def _fail(self, job: ExportJob, reason: str) -> None:
        await self._owned_update(
            job, "status = 'failed', failure_reason = :r, failed_at = :now, lease_owner = NULL, "
            "lease_expires_at = NULL", {"r": reason, "now": self._clock().replace(microsecond=0)},
        )

    async def _complete(self, job: ExportJob, tmp: pathlib.Path, final: pathlib.Path, count: int) -> bool:
        """Marks the job completed and moves the file into place, in one transaction."""
        now = self._clock().replace(microsecond=0)  # whole seconds, as the document shows them
        try:
            size = tmp.stat().st_size
        except FileNotFoundError:  # removed by a worker that claimed the job after our lease ran out
            return False
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text(
                    "UPDATE voucher_exports SET status = 'completed', file_name = :f, file_size = :size, "
                    "record_count = :n, completed_at = :now, expires_at = :exp, lease_owner = NULL, "
                    "lease_expires_at = NULL "
                    "WHERE account_id = :a AND livemode = :l AND id = :id AND status = 'processing' "
                    "AND lease_owner = :w"
                ),
                {"f": final.name, "size": size, "n": count, "now": now, "exp": now + LIFETIME,
                 "a": job.account_id, "l": job.livemode, "id": job.id, "w": self.worker_id},
            )
            if result.rowcount != 1:
                tmp.unlink(missing_ok=True)
                return False
            # The row stays locked until COMMIT; should the commit fail, the job is claimed
            # again and its new file replaces this one under the same name.
            os.replace(tmp, final)
        return True

    async def process(self, job: ExportJob) -> bool:
        """Builds one claimed job's file; True when this worker completed it."""
        final = file_path(self._settings.export_dir, job)
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f"{job.id}.*.tmp"):  # left by a worker that died
            stale.unlink(missing_ok=True)
        if job.attempts > self._settings.export_max_attempts:
            await self._fail(job, f"The export could not be generated after {job.attempts - 1} attempts")
            return False
        tmp = final.parent / f"{job.id}.{self.worker_id.replace(':', '_')}.tmp"
        lost = threading.Event()
        heartbeat = asyncio.create_task(self._heartbeat(job, lost))
        try:
            count = await asyncio.to_thread(build_file, self._conninfo, job, tmp, self._settings, lost)
        except LeaseLost:
            tmp.unlink(missing_ok=True)
            return False
        except asyncio.CancelledError:
            lost.set()
            tmp.unlink(missing_ok=True)
            # Shutting down: let another worker take the job at once.
            await asyncio.shield(self._owned_update(job, "lease_expires_at = now()", {}))
            raise
        except Exception:
            log.exception("export failed", extra={"fields": {"export_id": job.id}})
            tmp.unlink(missing_ok=True)
            await self._fail(job, "The export file could not be written")
            return False
        finally:
            heartbeat.cancel()
        done = await self._complete(job, tmp, final, count)
        log.info("export", extra={"fields": {"export_id": job.id, "records": count, "completed": done}})
        return done

    async def run_once(self) -> bool:
        """Claims and processes one job; False when the queue had none."""
        job = await self.claim()
        if job is None:
            return False
        await self.process(job)
        return True

    async def sweep_expired(self, now: dt.datetime | None = None) -> int:
        """Marks completed exports past `expires_at` expired, then deletes their files."""
        now = now or self._clock()
        async with self._engine.begin() as conn:
            await conn.execute(text(CROSS_ACCOUNT))
            rows = (await conn.execute(
                text("UPDATE voucher_exports SET status = 'expired' WHERE status = 'completed' AND expires_at <= :now "
                     "RETURNING account_id, file_name"),
                {"now": now},
            )).all()
        for row in rows:  # after COMMIT: a file is never gone while its row says completed
            (self._settings.export_dir / str(row.account_id) / row.file_name).unlink(missing_ok=True)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Works until `stop` is set: jobs first, expiry about once a minute."""
        last_sweep = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_sweep > 60:
                    last_sweep = time.monotonic()
                    await self.sweep_expired()
                if await self.run_once():
                    continue
            except (OSError, psycopg.OperationalError) as exc:  # database away: retry later
                log.warning("export worker: %s", exc)
            except Exception:
                log.exception("export worker error")
            try:
                await asyncio.wait_for(stop.wait(), self._settings.export_poll_seconds)
            except asyncio.TimeoutError:
                pass
