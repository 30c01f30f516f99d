"""Sliding-window rate limiting per account per endpoint.

The window is a true sliding log: a request is allowed when fewer than `limit` requests
were allowed in the last `window` seconds. State lives in Redis when `REDIS_URL` is set
(shared by every replica, one atomic script per request) and in process memory only for
the single-process embedded default.
"""

from __future__ import annotations

import asyncio
import collections
import math
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Protocol


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


def create_limiter(redis_url: str | None, timeout_s: float = 1.0) -> Limiter:
    """The Redis limiter when `redis_url` is set. Every Redis call has a deadline:
    connecting and each reply within `timeout_s` (REDIS_TIMEOUT_MS), with one immediate
    retry on a fresh connection (a pooled connection broken by a Redis restart); so a
    Redis that is down or hangs costs a request at most about 2 x `timeout_s` and ends
    as the documented fail-closed 503."""
    if not redis_url:
        return MemoryLimiter()
    import redis.asyncio as redis_asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return RedisLimiter(redis_asyncio.from_url(
        redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 1),
    ))
