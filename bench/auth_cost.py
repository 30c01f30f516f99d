"""What authentication and rate limiting cost inside the service, per request.

The choice between checking keys at the gateway (an `ext_authz` service and a
rate-limit service, each a Python gRPC hop) and in the service's interceptor is made on
these figures: docs/gateway.md ("Measured facts") records each extra Python hop at about 250-350 µs of
CPU per request on this kind of machine; this measures the interceptor's own steps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from platform_core import accounts, db
from platform_core.auth import Authenticator
from platform_core.ratelimit import MemoryLimiter, RedisLimiter


async def _per_call_us(call, n: int) -> float:
    for _ in range(min(200, n)):  # warm-up
        await call()
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) / n * 1e6


async def _measure(database_url: str, redis_url: str | None) -> dict[str, Any]:
    engine = db.create_engine(database_url, pool_size=2)
    sessions = db.sessionmaker(engine)
    try:
        async with sessions() as session:
            account = await accounts.create_account(session, f"bench-auth-{uuid.uuid4().hex[:8]}")
            _, key = await accounts.create_key(session, account.id, "test")
            await session.commit()
        header = f"Bearer {key}"
        cached = Authenticator(db.reader(engine), cache_seconds=3600)
        uncached = Authenticator(db.reader(engine), cache_seconds=0)
        memory = MemoryLimiter()
        out: dict[str, Any] = {
            "auth_cache_hit_us": await _per_call_us(lambda: cached.authenticate(header, "analytics:read"), 20000),
            "auth_cache_miss_us": await _per_call_us(lambda: uncached.authenticate(header, "analytics:read"), 2000),
            "auth_malformed_key_us": await _per_call_us(
                lambda: _refused(cached.authenticate("Bearer sk_test_short", "analytics:read")), 20000),
            "limiter_memory_us": await _per_call_us(lambda: memory.hit("bench", 10**9, 3600), 20000),
            "limiter_redis_us": None,
        }
        if redis_url:
            import redis.asyncio

            client = redis.asyncio.from_url(redis_url)
            limiter = RedisLimiter(client, prefix=f"bench-{uuid.uuid4().hex[:8]}:")
            out["limiter_redis_us"] = await _per_call_us(lambda: limiter.hit("bench", 10**9, 3600), 5000)
            await client.aclose()
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}
    finally:
        await engine.dispose()


async def _refused(call) -> None:
    try:
        await call
    except Exception:  # the 401 is the expected outcome
        return


def measure(database_url: str, redis_url: str | None) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_measure(database_url, redis_url))
    finally:
        loop.close()


def render(results: dict[str, Any], w) -> None:
    a = results["auth"]
    w("## Authentication and rate limiting in the interceptor")
    w("")
    w("Wall time per call of the interceptor's steps, in this process, sequentially (µs). The alternative, "
      "an `ext_authz` service plus a rate-limit service behind Envoy, costs about 250-350 µs of CPU for "
      "each of the two Python hops per request (docs/gateway.md, \"Measured facts\", same kind of machine), on top of these "
      "same steps inside those services; so keys are checked in the service (docs/architecture.md).")
    w("")
    w("| step | µs per call |")
    w("| --- | --- |")
    w(f"| key check, cached principal (the common case; `AUTH_CACHE_SECONDS`) | {a['auth_cache_hit_us']} |")
    w(f"| key check, database lookup (cache miss, or cache disabled) | {a['auth_cache_miss_us']} |")
    w(f"| malformed key refused (no database) | {a['auth_malformed_key_us']} |")
    w(f"| sliding-window limiter, in process | {a['limiter_memory_us']} |")
    redis = a["limiter_redis_us"]
    w(f"| sliding-window limiter, Redis script | {redis if redis is not None else 'not measured (REDIS_URL unset)'} |")
    w("")
