"""Sliding-window-counter rate limiting per account per endpoint.

Each key keeps two fixed windows of `window` seconds aligned to the epoch: the count of
allowed requests in the current one and in the previous one. A request is allowed when
`prev * (window - elapsed) / window + cur + 1 <= limit`, `elapsed` being how far the
current window has run: the previous window is weighted by how much of it still overlaps
the sliding window ending now. A check is O(1) whatever the number of hits, and denied
requests are not counted. docs/architecture.md "Rate limiting" gives the bound of this
estimate against a true sliding log. The counters live in one of three stores
(RATE_LIMIT_STORE, docs/architecture.md "Rate-limit state shared by replicas"):

* Redis when `REDIS_URL` is set: one atomic script per request, shared by every replica;
* PostgreSQL otherwise (the default without Redis): one statement per request on an
  UNLOGGED table, shared by every replica that uses the same database, run on psycopg
  directly like the reads;
* process memory only when asked for (`RATE_LIMIT_STORE=memory`): one process only.

Every store uses its own clock (the memory store the process's) and returns the raw
counters; `decide` turns them into the decision and its headers the same way for all.

A request that counts against several limits at once (the landing track endpoint: its
visitor's sub-limit, then its tenant's limit) checks them with `hit_chain`: in order, each
counted only if every one before it admitted the request, in ONE round trip (one
statement, one script); a limit after the first refusal is neither checked nor spent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Text, text
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import DB_CONNECT_TIMEOUT_S, DB_POOL_TIMEOUT_S, WRITER_POOL_SIZE, Base
from platform_core.reads import Reads

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # requests that would be allowed if sent now, after this one
    reset_epoch: int  # when both windows are empty again and `remaining` is back to `limit` (Unix seconds)
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


# One limit of a chain: (key, limit, window seconds).
Check = tuple[str, int, int]


class Limiter(Protocol):
    # Whether a check waits on another server (PostgreSQL, Redis): the interceptor then runs
    # a read-only method's handler alongside it (platform_core/interceptor.py).
    round_trip: bool

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision: ...

    async def hit_chain(self, checks: Sequence[Check]) -> list[Decision]:
        """The checks in order, each counted only while all before it admitted the request:
        the decisions up to and including the first refusal (all of them when none refuses)."""
        ...


def decide(allowed: bool, prev: int, cur: int, start_ms: int, now_ms: int, limit: int, window_ms: int) -> Decision:
    """The decision from the counters after the request: `prev` and `cur` allowed requests in
    the previous window and in the current one, which started at `start_ms`."""
    elapsed = now_ms - start_ms
    # Remaining: n more requests pass now while prev*(W-e) + (cur+n)*W <= limit*W.
    free = limit * window_ms - prev * (window_ms - elapsed) - cur * window_ms
    remaining = max(0, free // window_ms)
    if cur > 0:
        reset_ms = start_ms + 2 * window_ms
    elif prev > 0:
        reset_ms = start_ms + window_ms
    else:
        reset_ms = now_ms
    retry_after = 0
    if not allowed:
        retry_after = math.ceil((_next_allowed_ms(prev, cur, start_ms, limit, window_ms) - now_ms) / 1000)
        retry_after = max(1, retry_after)
    return Decision(allowed, limit, remaining, math.ceil(reset_ms / 1000), retry_after)


def _next_allowed_ms(prev: int, cur: int, start_ms: int, limit: int, window_ms: int) -> int:
    """The first instant at which one more request passes, no other request coming."""
    if limit <= 0:
        return start_ms + window_ms  # never; say one window
    room = (limit - 1 - cur) * window_ms  # needed: prev * (W - e) <= room
    if room >= 0 and prev > 0:
        elapsed = window_ms - room // prev  # the least e with prev*(W-e) <= room
        if elapsed < window_ms:
            return start_ms + elapsed
    if cur == 0:
        return start_ms + window_ms
    # In the next window `cur` becomes the previous count: cur * (W - e) <= (limit - 1) * W.
    elapsed = max(0, window_ms - ((limit - 1) * window_ms) // cur)
    return start_ms + window_ms + elapsed


def _roll(stored_start: int, prev: int, cur: int, start_ms: int, window_ms: int) -> tuple[int, int]:
    """The (prev, cur) counts of the window starting at start_ms from the stored ones."""
    if stored_start == start_ms:
        return prev, cur
    if stored_start == start_ms - window_ms:
        return cur, 0
    return 0, 0


def _admits(prev: int, cur: int, elapsed: int, limit: int, window_ms: int) -> bool:
    return prev * (window_ms - elapsed) + (cur + 1) * window_ms <= limit * window_ms


class MemoryLimiter:
    """In-process sliding-window counter, for one process only."""

    round_trip = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int, int]] = {}  # key -> (window start ms, prev, cur)
        self._lock = asyncio.Lock()

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        return (await self.hit_chain(((key, limit, window_seconds),)))[0]

    async def hit_chain(self, checks: Sequence[Check]) -> list[Decision]:
        async with self._lock:
            now_ms = int(self._clock() * 1000)
            decisions = []
            for key, limit, window_seconds in checks:
                decisions.append(decision := self._hit(key, limit, window_seconds * 1000, now_ms))
                if not decision.allowed:
                    break
            return decisions

    def _hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> Decision:
        (start_ms, prev, cur), decision = _step(self._windows.get(key), limit, window_ms, now_ms)
        if prev or cur:
            self._windows[key] = (start_ms, prev, cur)
        else:
            self._windows.pop(key, None)
        return decision


def _step(stored: tuple[int, int, int] | None, limit: int, window_ms: int,
          now_ms: int) -> tuple[tuple[int, int, int], Decision]:
    """One hit on a key whose stored (window start ms, prev, cur) is `stored` (None: never
    hit): the counters to store after it and its decision."""
    start_ms = now_ms - now_ms % window_ms
    prev, cur = _roll(*stored, start_ms, window_ms) if stored else (0, 0)
    allowed = _admits(prev, cur, now_ms - start_ms, limit, window_ms)
    if allowed:
        cur += 1
    return (start_ms, prev, cur), decide(allowed, prev, cur, start_ms, now_ms, limit, window_ms)


# KEYS[i] = a key's hash {s = window start ms, p = previous count, c = current count};
# ARGV[2i-1], ARGV[2i] = its limit and window ms. The keys in order, each counted only while
# the ones before it admitted the request; returns {allowed, prev, cur, start} per key
# checked, then now. Redis's own clock is used so that replicas with skewed clocks agree.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local start = now - (now % window)
  local stored = redis.call('HMGET', key, 's', 'p', 'c')
  local prev, cur = 0, 0
  local s = tonumber(stored[1])
  if s == start then
    prev = tonumber(stored[2]) or 0
    cur = tonumber(stored[3]) or 0
  elseif s == start - window then
    prev = tonumber(stored[3]) or 0
  end
  local allowed = 0
  if prev * (window - (now - start)) + (cur + 1) * window <= limit * window then
    allowed = 1
    cur = cur + 1
  end
  if s ~= start or allowed == 1 then
    redis.call('HSET', key, 's', start, 'p', prev, 'c', cur)
    redis.call('PEXPIREAT', key, start + 2 * window)
  end
  table.insert(out, allowed)
  table.insert(out, prev)
  table.insert(out, cur)
  table.insert(out, start)
  if allowed == 0 then
    break
  end
end
table.insert(out, now)
return out
"""


class RedisLimiter:
    """Sliding-window counter in one Redis hash per key, shared by all replicas."""

    round_trip = True

    def __init__(self, client, prefix: str = "rl:") -> None:  # client: redis.asyncio.Redis
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        return (await self.hit_chain(((key, limit, window_seconds),)))[0]

    async def hit_chain(self, checks: Sequence[Check]) -> list[Decision]:
        out = await self._script(keys=[self._prefix + key for key, _, _ in checks],
                                 args=[x for _, limit, window in checks for x in (limit, window * 1000)])
        now = int(out[-1])
        return [decide(bool(out[i]), int(out[i + 1]), int(out[i + 2]), int(out[i + 3]), now, limit, window * 1000)
                for i, (_key, limit, window) in zip(range(0, len(out) - 1, 4), checks)]


class RateLimitWindow(Base):
    """The two window counters of one limiter key, for the PostgreSQL store. UNLOGGED: it is
    cheap to write and a crash only forgets recent requests (the windows start empty)."""

    __tablename__ = "rate_limit_windows"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    # The start of the current fixed window (the database clock, ms since the epoch) and the
    # requests allowed in it and in the window before it.
    window_start_ms: Mapped[int] = mapped_column(BigInteger)
    prev_count: Mapped[int] = mapped_column(Integer)
    cur_count: Mapped[int] = mapped_column(Integer)
    # Whether the latest request was allowed, and when it came (the database clock, ms).
    allowed: Mapped[bool] = mapped_column(Boolean)
    seen_ms: Mapped[int] = mapped_column(BigInteger)
    # When both windows are over: the sweeper deletes rows past it.
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


# The stored counters rolled forward to the window of EXCLUDED (the request's).
_PREV = """(CASE WHEN w.window_start_ms = EXCLUDED.window_start_ms THEN w.prev_count
                 WHEN w.window_start_ms = EXCLUDED.window_start_ms - :window_ms THEN w.cur_count
                 ELSE 0 END)"""
_CUR = "(CASE WHEN w.window_start_ms = EXCLUDED.window_start_ms THEN w.cur_count ELSE 0 END)"
_ROOM = (f"({_PREV}::bigint * (:window_ms - (EXCLUDED.seen_ms - EXCLUDED.window_start_ms))"
         f" + ({_CUR}::bigint + 1) * :window_ms <= :limit * :window_ms)")
# The parameters are cast to bigint: limit * window overflows an integer.
# One statement: ON CONFLICT DO UPDATE locks the key's row and reads its latest committed
# version, so concurrent requests on any replica queue on that row and each sees the
# others' hits. The database's clock is used so that replicas with skewed clocks agree:
# the statement's start time, the same in every expression of it. A VALUES row, not an
# INSERT ... SELECT, so that on Citus (where this is a reference table) the coordinator
# plans it as one modification; it refused the SELECT form ("could not determine data
# type of parameter $1").
_NOW_MS = "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
_START_MS = f"({_NOW_MS} - {_NOW_MS} % :window_ms)"
_ROW = (f"CAST(:key AS text), {_START_MS}, 0, CASE WHEN :limit > 0 THEN 1 ELSE 0 END, :limit > 0, {_NOW_MS}, "
        f"to_timestamp(({_START_MS} + 2 * :window_ms) / 1000.0)")
_UPSERT = f"""INSERT INTO rate_limit_windows AS w
    (key, window_start_ms, prev_count, cur_count, allowed, seen_ms, expires_at)
{{rows}}
ON CONFLICT (key) DO UPDATE SET
    prev_count = {_PREV},
    cur_count = {_CUR} + CASE WHEN {_ROOM} THEN 1 ELSE 0 END,
    allowed = {_ROOM},
    window_start_ms = EXCLUDED.window_start_ms,
    seen_ms = EXCLUDED.seen_ms,
    expires_at = EXCLUDED.expires_at
RETURNING allowed, prev_count, cur_count, window_start_ms, seen_ms"""


def _upsert(i: int, rows: str, now_ms: str = _NOW_MS) -> str:
    """The upsert of check `i` (parameters k<i>, l<i>, w<i>: key, limit, window ms) of the
    row `rows`, `now_ms` being the statement's clock. Whitespace collapsed: psycopg caches
    its parse of a statement's parameters only up to 4,096 characters, and a chain of two
    checks written out is longer (a parse per call cost ~14% of the track path's samples)."""
    sql = (_UPSERT.replace("{rows}", rows).replace(_NOW_MS, now_ms).replace(":window_ms", f"CAST(:w{i} AS bigint)")
           .replace(":limit", f"CAST(:l{i} AS bigint)").replace(":key", f":k{i}"))
    return " ".join(sql.split())


@functools.lru_cache(maxsize=8)
def _hit_sql(n: int) -> TextClause:
    """One statement for a chain of `n` checks. One check is the upsert of a VALUES row.
    For more, each is a data-modifying CTE whose row exists only if the previous one
    returned `allowed` (so a check after a refusal neither runs nor counts); the key rows
    are locked in the chain's order, which is the same for every request of that chain,
    so two such statements cannot deadlock. Rows come back numbered by their check."""
    if n == 1:
        return text(_upsert(0, f"VALUES ({_ROW})"))
    # The clock once (`c.ms`), for brevity: statement_timestamp() is the same in every expression.
    steps = [f"c AS (SELECT {_NOW_MS} AS ms)", f"h0 AS ({_upsert(0, f'SELECT {_ROW} FROM c', 'c.ms')})"]
    steps += [f"h{i} AS ({_upsert(i, f'SELECT {_ROW} FROM c, h{i - 1} WHERE h{i - 1}.allowed', 'c.ms')})"
              for i in range(1, n)]
    rows = " UNION ALL ".join(f"SELECT {i} AS i, h{i}.* FROM h{i}" for i in range(n))
    return text(f"WITH {', '.join(steps)} SELECT allowed, prev_count, cur_count, window_start_ms, seen_ms "
                f"FROM ({rows}) AS checked ORDER BY i")


# now(), not clock_timestamp(): Citus refuses a volatile function in the WHERE of a write
# to a reference table; in autocommit the two are the statement's start.
_SWEEP_SQL = text("DELETE FROM rate_limit_windows WHERE expires_at < now()")


# The chains of a batch, checked in the caller's transaction (PostgresLimiter.hit_chains_in).
# The first statement creates the rows of keys never hit (zero counters) and locks every
# key's row: the no-op DO UPDATE waits for a concurrent holder (another replica's batch or
# hit) and returns the latest committed counters. Keys come in one fixed order (a chain's
# first limit before its second, then by key), the order a lone chain locks them in too,
# so that two batches, or a batch and a chain, cannot deadlock. The second statement
# writes back the counters after the batch's hits.
_LOCK_SQL = text(
    "INSERT INTO rate_limit_windows AS w (key, window_start_ms, prev_count, cur_count, allowed, seen_ms, expires_at) "
    "SELECT k, 0, 0, 0, false, 0, statement_timestamp() FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS u(k, n) "
    "ORDER BY n ON CONFLICT (key) DO UPDATE SET window_start_ms = w.window_start_ms "
    f"RETURNING key, window_start_ms, prev_count, cur_count, {_NOW_MS}")
# The counters written back as an upsert of the rows _LOCK_SQL locked (every key is there,
# so it always takes the conflict arm), not as an UPDATE: on Citus an UPDATE of the
# limiter's table takes a stronger shard lock than an upsert, and a batch upgrading its
# lock while a single check waits on its rows deadlocked (make test-citus).
_WRITE_SQL = text(
    "INSERT INTO rate_limit_windows AS w (key, window_start_ms, prev_count, cur_count, allowed, seen_ms, expires_at) "
    "SELECT u.k, u.s, u.p, u.c, u.a, CAST(:now AS bigint), to_timestamp((u.s + 2 * u.wn) / 1000.0) FROM unnest("
    "CAST(:keys AS text[]), CAST(:s AS bigint[]), CAST(:p AS integer[]), CAST(:c AS integer[]), "
    "CAST(:a AS boolean[]), CAST(:wn AS bigint[])) AS u(k, s, p, c, a, wn) "
    "ON CONFLICT (key) DO UPDATE SET window_start_ms = excluded.window_start_ms, prev_count = excluded.prev_count, "
    "cur_count = excluded.cur_count, allowed = excluded.allowed, seen_ms = excluded.seen_ms, "
    "expires_at = excluded.expires_at")


class PostgresLimiter:
    """Sliding-window counter in an UNLOGGED PostgreSQL table, shared by all replicas on one
    database: one row of two counters per key, so a hit costs the same at any load. Rows
    whose windows are both over are deleted every `sweep_seconds`.

    The statement runs on psycopg autocommit connections of the limiter's own (the read
    path's pool, writable; platform_core/reads.py): one round trip per hit or chain of
    hits, prepared once."""

    round_trip = True

    def __init__(self, engine: AsyncEngine, sweep_seconds: float = 300.0, *, connections: Reads | None = None,
                 pool_size: int = WRITER_POOL_SIZE, statement_timeout_ms: int = 0) -> None:
        self._own = connections is None
        self._connections = connections or Reads(
            engine, size=pool_size, statement_timeout_ms=statement_timeout_ms,
            connect_timeout_s=DB_CONNECT_TIMEOUT_S, pool_timeout_s=DB_POOL_TIMEOUT_S, read_only=False)
        self._sweep_seconds = sweep_seconds
        self._next_sweep = time.monotonic() + sweep_seconds

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        return (await self.hit_chain(((key, limit, window_seconds),)))[0]

    async def hit_chain(self, checks: Sequence[Check]) -> list[Decision]:
        params: dict[str, object] = {}
        for i, (key, limit, window_seconds) in enumerate(checks):
            params.update({f"k{i}": key, f"l{i}": limit, f"w{i}": window_seconds * 1000})
        async with self._connections() as conn:
            rows = (await conn.execute(_hit_sql(len(checks)), params)).all()
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self._sweep_seconds
                await conn.execute(_SWEEP_SQL)
        return [decide(bool(allowed), int(prev), int(cur), int(start), int(now), limit, window_seconds * 1000)
                for (allowed, prev, cur, start, now), (_key, limit, window_seconds) in zip(rows, checks)]

    async def hit_chains_in(self, conn: psycopg.AsyncConnection,
                            chains: Sequence[Sequence[Check]]) -> list[list[Decision]]:
        """Every chain of `chains` exactly as `hit_chain` checks it, one after another in
        their order, at one instant of the database's clock, in the transaction open on
        `conn`: two statements whatever the number of chains, the keys' rows locked until
        that transaction ends. The caller commits the hits with what they admit (the
        landing event writer: the events in the same transaction), or rolls both back."""
        first_step: dict[str, int] = {}
        for chain in chains:
            for step, (key, _limit, _window) in enumerate(chain):
                first_step[key] = min(step, first_step.get(key, step))
        if not first_step:
            return [[] for _ in chains]
        keys = sorted(first_step, key=lambda k: (first_step[k], k))
        async with conn.cursor() as cursor:
            await cursor.execute(self._connections.compiled(_LOCK_SQL), {"keys": keys})
            locked = await cursor.fetchall()
            now_ms = int(locked[0][4])
            stored = {key: (int(start), int(prev), int(cur)) for key, start, prev, cur, _now in locked}
            touched: dict[str, tuple[int, bool]] = {}  # key -> (window ms, whether its latest hit was allowed)
            decisions = []
            for chain in chains:
                checked = []
                for key, limit, window_seconds in chain:
                    stored[key], decision = _step(stored[key], limit, window_seconds * 1000, now_ms)
                    touched[key] = (window_seconds * 1000, decision.allowed)
                    checked.append(decision)
                    if not decision.allowed:
                        break
                decisions.append(checked)
            written = list(touched)
            await cursor.execute(self._connections.compiled(_WRITE_SQL), {
                "now": now_ms, "keys": written, "s": [stored[k][0] for k in written],
                "p": [stored[k][1] for k in written], "c": [stored[k][2] for k in written],
                "a": [touched[k][1] for k in written], "wn": [touched[k][0] for k in written]})
        return decisions

    async def sweep_if_due(self, conn: psycopg.AsyncConnection) -> None:
        """The sweep of expired windows, on `conn` (autocommit), when it is due."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self._sweep_seconds
            await conn.execute(self._connections.compiled(_SWEEP_SQL))

    async def close(self) -> None:
        """Closes the connections it opened itself (shared ones belong to their owner)."""
        if self._own:
            await self._connections.close()


def create_limiter(
    store: str, *, redis_url: str | None, engine: AsyncEngine | None, redis_timeout_s: float = 1.0,
    pool_size: int = WRITER_POOL_SIZE, statement_timeout_ms: int = 0, connections: Reads | None = None,
) -> Limiter:
    """The limiter of `store` (config.RATE_LIMIT_STORES; see Settings.rate_limit_store).

    Every Redis call has a deadline: connecting and each reply within `redis_timeout_s`
    (REDIS_TIMEOUT_MS), with one immediate retry on a fresh connection (a pooled connection
    broken by a Redis restart); so a Redis that is down or hangs costs a request at most
    about 2 x the timeout and ends as the documented fail-closed 503."""
    if store == "memory":
        return MemoryLimiter()
    if store == "postgres" and engine is not None:
        return PostgresLimiter(engine, connections=connections, pool_size=pool_size,
                               statement_timeout_ms=statement_timeout_ms)
    if store == "redis" and redis_url:
        import redis.asyncio as redis_asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return RedisLimiter(redis_asyncio.from_url(
            redis_url, socket_timeout=redis_timeout_s, socket_connect_timeout=redis_timeout_s,
            retry=Retry(NoBackoff(), 1),
        ))
    raise ValueError(f"rate-limit store {store!r} is unknown or not configured")
