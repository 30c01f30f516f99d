"""The rate limiter's check time against the number of hits in its window.

    .venv/bin/python -m bench.limiter [--repeats 200] [--out bench/results/limiter-latest.json]

Starts an embedded PostgreSQL of its own (migrated to head) and a redis-server of its own
on a free port, unless REDIS_URL is given. For each store and each load (1, 6,000 and
18,000 hits in the window) a key is filled to that count (its two counters written
directly: a counter's cost does not depend on how it got there), then `repeats` checks
are timed, the loads interleaved round by round (wall time of `hit`, one round trip each). Prints the
median, the interquartile range and the ratio of each load's median to the 1-hit median, and
writes them as JSON to `--out` (`make bench` renders them in docs/performance.md's targets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid

from sqlalchemy import text

LOADS = (1, 6_000, 18_000)
WINDOW_S = 3600  # long enough that no timed check crosses a window boundary
LIMIT = 1_000_000  # every timed check is allowed (and counted, as a real one is)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _time(limiter, keys: dict[int, str], repeats: int) -> dict[int, list[float]]:
    """Interleaved: each round times one check of every load, so drift in the machine's
    load (2 cores shared) falls on every load alike."""
    times: dict[int, list[float]] = {load: [] for load in keys}
    for _ in range(repeats):
        for load, key in keys.items():
            start = time.perf_counter()
            await limiter.hit(key, LIMIT, WINDOW_S)
            times[load].append((time.perf_counter() - start) * 1000)
    return times


async def bench_postgres(database_url: str, repeats: int) -> dict[int, list[float]]:
    from platform_core import db
    from platform_core.ratelimit import PostgresLimiter

    engine = db.create_engine(database_url, pool_size=2)
    limiter = PostgresLimiter(engine)
    keys = {load: f"bench-{uuid.uuid4()}" for load in LOADS}
    try:
        for load, key in keys.items():
            await limiter.hit(key, LIMIT, WINDOW_S)
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE rate_limit_windows SET prev_count = :n, cur_count = :n WHERE key = :k"),
                                   {"n": load, "k": key})
        await _time(limiter, keys, 20)  # warm the pool and the plan
        out = await _time(limiter, keys, repeats)
    finally:
        await engine.dispose()
    return out


async def bench_redis(redis_url: str, repeats: int) -> dict[int, list[float]]:
    import redis.asyncio as redis_asyncio

    from platform_core.ratelimit import RedisLimiter

    client = redis_asyncio.from_url(redis_url)
    limiter = RedisLimiter(client, prefix="bench-rl:")
    keys = {load: f"bench-{uuid.uuid4()}" for load in LOADS}
    try:
        for load, key in keys.items():
            await limiter.hit(key, LIMIT, WINDOW_S)
            await client.hset("bench-rl:" + key, mapping={"p": load, "c": load})
        await _time(limiter, keys, 20)
        out = await _time(limiter, keys, repeats)
        await client.delete(*("bench-rl:" + key for key in keys.values()))
    finally:
        await client.aclose()
    return out


def _report(name: str, results: dict[int, list[float]]) -> dict[str, dict[str, float]]:
    base = statistics.median(results[LOADS[0]])
    out = {}
    for load, times in results.items():
        q1, med, q3 = statistics.quantiles(times, n=4)
        print(f"{name:9} {load:>7,} hits  median {med:6.3f} ms  IQR {q1:6.3f}-{q3:6.3f} ms"
              f"  min {min(times):6.3f}  ratio {med / base:4.2f}x")
        out[str(load)] = {"median_ms": med, "q1_ms": q1, "q3_ms": q3, "min_ms": min(times), "ratio": med / base}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent / "results" / "limiter-latest.json")
    args = parser.parse_args()

    from platform_core.embedded_pg import EmbeddedPostgres
    from stack.run import migrate

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-limiter-"))
    redis_proc = None
    try:
        pg = EmbeddedPostgres(work / "pg")
        database_url = pg.ensure_database("bench_limiter")
        migrate(database_url)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            port = _free_port()
            redis_proc = subprocess.Popen(
                [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--dir", str(work)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            redis_url = f"redis://127.0.0.1:{port}/0"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        loadavg = round(os.getloadavg()[0], 2)
        print(f"repeats {args.repeats}, window {WINDOW_S} s, load average {loadavg:.1f}")
        results = {"repeats": args.repeats, "loadavg_start": loadavg, "stores": {
            "postgres": _report("postgres", asyncio.run(bench_postgres(database_url, args.repeats))),
            "redis": _report("redis", asyncio.run(bench_redis(redis_url, args.repeats))),
        }}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"written: {args.out}")
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
