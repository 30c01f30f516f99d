"""Sliding-window rate limiting per account per endpoint.

The window is a true sliding log: a request is allowed when fewer than `limit` requests
were allowed in the last `window` seconds. The log lives in one of three stores
(RATE_LIMIT_STORE, docs/architecture.md "Rate-limit state shared by replicas"):

* Redis when `REDIS_URL` is set: one atomic script per request, shared by every replica;
* PostgreSQL otherwise (the default without Redis): one statement per request on an
  UNLOGGED table, shared by every replica that uses the same database;
* process memory only when asked for (`RATE_LIMIT_STORE=memory`): one process only.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import math
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from sqlalchemy import BigInteger, Boolean, DateTime, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int  # when the oldest counted request leaves the window (Unix seconds)
    retry_after: int  # seconds until a request would be allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_epoch),
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_after)
        return headers


class Limiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision: ...


def _decide(allowed: bool, count: int, oldest_ms: float, now_ms: float, limit: int, window_ms: int) -> Decision:
    reset_ms = oldest_ms + window_ms
    return Decision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, limit - count),
        reset_epoch=math.ceil(reset_ms / 1000),
        retry_after=0 if allowed else max(1, math.ceil((reset_ms - now_ms) / 1000)),
    )


class MemoryLimiter:
    """In-process sliding log, for one process only."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._log: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = asyncio.Lock()

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        async with self._lock:
            now_ms = self._clock() * 1000
            window_ms = window_seconds * 1000
            log = self._log[key]
            while log and log[0] <= now_ms - window_ms:
                log.popleft()
            allowed = len(log) < limit
            if allowed:
                log.append(now_ms)
            oldest = log[0] if log else now_ms
            return _decide(allowed, len(log), oldest, now_ms, limit, window_ms)


# KEYS[1] = the log; ARGV = limit, window ms, a unique member suffix.
# Redis's own clock is used so that replicas with skewed clocks agree.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local oldest_score = now
if oldest[2] then oldest_score = tonumber(oldest[2]) end
return {allowed, count, oldest_score, now}
"""


class RedisLimiter:
    """Sliding log in a Redis sorted set, shared by all replicas."""

    def __init__(self, client, prefix: str = "rl:") -> None:  # client: redis.asyncio.Redis
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        window_ms = window_seconds * 1000
        allowed, count, oldest, now = await self._script(
            keys=[self._prefix + key], args=[limit, window_ms, secrets.token_hex(6)]
        )
        return _decide(bool(allowed), int(count), float(oldest), float(now), limit, window_ms)


class RateLimitWindow(Base):
    """The sliding log of one limiter key, for the PostgreSQL store. UNLOGGED: it is
    cheap to write and a crash only forgets recent requests (the windows start empty)."""

    __tablename__ = "rate_limit_windows"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    # The database clock (ms since the epoch) of every allowed request still in the window.
    hits: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    # Whether the latest request was allowed, and when it came (the database clock, ms).
    allowed: Mapped[bool] = mapped_column(Boolean)
    seen_ms: Mapped[int] = mapped_column(BigInteger)
    # When every hit has left the window: the sweeper deletes rows past it.
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


# The hits of the locked row that are still inside the window at EXCLUDED.seen_ms.
_LIVE = "ARRAY(SELECT h FROM unnest(w.hits) AS h WHERE h > EXCLUDED.seen_ms - :window_ms)"
_ROOM = f"cardinality({_LIVE}) < :limit"
# One statement: ON CONFLICT DO UPDATE locks the key's row and reads its latest committed
# version, so concurrent requests on any replica queue on that row and each sees the
# others' hits. The database's clock is used so that replicas with skewed clocks agree.
_HIT_SQL = text(f"""
INSERT INTO rate_limit_windows AS w (key, hits, allowed, seen_ms, expires_at)
SELECT :key,
       CASE WHEN :limit > 0 THEN ARRAY[c.now_ms] ELSE '{{}}'::bigint[] END,
       :limit > 0, c.now_ms, c.now + make_interval(secs => :window_s)
FROM (SELECT (extract(epoch FROM t.now) * 1000)::bigint AS now_ms, t.now
      FROM (SELECT clock_timestamp() AS now) AS t) AS c
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN {_ROOM} THEN {_LIVE} || EXCLUDED.seen_ms ELSE {_LIVE} END,
    allowed = {_ROOM},
    seen_ms = EXCLUDED.seen_ms,
    expires_at = CASE WHEN {_ROOM} THEN EXCLUDED.expires_at ELSE w.expires_at END
RETURNING allowed, cardinality(hits), coalesce(hits[1], seen_ms), seen_ms
""")
_SWEEP_SQL = text("DELETE FROM rate_limit_windows WHERE expires_at < clock_timestamp()")


class PostgresLimiter:
    """Sliding log in an UNLOGGED PostgreSQL table, shared by all replicas on one database.

    Every hit rewrites the key's array of timestamps, so a hit costs O(limit): fine for the
    documented limits (at most a few thousand per window); Redis is the store for heavy
    traffic. Rows whose hits have all left their window are deleted every `sweep_seconds`.
    """

    def __init__(self, engine: AsyncEngine, sweep_seconds: float = 300.0) -> None:
        # Autocommit: the one statement is its own transaction, one round trip per hit.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sweep_seconds = sweep_seconds
        self._next_sweep = time.monotonic() + sweep_seconds

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        window_ms = window_seconds * 1000
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                _HIT_SQL, {"key": key, "limit": limit, "window_ms": window_ms, "window_s": window_seconds}
            )).one()
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self._sweep_seconds
                await conn.execute(_SWEEP_SQL)
        allowed, count, oldest, now = row
        return _decide(bool(allowed), int(count), float(oldest), float(now), limit, window_ms)


def create_limiter(
    store: str, *, redis_url: str | None, engine: AsyncEngine | None, redis_timeout_s: float = 1.0
) -> Limiter:
    """The limiter of `store` (config.RATE_LIMIT_STORES; see Settings.rate_limit_store).

    Every Redis call has a deadline: connecting and each reply within `redis_timeout_s`
    (REDIS_TIMEOUT_MS), with one immediate retry on a fresh connection (a pooled connection
    broken by a Redis restart); so a Redis that is down or hangs costs a request at most
    about 2 x the timeout and ends as the documented fail-closed 503."""
    if store == "memory":
        return MemoryLimiter()
    if store == "postgres" and engine is not None:
        return PostgresLimiter(engine)
    if store == "redis" and redis_url:
        import redis.asyncio as redis_asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return RedisLimiter(redis_asyncio.from_url(
            redis_url, socket_timeout=redis_timeout_s, socket_connect_timeout=redis_timeout_s,
            retry=Retry(NoBackoff(), 1),
        ))
    raise ValueError(f"rate-limit store {store!r} is unknown or not configured")
