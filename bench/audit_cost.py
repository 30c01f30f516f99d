"""What the audit log costs per request: `python -m bench.audit_cost` (about a minute).

Three figures, on an embedded PostgreSQL (or a fresh database on the DATABASE_URL server,
which must be a superuser's, as for the tests), as the app role:

- `record_us`: the interceptor's share, queueing one row in memory;
- `write_us_per_row` / `write_process_cpu_us_per_row`: the background writer's time per
  row, in one batch (wall clock, the database's work included / the service process's CPU);
- the p50 of a whole gRPC call (ListInstanceAnalytics, key cached) with and without the
  audit writer, rounds interleaved so that both see the same machine load.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pathlib
import statistics
import tempfile
import time
import uuid
from dataclasses import replace

import grpc
import psycopg

from partnerlytics.instance.v1 import instance_analytics_pb2 as api
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as api_grpc
from platform_core import accounts
from platform_core.audit import AuditWriter
from platform_core.config import DEFAULT_RATE_LIMITS, Settings
from platform_core.ratelimit import MemoryLimiter
from platform_core.roles import prepare_database
from platform_core.server import Deps, create_server
from services.registry import family
from stack.run import migrate

CALLS, ROUNDS = 500, 8


async def _p50_ms(stub, md, n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=md)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _measure(app_url: str) -> dict[str, float]:
    limits = {**DEFAULT_RATE_LIMITS, "instances.list": (10**9, 3600)}
    settings = Settings(database_url=app_url, redis_url=None, auth_cache_seconds=3600, rate_limits=limits)
    deps = Deps.from_settings(settings, limiter=MemoryLimiter())
    async with deps.sessions() as session:
        account = await accounts.create_account(session, "bench-audit")
        _, key = await accounts.create_key(session, account.id, "test")
        await session.commit()
    writer = AuditWriter(deps.engine)
    now = dt.datetime.now(dt.timezone.utc)
    row = dict(at=now, account_id=account.id, key_id=uuid.uuid4(), endpoint="/bench/Record", status=200,
               grpc_code="OK", request_id=str(uuid.uuid4()))
    started = time.perf_counter()
    for _ in range(20000):
        writer.record(**row)
    record_us = (time.perf_counter() - started) / 20000 * 1e6
    started, cpu = time.perf_counter(), time.process_time()
    await writer.close()
    write_us = (time.perf_counter() - started) / 20000 * 1e6
    write_cpu_us = (time.process_time() - cpu) / 20000 * 1e6

    instance = family("instance")  # its declaration (services/registry.py): servicers, envelope
    async with instance.serve(deps) as specs:
        servers = {}
        for name, audit in (("with_audit", deps.audit), ("without_audit", None)):
            servers[name] = await create_server("127.0.0.1:0", replace(deps, audit=audit), specs,
                                                instance.envelope)
        md = (("authorization", f"Bearer {key}"),)
        p50: dict[str, list[float]] = {name: [] for name in servers}
        channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{s.port}") for name, s in servers.items()}
        try:
            for _ in range(ROUNDS):
                for name, channel in channels.items():
                    p50[name].append(await _p50_ms(api_grpc.InstanceAnalyticsServiceStub(channel), md, CALLS))
        finally:
            for channel in channels.values():
                await channel.close()
            for server in servers.values():
                await server.stop(1)
            await deps.engine.dispose()
    out = {"record_us": record_us, "write_us_per_row": write_us, "write_process_cpu_us_per_row": write_cpu_us}
    out.update({f"{name}_p50_ms": statistics.median(v) for name, v in p50.items()})
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    server_url = os.environ.get("DATABASE_URL")
    pg = None
    if not server_url:
        from platform_core.embedded_pg import EmbeddedPostgres

        pg = EmbeddedPostgres(pathlib.Path(tempfile.mkdtemp(prefix="bench-audit-")) / "pg")
        server_url = pg.admin_url
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    try:
        urls = prepare_database(server_url, name)
        migrate(urls.owner)
        results = asyncio.run(_measure(urls.app))
    finally:
        if pg is not None:
            pg.stop()
        else:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for name, value in results.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
