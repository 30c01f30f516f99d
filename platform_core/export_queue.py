"""The export queue of every family: a job table in PostgreSQL and the workers that build its files.

One implementation serves each queue table (docs/exports.md, "The queue"): the voucher
family's documented exports over `voucher_exports` (services/voucher/exports.py) and the
export service over `export_jobs` (services/exports/jobs.py). A family declares its
table (`QueueTable`: its name, its job's columns and the few ways its statements
differ), its settings (platform_core/export_settings.py) and a `QueueWorker` subclass
that says how a job's file is built and which events a finished job emits.

A request inserts a waiting row. A worker claims the oldest claimable row in two steps,
so that each statement stays on one node under Citus (docs/scaling.md, "The export
queue claim"): a read of the oldest few candidates of any account without a lock, then
the claim of one of them in its account with `FOR UPDATE SKIP LOCKED`. The claim holds a
lease that the worker renews while it works (with the progress, where the table keeps
it); when a worker dies its lease runs out and another worker claims the job again. The
file is written under a temporary name of its own and renamed to the job's one final
name in the transaction that marks the row completed, guarded by the lease owner: a job
never ends with two files, and a worker that lost its lease throws its work away.
Completed files expire after `lifetime_hours` and are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import pathlib
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import psycopg
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from platform_core import db, logs
from platform_core.config import env_int, require
from platform_core.distribution import CROSS_ACCOUNT
from platform_core.errors import DetailedError, error_class
from platform_core.export_settings import QueueSettings

CHUNK_BYTES = 64 * 1024  # a download's message size
# How many of the oldest claimable jobs one claim tries, one after the other.
CLAIM_CANDIDATES = 8
# The longest failure reason kept (the export service's column holds 200 characters).
MAX_REASON = 200


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def plain_url(url: str) -> str:
    """The database URL as libpq reads it (the workers' own row-stream connections)."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


# --------------------------------------------------------------------------- the answers

# What a poller or a download is told about a job, in every family (each family's
# envelope words them; `info` holds the family's documented values, if any).
ExportNotFound = error_class("ExportNotFound", DetailedError, grpc.StatusCode.NOT_FOUND, 404, "EXPORT_NOT_FOUND")
ExportNotReady = error_class("ExportNotReady", DetailedError, grpc.StatusCode.FAILED_PRECONDITION, 409,
                             "EXPORT_NOT_READY")
ExportExpired = error_class("ExportExpired", DetailedError, grpc.StatusCode.NOT_FOUND, 410, "EXPORT_EXPIRED")


# --------------------------------------------------------------------------- the rows


@dataclass
class QueuedJob:
    """The columns every queue table has; a family's job adds its own."""

    account_id: Any
    livemode: bool
    id: str
    status: str
    format: str
    attempts: int
    lease_owner: str | None
    file_name: str | None
    file_size: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    expires_at: dt.datetime | None
    failed_at: dt.datetime | None
    failure_reason: str | None

    def state(self, now: dt.datetime) -> str:
        """`completed` turns `expired` at `expires_at`, even before the sweep deletes the file."""
        if self.status == "completed" and self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return self.status


def file_path(export_dir: pathlib.Path, job: QueuedJob) -> pathlib.Path:
    """A job's one final file name."""
    return export_dir / str(job.account_id) / f"{job.id}.{job.format}"


_LEASE_FREE = "(lease_expires_at IS NULL OR lease_expires_at < now())"
_RENEWED = "lease_expires_at = now() + make_interval(secs => :lease)"
_OWNED = "WHERE account_id = :a AND livemode = :l AND id = :id AND status = 'processing' AND lease_owner = :w"
_RELEASED = "lease_owner = NULL, lease_expires_at = NULL"


@dataclass(frozen=True)
class QueueTable:
    """One family's queue table and how its statements differ from another's."""

    name: str
    job: type[QueuedJob]  # its fields are the columns read back (`SELECT`, `RETURNING`)
    # The status of a job that waits for a worker: "processing" (the voucher document
    # shows a job processing from its request on) or "queued" (a claim turns it processing).
    waiting_status: str = "processing"
    # The columns a completion sets to the file's record count.
    count_columns: tuple[str, ...] = ("record_count",)
    # `records_written` and `records_total`: written with each lease renewal (at most a
    # second apart, so that a short lease shows progress often) and zeroed by a claim.
    progress: bool = False
    # A column set to the moment of a job's first claim.
    started_column: str | None = None
    # Times in whole seconds (as the voucher document shows them).
    whole_seconds: bool = False

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.job))

    @functools.cached_property
    def claimable(self) -> str:
        taken = f"status = 'processing' AND {_LEASE_FREE}"
        if self.waiting_status == "processing":
            return taken
        return f"(status = '{self.waiting_status}' OR ({taken}))"

    @functools.cached_property
    def candidates(self) -> TextClause:
        """The claim's first step: the oldest few claimable jobs of any account, no lock
        (multi-shard on Citus, cheap with the table's partial queue index)."""
        where = self.claimable
        if self.waiting_status != "processing":  # the queue index's own condition first
            where = f"status IN ('{self.waiting_status}', 'processing') AND {where}"
        return text(f"SELECT account_id, livemode, id FROM {self.name} WHERE {where} ORDER BY created_at LIMIT :n")

    @functools.cached_property
    def claim(self) -> TextClause:
        """The claim's second step, in the job's account: a router query under Citus.
        Times are parameters: Citus refuses now() inside COALESCE or CASE in an UPDATE of a
        distributed table ("non-IMMUTABLE functions are not allowed")."""
        sets = [f"lease_owner = :w, attempts = e.attempts + 1, {_RENEWED}"]
        if self.waiting_status != "processing":
            sets.insert(0, "status = 'processing'")
        if self.started_column is not None:
            sets.append(f"{self.started_column} = coalesce(e.{self.started_column}, :now)")
        if self.progress:
            sets.append("records_written = 0")
        return text(
            f"WITH next AS (SELECT account_id, livemode, id FROM {self.name} "
            f"  WHERE account_id = :a AND livemode = :l AND id = :id AND {self.claimable} FOR UPDATE SKIP LOCKED) "
            f"UPDATE {self.name} e SET {', '.join(sets)} "
            "FROM next WHERE e.account_id = :a AND e.livemode = next.livemode AND e.id = next.id "
            f"RETURNING {', '.join('e.' + c for c in self.columns)}"
        )

    @functools.cached_property
    def completion(self) -> TextClause:
        counts = "".join(f"{c} = :n, " for c in self.count_columns)
        return text(f"UPDATE {self.name} SET status = 'completed', file_name = :f, file_size = :size, {counts}"
                    f"completed_at = :now, expires_at = :exp, {_RELEASED} {_OWNED}")

    @functools.cached_property
    def expiry(self) -> TextClause:
        return text(f"UPDATE {self.name} SET status = 'expired' WHERE status = 'completed' AND expires_at <= :now "
                    "RETURNING account_id, file_name")

    def owned_update(self, sets: str) -> TextClause:
        return text(f"UPDATE {self.name} SET {sets} {_OWNED}")

    def job_of(self, row) -> Any:
        return self.job(**row._mapping)

    async def get(self, conn: AsyncConnection, who, export_id: str) -> Any:
        """The caller's job, None when it has none of that id (another account's included)."""
        row = (await conn.execute(
            text(f"SELECT {', '.join(self.columns)} FROM {self.name} "
                 "WHERE account_id = :a AND livemode = :l AND id = :id"),
            {"a": who.account_id, "l": who.livemode, "id": export_id},
        )).first()
        return self.job_of(row) if row is not None else None


# --------------------------------------------------------------------------- the files


class LeaseLost(Exception):
    """Another worker owns the job now; this one's work is thrown away."""


class JobRefused(Exception):
    """The job cannot be built (its source is gone, it holds too many records): it fails
    with this reason, without another attempt."""


def row_connection(conninfo: str, statement_timeout_ms: int) -> psycopg.Connection:
    """A connection of its own for a file's rows, under the row stream's statement deadline."""
    return psycopg.connect(conninfo, options=f"-c jit=off -c statement_timeout={int(statement_timeout_ms)}",
                           connect_timeout=db.DB_CONNECT_TIMEOUT_S)


def fetch_batches(
    conninfo: str, job: QueuedJob, query: str, params: dict[str, Any], settings: QueueSettings, stop: threading.Event,
) -> Iterator[list[tuple]]:
    """The query's rows, `batch_rows` at a time from a server-side cursor (memory stays
    flat in the number of rows), with the settings' pause after each batch; raises
    LeaseLost once `stop` is set."""
    with row_connection(conninfo, settings.statement_timeout_ms) as conn:
        with conn.cursor(name=f"export_{job.id}") as cur:
            cur.itersize = settings.batch_rows
            cur.execute(query, params)
            while rows := cur.fetchmany(settings.batch_rows):
                if stop.is_set():
                    raise LeaseLost(job.id)
                yield rows
                if settings.pause_seconds:
                    time.sleep(settings.pause_seconds)


class Progress:
    """How far a file's build is: `rows()` counts the rows handed to the writer (the
    heartbeat stores the figure) and `total(n)` stores the count once it is known."""

    def __init__(self, store_total: Callable[[int], None]) -> None:
        self.written = 0
        self._store_total = store_total

    def total(self, count: int) -> None:
        self._store_total(count)

    def rows(self, rows: Iterable[Any]) -> Iterator[Any]:
        for row in rows:
            yield row
            self.written += 1


# --------------------------------------------------------------------------- the worker


class QueueWorker:
    """Claims jobs from one queue table and builds their files, one at a time.

    A family subclasses it with its `table` and `build`, and `finished` for the events
    its finished jobs emit."""

    table: ClassVar[QueueTable]
    log: ClassVar[logging.Logger]

    def __init__(
        self, engine: AsyncEngine, database_url: str, settings: QueueSettings, *,
        worker_id: str | None = None, clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._conninfo = plain_url(database_url)
        self._settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock

    def build(self, job: Any, tmp: pathlib.Path, stop: threading.Event, progress: Progress) -> int:
        """Writes the job's file at `tmp` (in a thread: the event loop stays free) and
        returns its record count; raises LeaseLost once `stop` is set, JobRefused for a
        job that cannot be built."""
        raise NotImplementedError

    async def finished(self, conn: AsyncConnection, job: Any, status: str, now: dt.datetime, **facts: Any) -> None:
        """Called in the transaction that marks the job `status` (completed or failed),
        so that what it writes commits with it or not at all. Nothing by default."""

    def described(self, job: Any) -> dict[str, Any]:
        """The job's fields in the worker's log line, besides its id."""
        return {}

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now.replace(microsecond=0) if self.table.whole_seconds else now

    async def claim(self) -> Any:
        """The oldest claimable job, leased to this worker; None when there is none.

        Two steps, so that each statement stays on one node under Citus (docs/scaling.md),
        which takes no row locks across shards: read the oldest few candidates of any
        account without a lock, then claim one of them in its account with
        `FOR UPDATE SKIP LOCKED` and a check that it is still claimable. Of workers racing
        for a row, one leases it; the others skip it and try their next candidate."""
        async with self._engine.connect() as conn:
            await conn.execute(text(CROSS_ACCOUNT))
            candidates = (await conn.execute(self.table.candidates, {"n": CLAIM_CANDIDATES})).all()
        for account_id, livemode, job_id in candidates:
            async with self._engine.begin() as conn:
                row = (await conn.execute(self.table.claim, {
                    "a": account_id, "l": livemode, "id": job_id, "w": self.worker_id,
                    "lease": self._settings.lease_seconds, "now": self._now(),
                })).first()
            if row is not None:
                return self.table.job_of(row)
        return None

    async def _owned(self, conn: AsyncConnection, job: QueuedJob, sets: str, params: dict) -> bool:
        result = await conn.execute(
            self.table.owned_update(sets),
            {"a": job.account_id, "l": job.livemode, "id": job.id, "w": self.worker_id, **params},
        )
        return result.rowcount == 1

    async def _owned_update(self, job: QueuedJob, sets: str, params: dict) -> bool:
        """The update, while this worker owns the job."""
        async with self._engine.begin() as conn:
            return await self._owned(conn, job, sets, params)

    async def _heartbeat(self, job: QueuedJob, lost: threading.Event, progress: Progress) -> None:
        every = self._settings.lease_seconds / 3
        sets, params = _RENEWED, {"lease": self._settings.lease_seconds}
        if self.table.progress:
            every = min(1.0, every)
            sets += ", records_written = :n"
        while True:
            await asyncio.sleep(every)
            if not await self._owned_update(job, sets, {**params, "n": progress.written}):
                lost.set()
                return

    async def _fail(self, job: QueuedJob, reason: str) -> None:
        now, reason = self._now(), reason[:MAX_REASON]
        async with self._engine.begin() as conn:
            failed = await self._owned(conn, job, f"status = 'failed', failure_reason = :r, failed_at = :now, "
                                                  f"{_RELEASED}", {"r": reason, "now": now})
            if failed:
                await self.finished(conn, job, "failed", now, failure_reason=reason)

    async def _complete(self, job: QueuedJob, tmp: pathlib.Path, final: pathlib.Path, count: int) -> bool:
        """Marks the job completed and moves the file into place, in one transaction."""
        now = self._now()
        try:
            size = tmp.stat().st_size
        except FileNotFoundError:  # removed by a worker that claimed the job after our lease ran out
            return False
        expires = now + dt.timedelta(hours=self._settings.lifetime_hours)
        async with self._engine.begin() as conn:
            result = await conn.execute(self.table.completion, {
                "f": final.name, "size": size, "n": count, "now": now, "exp": expires,
                "a": job.account_id, "l": job.livemode, "id": job.id, "w": self.worker_id,
            })
            if result.rowcount != 1:
                tmp.unlink(missing_ok=True)
                return False
            await self.finished(conn, job, "completed", now, expires_at=expires, records=count, file_size=size)
            # The row stays locked until COMMIT; should the commit fail, the job is claimed
            # again and its new file replaces this one under the same name.
            os.replace(tmp, final)
        return True

    async def process(self, job: Any) -> bool:
        """Builds one claimed job's file; True when this worker completed it."""
        final = file_path(self._settings.export_dir, job)
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f"{job.id}.*.tmp"):  # left by a worker that died
            stale.unlink(missing_ok=True)
        if job.attempts > self._settings.max_attempts:
            await self._fail(job, f"The export could not be generated after {job.attempts - 1} attempts")
            return False
        tmp = final.parent / f"{job.id}.{self.worker_id.replace(':', '_')}.tmp"
        lost = threading.Event()
        loop = asyncio.get_running_loop()

        def store_total(count: int) -> None:  # from the build's thread
            if self.table.progress:
                asyncio.run_coroutine_threadsafe(
                    self._owned_update(job, "records_total = :t", {"t": count}), loop).result()

        progress = Progress(store_total)
        heartbeat = asyncio.create_task(self._heartbeat(job, lost, progress))
        try:
            count = await asyncio.to_thread(self.build, job, tmp, lost, progress)
        except LeaseLost:
            tmp.unlink(missing_ok=True)
            return False
        except JobRefused as refused:
            tmp.unlink(missing_ok=True)
            await self._fail(job, str(refused))
            return False
        except asyncio.CancelledError:
            lost.set()
            tmp.unlink(missing_ok=True)
            # Shutting down: let another worker take the job at once.
            await asyncio.shield(self._owned_update(job, "lease_expires_at = now()", {}))
            raise
        except Exception:
            self.log.exception("export failed", extra={"fields": {"export_id": job.id}})
            tmp.unlink(missing_ok=True)
            await self._fail(job, "The export file could not be written")
            return False
        finally:
            heartbeat.cancel()
        done = await self._complete(job, tmp, final, count)
        self.log.info("export", extra={"fields": {"export_id": job.id, **self.described(job), "records": count,
                                                  "completed": done}})
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
            rows = (await conn.execute(self.table.expiry, {"now": now})).all()
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
                self.log.warning("export worker: %s", exc)
            except Exception:
                self.log.exception("export worker error")
            try:
                await asyncio.wait_for(stop.wait(), self._settings.poll_seconds)
            except asyncio.TimeoutError:
                pass


# --------------------------------------------------------------------------- running workers


@contextlib.asynccontextmanager
async def running(workers: Sequence[QueueWorker]):
    """The workers at work as asyncio tasks while the block runs; stopped at its end."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_standalone(
    settings: QueueSettings, worker: Callable[[AsyncEngine, str], QueueWorker], log: logging.Logger,
) -> None:
    """A process of workers only (`python -m services.<family>.worker`), `settings.workers`
    of them (at least one), until SIGTERM or SIGINT. It takes DATABASE_URL and the
    family's settings like the service; any number of these processes and of in-service
    workers share the queue table safely."""
    logs.configure(os.environ.get("LOG_LEVEL", "INFO").upper())
    url = require("DATABASE_URL")
    # The same statement deadline as the service's (claims, lease renewals, sweeps).
    engine = db.create_engine(url, pool_size=2, statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", 10_000))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    count = max(1, settings.workers)
    log.info("export workers", extra={"fields": {"workers": count, "export_dir": str(settings.export_dir)}})
    async with running([worker(engine, url) for _ in range(count)]):
        await stop.wait()
    await engine.dispose()
