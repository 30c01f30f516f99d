"""The sliding-window limiter, in memory and in Redis (fakeredis, and a real server when told)."""

from __future__ import annotations

import os

import fakeredis
import pytest
import redis.asyncio

from platform_core.ratelimit import MemoryLimiter, RedisLimiter


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
