"""The sliding-window limiter, in memory, in PostgreSQL and in Redis (fakeredis, and a real server when told)."""

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
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_window_slides_rather_than_resetting():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    for _ in range(3):
        assert (await limiter.hit("k", 3, 60)).allowed
        clock.now += 10
    denied = await limiter.hit("k", 3, 60)  # t=30: 3 hits at t=0,10,20
    assert (denied.allowed, denied.remaining, denied.retry_after, denied.reset_epoch) == (False, 0, 30, 1_000_060)
    clock.now = 1_000_060.5  # the t=0 hit left the window; t=10 and t=20 are still in it
    allowed = await limiter.hit("k", 3, 60)
    assert (allowed.allowed, allowed.remaining) == (True, 0)
    assert not (await limiter.hit("k", 3, 60)).allowed


async def test_memory_keys_are_independent():
    limiter = MemoryLimiter(Clock())
    assert (await limiter.hit("a", 1, 60)).allowed
    assert not (await limiter.hit("a", 1, 60)).allowed
    assert (await limiter.hit("b", 1, 60)).allowed


async def test_denied_requests_do_not_extend_the_window():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    await limiter.hit("k", 1, 60)
    for _ in range(5):
        clock.now += 10
        await limiter.hit("k", 1, 60)
    clock.now = 1_000_060.1
    assert (await limiter.hit("k", 1, 60)).allowed


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
    assert decisions[-1].retry_after in (59, 60)
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
    assert decisions[-1].retry_after in (59, 60)


async def test_postgres_limiter_is_exact_under_concurrent_replicas(pg_engines):
    """Requests racing on both replicas queue on the key's row: exactly `limit` pass."""
    key = f"test-{uuid.uuid4()}"
    limiters = [PostgresLimiter(engine) for engine in pg_engines]
    decisions = await asyncio.gather(*(limiters[i % 2].hit(key, 10, 60) for i in range(30)))
    assert sum(d.allowed for d in decisions) == 10


async def test_postgres_limiter_window_slides(pg_engines):
    """A hit leaves the window after `window` seconds (1 s here), not at a fixed boundary."""
    key = f"test-{uuid.uuid4()}"
    limiter = PostgresLimiter(pg_engines[0])
    assert (await limiter.hit(key, 1, 1)).allowed
    denied = await limiter.hit(key, 1, 1)
    assert (denied.allowed, denied.remaining, denied.retry_after) == (False, 0, 1)
    # Age the stored hit by a window instead of sleeping: it has left the window.
    async with pg_engines[0].begin() as conn:
        await conn.execute(text("UPDATE rate_limit_windows SET hits = ARRAY[hits[1] - 1000] WHERE key = :k"), {"k": key})
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
