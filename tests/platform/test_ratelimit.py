"""The sliding-window-counter limiter, in memory, in PostgreSQL and in Redis (fakeredis, and a real server when told)."""

from __future__ import annotations

import asyncio
import os
import uuid

import fakeredis
import pytest
import pytest_asyncio
import redis.asyncio
from sqlalchemy import text

from platform_core import db
from platform_core.ratelimit import MemoryLimiter, PostgresLimiter, RedisLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_020.0  # the start of a 60 s window (1_000_020 = 16_667 x 60)

    def __call__(self) -> float:
        return self.now


async def test_memory_counter_weights_the_previous_window_by_its_overlap():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    for _ in range(3):
        assert (await limiter.hit("k", 3, 60)).allowed
        clock.now += 10
    denied = await limiter.hit("k", 3, 60)  # t=30: 3 hits at t=0,10,20 in this window
    # The next window counts these 3 at weight (60 - e)/60: one more passes once 3(60 - e) + 60 <= 180, e = 20 s.
    assert (denied.allowed, denied.remaining, denied.retry_after, denied.reset_epoch) == (False, 0, 50, 1_000_140)
    assert denied.headers()["retry-after"] == "50"
    clock.now = 1_000_020 + 79.9  # Retry-After is not early: just before it, still refused
    assert not (await limiter.hit("k", 3, 60)).allowed
    clock.now = 1_000_020 + 80
    allowed = await limiter.hit("k", 3, 60)
    assert (allowed.allowed, allowed.remaining, allowed.reset_epoch) == (True, 0, 1_000_020 + 180)
    assert not (await limiter.hit("k", 3, 60)).allowed
    clock.now = 1_000_020 + 110  # 3 x 10/60 + 1 + this one = 2.5: allowed, half a request left
    assert (await limiter.hit("k", 3, 60)).remaining == 0


async def test_memory_keys_are_independent():
    limiter = MemoryLimiter(Clock())
    assert (await limiter.hit("a", 1, 60)).allowed
    assert not (await limiter.hit("a", 1, 60)).allowed
    assert (await limiter.hit("b", 1, 60)).allowed


async def test_denied_requests_are_not_counted():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    first = await limiter.hit("k", 2, 60)
    clock.now += 1
    await limiter.hit("k", 2, 60)
    retry = (await limiter.hit("k", 2, 60)).retry_after
    for _ in range(5):
        clock.now += 10
        assert (await limiter.hit("k", 2, 60)).retry_after == retry - 10 * (_ + 1)
    assert first.allowed
    clock.now = 1_000_020 + 1 + retry
    assert (await limiter.hit("k", 2, 60)).allowed


async def test_remaining_is_exact_and_no_window_admits_more_than_the_bound():
    """`remaining` more requests pass at once and the next is refused; over any traffic no fixed
    window admits more than the limit and no sliding window more than 2 x limit - 1
    (docs/architecture.md "Rate limiting")."""
    import random

    rng = random.Random(7)
    clock = Clock()
    limiter = MemoryLimiter(clock)
    limit, window = 10, 60
    admitted = []
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.01, 0.5, 1, 3, 7])
        decision = await limiter.hit("k", limit, window)
        if decision.allowed:
            admitted.append(clock.now)
        if rng.random() < 0.05:  # drain what remains now: exactly `remaining` more pass
            for _ in range(decision.remaining):
                assert (await limiter.hit("k", limit, window)).allowed
                admitted.append(clock.now)
            assert not (await limiter.hit("k", limit, window)).allowed
    fixed = {}
    for at in admitted:
        fixed[at // window] = fixed.get(at // window, 0) + 1
    assert max(fixed.values()) <= limit
    j = 0
    for i, at in enumerate(admitted):
        while admitted[j] <= at - window:
            j += 1
        assert i - j + 1 <= 2 * limit - 1
    assert len(admitted) > 3000 * 7 // 60  # it does admit: about the limit per window


def _redis_clients():
    server = fakeredis.FakeServer()  # one store that both "replicas" talk to
    clients = [("fakeredis", lambda: fakeredis.FakeAsyncRedis(server=server))]
    if os.environ.get("REDIS_URL"):
        clients.append(("redis", lambda: redis.asyncio.from_url(os.environ["REDIS_URL"])))
    return clients


@pytest.mark.parametrize("name,factory", _redis_clients(), ids=[n for n, _ in _redis_clients()])
async def test_redis_limiter_counts_across_replicas(name, factory):
    import uuid

    key = f"test-{uuid.uuid4()}"
    first, second = RedisLimiter(factory()), RedisLimiter(factory())  # two replicas, one store
    decisions = [await (first if i % 2 else second).hit(key, 5, 60) for i in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    # One more passes once the weighted count allows it: at the latest W/limit into the next window.
    assert 1 <= decisions[-1].retry_after <= 60 + 12
    assert decisions[-1].headers()["retry-after"] == str(decisions[-1].retry_after)


@pytest_asyncio.fixture
async def pg_engines(database_url):
    """Two engines on the test database: two replicas sharing the PostgreSQL store."""
    engines = [db.create_engine(database_url, pool_size=2) for _ in range(2)]
    yield engines
    for engine in engines:
        await engine.dispose()


async def test_postgres_limiter_counts_across_replicas(pg_engines):
    key = f"test-{uuid.uuid4()}"
    first, second = (PostgresLimiter(engine) for engine in pg_engines)
    decisions = [await (first if i % 2 else second).hit(key, 5, 60) for i in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert 1 <= decisions[-1].retry_after <= 60 + 12


async def test_postgres_limiter_is_exact_under_concurrent_replicas(pg_engines):
    """Requests racing on both replicas queue on the key's row: exactly `limit` pass."""
    key = f"test-{uuid.uuid4()}"
    limiters = [PostgresLimiter(engine) for engine in pg_engines]
    decisions = await asyncio.gather(*(limiters[i % 2].hit(key, 10, 60) for i in range(30)))
    assert sum(d.allowed for d in decisions) == 10


async def test_postgres_limiter_window_slides(pg_engines):
    """The counters roll to the next fixed window and are forgotten after two (1 s windows here)."""
    key = f"test-{uuid.uuid4()}"
    limiter = PostgresLimiter(pg_engines[0])
    assert (await limiter.hit(key, 1, 1)).allowed
    denied = await limiter.hit(key, 1, 1)
    # One hit in this window (or the last one): it weighs until the end of the next one.
    assert (denied.allowed, denied.remaining) == (False, 0) and denied.retry_after in (1, 2)
    # Age the stored counters by two windows instead of sleeping: they have left the window.
    async with pg_engines[0].begin() as conn:
        await conn.execute(
            text("UPDATE rate_limit_windows SET window_start_ms = window_start_ms - 2000 WHERE key = :k"), {"k": key}
        )
    assert (await limiter.hit(key, 1, 1)).allowed


async def test_postgres_limiter_sweeps_expired_windows(pg_engines):
    key = f"test-{uuid.uuid4()}"
    limiter = PostgresLimiter(pg_engines[0], sweep_seconds=0)
    await limiter.hit(key, 3, 60)
    async with pg_engines[0].begin() as conn:
        await conn.execute(
            text("UPDATE rate_limit_windows SET expires_at = now() - interval '1 second' WHERE key = :k"), {"k": key}
        )
    await limiter.hit(f"other-{key}", 3, 60)  # the next hit sweeps
    async with pg_engines[0].connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM rate_limit_windows WHERE key = :k"), {"k": key})).scalar()
    assert left == 0


def test_the_default_store_is_postgres_without_redis_and_redis_with_it(monkeypatch):
    from platform_core.config import ConfigError, rate_limit_store

    monkeypatch.delenv("RATE_LIMIT_STORE", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert rate_limit_store() == "postgres"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert rate_limit_store() == "redis"
    monkeypatch.setenv("RATE_LIMIT_STORE", "memory")
    assert rate_limit_store() == "memory"
    monkeypatch.setenv("RATE_LIMIT_STORE", "etcd")
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORE"):
        rate_limit_store()


# ------------------------------------------------------------------------------- chains
# A chain of limits (the landing track endpoint: a visitor's sub-limit, then its tenant's)
# is checked in one round trip; a limit after the first refusal is neither checked nor spent.


async def _chain_stops_at_the_first_refusal(limiters) -> None:
    """`limiters`: two replicas of one store. The first key admits 2, the second 3."""
    inner, outer = f"inner-{uuid.uuid4()}", f"outer-{uuid.uuid4()}"
    chain = ((inner, 2, 60), (outer, 3, 60))
    runs = [await limiters[i % 2].hit_chain(chain) for i in range(3)]
    assert [[d.allowed for d in run] for run in runs] == [[True, True], [True, True], [False]]
    assert [[d.remaining for d in run] for run in runs] == [[1, 2], [0, 1], [0]]
    # The refused chain spent nothing of the second limit: it still has exactly one left.
    assert [d.allowed for d in await limiters[0].hit_chain(((outer, 3, 60),))] == [True]
    assert (await limiters[1].hit(outer, 3, 60)).allowed is False
    # A refusal by the second limit still counts the first (it admitted the request).
    other = f"inner-{uuid.uuid4()}"
    refused = await limiters[0].hit_chain(((other, 5, 60), (outer, 3, 60)))
    assert [d.allowed for d in refused] == [True, False] and refused[1].retry_after >= 1
    assert (await limiters[1].hit(other, 5, 60)).remaining == 3


async def test_memory_chain_stops_at_the_first_refusal():
    limiter = MemoryLimiter(Clock())
    await _chain_stops_at_the_first_refusal([limiter, limiter])


async def test_redis_chain_stops_at_the_first_refusal():
    server = fakeredis.FakeServer()
    await _chain_stops_at_the_first_refusal(
        [RedisLimiter(fakeredis.FakeAsyncRedis(server=server)) for _ in range(2)])


async def test_postgres_chain_stops_at_the_first_refusal(pg_engines):
    await _chain_stops_at_the_first_refusal([PostgresLimiter(engine) for engine in pg_engines])


async def test_postgres_chain_is_one_statement(pg_engines):
    from sqlalchemy import event

    limiter = PostgresLimiter(pg_engines[0])
    statements = []
    event.listen(pg_engines[0].sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    decisions = await limiter.hit_chain(((f"a-{uuid.uuid4()}", 5, 60), (f"b-{uuid.uuid4()}", 5, 3600)))
    assert [d.remaining for d in decisions] == [4, 4] and len(statements) == 1


async def test_postgres_chain_is_exact_under_concurrent_replicas(pg_engines):
    """Chains racing on both replicas: exactly `limit` pass the shared second key, and
    only the admitted ones are counted by it."""
    outer = f"outer-{uuid.uuid4()}"
    limiters = [PostgresLimiter(engine) for engine in pg_engines]
    runs = await asyncio.gather(*(limiters[i % 2].hit_chain(((f"src-{i % 3}-{outer}", 6, 60), (outer, 10, 60)))
                                  for i in range(30)))
    assert sum(len(run) == 2 and run[1].allowed for run in runs) == 10
    assert sum(not run[0].allowed for run in runs) == 30 - 18  # each of the 3 sources admits 6


def test_the_chain_of_the_track_endpoint_fits_psycopgs_statement_cache():
    """psycopg parses a statement's parameters once only when the compiled text is at most
    MAX_CACHED_STATEMENT_LENGTH long; longer, it parses it again on every call."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from platform_core.ratelimit import _hit_sql

    engine = db.create_engine("postgresql://nobody@/nowhere")
    compiled = db.writer(engine).compiled(_hit_sql(2))
    assert len(compiled) <= MAX_CACHED_STATEMENT_LENGTH


# The chains of a batch checked in the caller's transaction (PostgresLimiter.hit_chains_in:
# the landing event writer's limits riding with its group commit).


async def _batch(limiter: PostgresLimiter, chains, *, commit: bool = True):
    conn = await limiter._connections.connect()
    try:
        async with conn.pipeline():
            tx = conn.transaction(force_rollback=not commit)
            async with tx:
                return await limiter.hit_chains_in(conn, chains)
    finally:
        await conn.close()


async def test_postgres_batch_decides_as_the_chains_one_after_another(pg_engines):
    """A batch of chains sharing keys decides each chain as `hit_chain` would have, one
    after another: the same admissions and counts as the memory store's sequential chains."""
    tenant, sources = f"tenant-{uuid.uuid4()}", [f"src-{i}-{uuid.uuid4()}" for i in range(3)]
    chains = [((sources[i % 3], 3, 60), (tenant, 7, 60)) for i in (0, 0, 1, 0, 0, 2, 1, 1, 2, 1, 2, 2, 2, 0)]
    batched = await _batch(PostgresLimiter(pg_engines[0]), chains)
    memory = MemoryLimiter(Clock())
    sequential = [await memory.hit_chain(chain) for chain in chains]
    assert [[(d.allowed, d.remaining) for d in run] for run in batched] == \
        [[(d.allowed, d.remaining) for d in run] for run in sequential]
    # What the batch counted is stored: the next chain on another replica sees it.
    assert [d.allowed for d in await PostgresLimiter(pg_engines[1]).hit_chain(chains[0])] == [False]


async def test_postgres_batch_rolled_back_counts_nothing(pg_engines):
    key = f"test-{uuid.uuid4()}"
    limiter = PostgresLimiter(pg_engines[0])
    assert [[d.allowed for d in run] for run in await _batch(limiter, [((key, 2, 60),)] * 2, commit=False)] == \
        [[True], [True]]
    assert (await limiter.hit(key, 2, 60)).remaining == 1


async def test_postgres_batches_and_chains_are_exact_under_concurrent_replicas(pg_engines):
    """Batches on one replica racing with single chains on the other queue on the keys'
    rows: exactly the limit passes the shared key, each source admits its own limit."""
    outer = f"outer-{uuid.uuid4()}"
    limiters = [PostgresLimiter(engine) for engine in pg_engines]

    def chain(i: int):
        return (f"src-{i % 3}-{outer}", 6, 60), (outer, 10, 60)

    batches = [_batch(limiters[0], [chain(i) for i in range(b * 5, b * 5 + 5)]) for b in range(3)]
    singles = [limiters[1].hit_chain(chain(i)) for i in range(15, 30)]
    results = await asyncio.gather(*batches, *singles)
    runs = [run for batch in results[:3] for run in batch] + list(results[3:])
    assert sum(len(run) == 2 and run[1].allowed for run in runs) == 10
    assert sum(not run[0].allowed for run in runs) == 30 - 18
