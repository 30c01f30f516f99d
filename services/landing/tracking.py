"""The public track endpoint's domain: validation, bots, limits, privacy and the write.

Order per event: validate the body (400 naming every bad field); find the tenant (404);
drop known bots (acknowledged, not stored, no quota spent); hash the client IP with
the day's salt; the per-source sub-limit, then the per-tenant limit (429); write the
event and acknowledge it only after its transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import ipaddress
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from crawlerdetect import CrawlerDetect
from google.protobuf import json_format, struct_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from partnerlytics.landing.v1 import landing_analytics_pb2 as pb
from platform_core import db
from platform_core.errors import FieldViolation, RateLimited, invalid
from platform_core.metrics import IngestCounter
from platform_core.ingest import contains_nul
from platform_core.ratelimit import Check, Decision, Limiter, PostgresLimiter
from platform_core.reads import Reads
from services.landing.envelope import TenantNotFound
from services.landing.salts import SaltStore, visitor_hash
from services.landing.store import EventRow, store_statement
from services.landing.tenants import TenantDirectory

log = logging.getLogger("services.landing.tracking")

# The documented event types -> the EventType numbers stored.
EVENT_TYPES: dict[str, int] = {
    name.removeprefix("EVENT_TYPE_").lower(): number
    for name, number in pb.EventType.items()
    if number != pb.EVENT_TYPE_UNSPECIFIED
}
MAX_TENANT_ID = 2**53 - 1  # the largest integer a JSON number holds exactly
MAX_METADATA_BYTES = 4096
MAX_METADATA_KEYS = 50
MAX_METADATA_DEPTH = 5  # the metadata object and four levels of arrays or objects inside it
MAX_SECONDS_ON_PAGE = 86_400
MAX_USER_AGENT = 512
MAX_REFERRER = 2048
EVENTS_INGESTED = IngestCounter("landing", "events")  # partnerlytics_ingested_records_total

TENANT_LIMIT_MESSAGE = "Rate limit exceeded: at most {limit} events per {window} per tenant"
SOURCE_LIMIT_MESSAGE = "Too many events from this visitor. Please slow down"


def json_depth(value: Any) -> int:
    """How deep objects and arrays nest in a JSON value: 0 for a scalar, 1 for `{}` or `[1]`."""
    if isinstance(value, dict):
        return 1 + max(map(json_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(json_depth, value), default=0)
    return 0


@dataclass(frozen=True)
class TrackRequest:
    tenant_id: int
    event_type: int
    metadata: dict[str, Any] | None
    duration_ms: int | None


@dataclass(frozen=True)
class Client:
    """The caller as the gateway derived it."""

    ip: str
    user_agent: str
    referrer: str


def _kind(value: struct_pb2.Value) -> str:
    return value.WhichOneof("kind") or "null_value"


def parse_track(request: pb.TrackEventRequest) -> TrackRequest:
    """The body, with every violation reported at once."""
    violations: list[FieldViolation] = []
    tenant_id = 0
    if not request.HasField("tenant_id") or _kind(request.tenant_id) == "null_value":
        violations.append(FieldViolation("tenant_id", "tenant_id is required", "required"))
    else:
        raw = request.tenant_id.number_value if _kind(request.tenant_id) == "number_value" else None
        if raw is None or not math.isfinite(raw) or raw != int(raw) or not 1 <= raw <= MAX_TENANT_ID:
            violations.append(FieldViolation("tenant_id", "tenant_id must be a positive integer", "invalid_integer"))
        else:
            tenant_id = int(raw)
    event_type = 0
    if not request.HasField("event_type") or _kind(request.event_type) == "null_value":
        violations.append(FieldViolation("event_type", "event_type is required", "required"))
    else:
        name = request.event_type.string_value if _kind(request.event_type) == "string_value" else None
        if name not in EVENT_TYPES:
            violations.append(
                FieldViolation("event_type", f"event_type must be one of: {', '.join(EVENT_TYPES)}", "invalid_enum")
            )
        else:
            event_type = EVENT_TYPES[name]
    metadata: dict[str, Any] | None = None
    if request.HasField("metadata") and _kind(request.metadata) != "null_value":
        if _kind(request.metadata) != "struct_value":
            violations.append(FieldViolation("metadata", "metadata must be a JSON object", "invalid_type"))
        else:
            metadata = _integral(json_format.MessageToDict(request.metadata.struct_value))
            if len(metadata) > MAX_METADATA_KEYS:
                violations.append(
                    FieldViolation("metadata", f"metadata may hold at most {MAX_METADATA_KEYS} keys", "too_large")
                )
            elif len(json.dumps(metadata, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
                violations.append(
                    FieldViolation("metadata", f"metadata may be at most {MAX_METADATA_BYTES} bytes of JSON", "too_large")
                )
            elif json_depth(metadata) > MAX_METADATA_DEPTH:
                violations.append(
                    FieldViolation(
                        "metadata", f"metadata may nest at most {MAX_METADATA_DEPTH} levels of objects and arrays", "too_deep"
                    )
                )
            elif contains_nul(metadata):
                violations.append(FieldViolation("metadata", "metadata must not contain NUL characters", "invalid_value"))
    duration_ms = None
    if event_type == pb.EVENT_TYPE_TIME_ON_PAGE:
        seconds = (metadata or {}).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 <= seconds <= MAX_SECONDS_ON_PAGE
        ):
            violations.append(
                FieldViolation(
                    "metadata.seconds",
                    f"a time_on_page event needs metadata.seconds, a number from 0 to {MAX_SECONDS_ON_PAGE}",
                    "required" if seconds is None else "out_of_range",
                )
            )
        else:
            duration_ms = round(seconds * 1000)
    if violations:
        raise invalid(violations)
    return TrackRequest(tenant_id, event_type, metadata, duration_ms)


def _integral(value: Any) -> Any:
    """protobuf's Struct holds every JSON number as a double: give integers back as ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_TENANT_ID:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def client_from(metadata: dict[str, str], peer: str) -> Client:
    """The gateway's `x-landing-*` metadata; for a direct gRPC caller, its peer address."""
    ip = _ip(metadata.get("x-landing-client-ip", "")) or _ip(_peer_host(peer)) or "0.0.0.0"
    return Client(
        ip=ip,
        user_agent=metadata.get("x-landing-user-agent", "")[:MAX_USER_AGENT],
        referrer=metadata.get("x-landing-referer", "")[:MAX_REFERRER],
    )


def _ip(text_value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text_value.strip()))
    except ValueError:
        return None


def _peer_host(peer: str) -> str:
    # "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return ""


_detector = CrawlerDetect()


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """Known crawlers, spiders and HTTP libraries (PyPI `crawlerdetect`'s maintained list),
    headless browsers among them; an event without a user agent is not a browser's either."""
    if not user_agent.strip():
        return True
    return bool(_detector.isCrawler(user_agent))


# ------------------------------------------------------------------------------- writing


_BEGIN, _COMMIT, _ROLLBACK = "BEGIN", "COMMIT", "ROLLBACK"


class EventWriter:
    """Group commit: every event is acknowledged after the statement holding it committed.

    Events that arrive while a batch is in flight go together into the next one, so a lone
    event is one short statement and a burst is a few large ones. Each batch is ONE
    statement (services/landing/store.py) on an autocommit psycopg connection of the
    writer's own: one round trip, its own transaction, prepared once; no BEGIN/COMMIT and
    no SQLAlchemy checkout. One connection is enough, since one task writes one batch at a
    time. It is never retried: a batch whose connection broke fails (503) rather than risk
    being stored twice; the next batch connects afresh. A failed statement fails every
    event in it.

    With the PostgreSQL rate-limit store (`limiter`), the limits ride with the group
    commit (`write_limited`): the batch's limit checks and the events they admit are one
    transaction, BEGIN, the limiter's two statements (lock and read the keys' counters,
    write them back; PostgresLimiter.hit_chains_in), the event statement, COMMIT, sent in
    two network round trips (psycopg's pipeline mode) whatever the batch's size, instead
    of one limiter round trip per event before its batch. A refused event is never in the
    event statement; an event is acknowledged, admitted or refused, only after the
    transaction committed, and a failed transaction fails every event in it with its hits
    (nothing is counted that was not answered).
    """

    MAX_BATCH = 1000

    def __init__(self, engine: AsyncEngine, connections: Reads | None = None, *,
                 limiter: PostgresLimiter | None = None) -> None:
        # `connections` only opens the connection (the engine's connect arguments,
        # writable, autocommit; platform_core/reads.py) and compiles the statement.
        self._connections = connections or db.writer(engine, pool_size=1)
        self._limiter = limiter
        self._conn: psycopg.AsyncConnection | None = None
        # (event or None (a bot's: counted, not stored), its limit chain or None, its waiter)
        self._pending: list[tuple[EventRow | None, Sequence[Check] | None, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def ride_with(self, limiter: PostgresLimiter) -> None:
        """Checks `write_limited`'s limits on `limiter`'s store, in the events' transaction."""
        self._limiter = limiter

    @property
    def limits_ride(self) -> bool:
        """Whether `write_limited` checks limits in the events' transaction."""
        return self._limiter is not None

    async def write(self, row: EventRow) -> None:
        """Stores `row`; returns once it is committed."""
        await self._submit(row, None)

    async def write_limited(self, row: EventRow | None, checks: Sequence[Check]) -> list[Decision]:
        """The limit chain `checks` (Limiter.hit_chain's) and, if every limit admits it, `row`
        (None: count only) in one transaction; returns the decisions once it committed."""
        return await self._submit(row, checks)

    async def _submit(self, row: EventRow | None, checks: Sequence[Check] | None) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, checks, future))
        if self._task is None or self._task.done():
            # A context of its own: the writer outlives the request that started it, and
            # its log lines must not carry that request's id (docs/observability.md).
            self._task = asyncio.create_task(self._run(), context=contextvars.Context())
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[: self.MAX_BATCH], self._pending[self.MAX_BATCH :]
                try:
                    if any(checks is not None for _, checks, _ in batch):
                        results = await self._commit_limited([(row, checks) for row, checks, _ in batch])
                    else:
                        await self._insert([row for row, _, _ in batch])
                        results = [None] * len(batch)
                except Exception as exc:  # every waiter gets it, mapped by the interceptor
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, _, future), result in zip(batch, results):
                        if not future.done():
                            future.set_result(result)

    async def _connection(self) -> psycopg.AsyncConnection:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = await self._connections.connect()
        return conn

    async def _lost(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = None
        with contextlib.suppress(Exception):
            await conn.close()

    async def _insert(self, rows: list[EventRow]) -> None:
        statement, params = store_statement(rows)
        conn = await self._connection()
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(self._connections.compiled(statement), params)
        except psycopg.OperationalError:
            await self._lost(conn)
            raise
        EVENTS_INGESTED.committed(len(rows), 0)

    async def _commit_limited(
        self, items: list[tuple[EventRow | None, Sequence[Check] | None]]
    ) -> list[list[Decision] | None]:
        """One transaction: the chains of `items` in their order, then the events whose
        every limit admitted them. Items without a chain are stored unconditionally."""
        assert self._limiter is not None, "write_limited needs the writer's limiter"
        limited = [i for i, (_, checks) in enumerate(items) if checks is not None]
        conn = await self._connection()
        try:
            # BEGIN and COMMIT written out rather than conn.transaction(), which waits for the
            # statements before its COMMIT: two round trips, [BEGIN, lock] and the rest.
            async with conn.pipeline(), conn.cursor() as cursor:
                await cursor.execute(_BEGIN)
                chains = await self._limiter.hit_chains_in(conn, [items[i][1] for i in limited])
                decisions: list[list[Decision] | None] = [None] * len(items)
                for i, chain in zip(limited, chains):
                    decisions[i] = chain
                rows = [row for (row, checks), chain in zip(items, decisions) if row is not None and (
                        checks is None or (len(chain) == len(checks) and chain[-1].allowed))]
                if rows:
                    statement, params = store_statement(rows)
                    await cursor.execute(self._connections.compiled(statement), params)
                await cursor.execute(_COMMIT)
        except psycopg.OperationalError:
            await self._lost(conn)
            raise
        except Exception:
            # A failed statement leaves the transaction aborted; nothing of it was committed.
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                try:
                    await conn.execute(_ROLLBACK, prepare=False)
                except psycopg.Error:
                    await self._lost(conn)
            raise
        EVENTS_INGESTED.committed(len(rows), 0)
        try:  # committed: the sweep's failure must not fail these events
            await self._limiter.sweep_if_due(conn)
        except psycopg.Error:
            log.warning("rate-limit sweep failed", exc_info=True)
            if conn.broken:
                await self._lost(conn)
        return decisions

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()


# ------------------------------------------------------------------------------- tracking


class Tracker:
    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        salts: SaltStore,
        limiter: Limiter,
        writer: EventWriter,
        tenant_limit: tuple[int, int],
        source_limit: tuple[int, int],
    ) -> None:
        self._tenants = tenants
        self._salts = salts
        self._limiter = limiter
        self._writer = writer
        if isinstance(limiter, PostgresLimiter) and not writer.limits_ride:
            # The PostgreSQL store's checks ride with the group commit (EventWriter).
            writer.ride_with(limiter)
        self._tenant_limit = tenant_limit
        self._source_limit = source_limit

    async def track(self, event: TrackRequest, client: Client) -> tuple[bool, dict[str, str]]:
        """Stores the event unless it comes from a bot; returns (stored, rate-limit headers).

        A bot's event is counted against the limits like any other, so that its status, body
        and headers are those of a stored event (docs/architecture.md, landing)."""
        tenant = await self._tenants.get(event.tenant_id)
        if tenant is None:
            raise TenantNotFound(message="Tenant not found", details=f"No tenant has the id {event.tenant_id}.")
        now = self._salts.now()
        salt = await self._salts.salt(tenant.time_zone, now)
        hashed = visitor_hash(salt, tenant.id, client.ip)
        # The source first: a refused flood does not spend the tenant's quota; the tenant's
        # limit is counted only if the source's admits (Limiter.hit_chain, one round trip).
        chain = ((f"landing:{tenant.id}:source:{hashed}", *self._source_limit),
                 (f"landing:{tenant.id}", *self._tenant_limit))
        bot = is_bot(client.user_agent)
        row = None if bot else EventRow(tenant.id, tenant.time_zone, now, event.event_type, hashed, event.duration_ms,
                                        client.user_agent, client.referrer, event.metadata)
        if self._writer.limits_ride:
            # The checks in the batch's transaction, with the events they admit (EventWriter).
            decision = self._decision(await self._writer.write_limited(row, chain))
        else:
            decision = self._decision(await self._limiter.hit_chain(chain))
            if row is not None:
                await self._writer.write(row)
        return not bot, decision.headers()

    def _decision(self, decisions: list[Decision]) -> Decision:
        """The chain's decisions: RateLimited for the first refusal, else the headers' decision."""
        count, window = self._tenant_limit
        source = decisions[0]
        if not source.allowed:
            raise RateLimited(
                message=SOURCE_LIMIT_MESSAGE, retry_after_seconds=source.retry_after, headers=source.headers()
            )
        decision = decisions[1]
        if not decision.allowed:
            raise RateLimited(
                message=TENANT_LIMIT_MESSAGE.format(limit=count, window="minute" if window == 60 else f"{window} s"),
                retry_after_seconds=decision.retry_after,
                headers=decision.headers(),
            )
        # The headers name the limit that refuses the caller first: the one with fewer left.
        return min((source, decision), key=lambda d: (d.remaining, -d.reset_epoch))
