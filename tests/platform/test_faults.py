"""Faults (docs/reliability.md, "Faults"): a service killed under load, PostgreSQL stopped
hard during batch ingestion, Redis down and hung, a database that never answers, SIGTERM
with a request in flight. `make chaos` runs the same scenarios at a larger scale."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import grpc
import httpx
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from partnerlytics.campaign.v1 import campaigns_pb2, campaigns_pb2_grpc
from partnerlytics.instance.v1 import instance_analytics_pb2 as api
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as api_grpc
from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as pb_grpc
from partnerlytics.landing.v1 import tenants_pb2, tenants_pb2_grpc
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from partnerlytics.voucher.v1 import voucher_ingestion_pb2_grpc as vpb_grpc
from platform_core.errors import partner_envelope
from platform_core.ratelimit import MemoryLimiter, create_limiter
from platform_core.server import Deps, create_server
from services.instance.servicer import service_specs
from stack.run import ROOT, SERVICES, Stack
from tests.conftest import Tenant, make_settings, whole_stack
from tests.support.factories import account_with_key
from tests.support.faults import CHANNEL_OPTIONS, SCALE, Producers, RedisServer, black_hole, free_port, record, trailers

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
HIGH_LIMITS = ",".join(f"{bucket}=1000000/60" for bucket in (
    "instances.list", "instances.ingest", "campaigns.analytics", "campaigns.write", "vouchers.performance",
    "vouchers.ingest", "affiliate.analytics", "affiliate.ingest", "landing.track", "landing.track.source",
    "landing.dashboard", "landing.tenants.write"))


def now_ts() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def instance_records(ids: list[str], campaign_id: str) -> list[pb.InstanceRecord]:
    return [pb.InstanceRecord(id=i, campaign_id=campaign_id, insider_id=str(uuid.uuid5(uuid.NAMESPACE_URL, i)),
                              timestamp=now_ts()) for i in ids]


# --------------------------------------------------------------- a service killed under load

@pytest.fixture(scope="module")
def fault_stack(database_url, tmp_path_factory):
    """Every service in its own process behind a real Envoy, limits raised for the load."""
    with whole_stack(database_url, tmp_path_factory.mktemp("fault-stack"), RATE_LIMITS=HIGH_LIMITS,
                     VOUCHER_EXPORT_WORKERS="0") as stack:
        yield stack


@dataclass
class Family:
    """What the kill test needs of a family: how it ingests, what it reads, how the
    gateway answers while its service is down (the family's documented envelope), and
    how many of the acknowledged records are stored."""

    name: str
    batch: int
    down_status: int
    down: Callable[[dict], bool]  # the documented envelope of "service unreachable"
    setup: Callable[["Run"], Awaitable[None]]
    send: Callable[["Run", list[str]], Awaitable[bool]]
    read: Callable[["Run"], str]
    stored: Callable[["Run", psycopg.Connection, list[str]], int]
    client_ids: bool = True  # landing events carry no client id: counted, not matched


@dataclass
class Run:
    stack: Stack
    tenant: Tenant
    http: httpx.AsyncClient
    channels: dict[str, grpc.aio.Channel]
    campaign_id: str = ""
    voucher_id: str = ""
    landing_tenant: int = 0
    auth: dict[str, str] = field(default_factory=dict)

    @property
    def md(self):
        return self.tenant.md()

    async def ingest_instances(self, ids: list[str], campaign_id: str) -> bool:
        stub = pb_grpc.InstanceIngestionServiceStub(self.channels["instance"])
        await stub.BatchCreateInstances(pb.BatchCreateInstancesRequest(
            instances=instance_records(ids, campaign_id)), metadata=self.md, timeout=10)
        return True


async def _no_setup(run: Run) -> None:
    return None


async def _campaign_setup(run: Run) -> None:
    run.campaign_id = str(uuid.uuid4())
    await campaigns_pb2_grpc.CampaignServiceStub(run.channels["campaign"]).CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign=campaigns_pb2.Campaign(id=run.campaign_id, name="read")),
        metadata=run.md, timeout=10)
    await run.ingest_instances([str(uuid.uuid4())], run.campaign_id)


async def _create_campaigns(run: Run, ids: list[str]) -> bool:
    stub = campaigns_pb2_grpc.CampaignServiceStub(run.channels["campaign"])
    for i in ids:  # idempotent by the caller's UUID: a retry of the whole list is safe
        await stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(
            campaign=campaigns_pb2.Campaign(id=i, name="load")), metadata=run.md, timeout=10)
    return True


# When each batch was first sent, by its first id: a retry resends the same records, time
# included (an event's identity is its id and its time: docs/lifecycle.md, "Idempotency").
_FIRST_SENT: dict[str, str] = {}


async def _affiliate_events(run: Run, ids: list[str]) -> bool:
    now = _FIRST_SENT.setdefault(ids[0], dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z"))
    events = [{"id": i, "type": "pageview", "occurred_at": now, "session_id": "s-1",
               "page_url": "https://shop.example.com/p/1", "user_agent": CHROME} for i in ids]
    response = await run.http.post("/v1/affiliate/events:batch", json={"events": events}, headers=run.auth)
    return response.status_code == 200


def _voucher_ids(n: int) -> list[str]:
    return [f"v_{secrets.token_hex(8)}" for _ in range(n)]


async def _create_vouchers(run: Run, ids: list[str]) -> bool:
    stub = vpb_grpc.VoucherIngestionServiceStub(run.channels["voucher"])
    await stub.BatchCreateVouchers(vpb.BatchCreateVouchersRequest(vouchers=[
        vpb.VoucherRecord(id=i, code=i.upper(), currency="USD", created_at=now_ts()) for i in ids]),
        metadata=run.md, timeout=10)
    return True


async def _voucher_setup(run: Run) -> None:
    run.voucher_id = _voucher_ids(1)[0]
    await _create_vouchers(run, [run.voucher_id])


async def _landing_setup(run: Run) -> None:
    response = await tenants_pb2_grpc.LandingTenantServiceStub(run.channels["landing"]).CreateTenant(
        tenants_pb2.CreateTenantRequest(name="faults"), metadata=run.md, timeout=10)
    run.landing_tenant = int(response.tenant.id)


async def _track(run: Run, ids: list[str]) -> bool:
    response = await run.http.post("/api/analytics/track", json={"tenant_id": run.landing_tenant,
                                                                "event_type": "pageview"},
                                   headers={"user-agent": CHROME, "x-forwarded-for": f"198.51.100.{len(ids)}"})
    return response.status_code == 200 and response.json() == {"success": True}


def _count(sql: str) -> Callable[[Run, psycopg.Connection, list[str]], int]:
    def stored(run: Run, conn: psycopg.Connection, ids: list[str]) -> int:
        return conn.execute(sql, {"a": run.tenant.account_id, "ids": ids, "t": run.landing_tenant}).fetchone()[0]
    return stored


FAMILIES = [
    Family("instance", 20, 503, lambda b: b["error"] == "Service Unavailable", _no_setup,
           lambda run, ids: run.ingest_instances(ids, str(uuid.UUID(int=1))),
           lambda run: "/partner/v1/instances/analytics?time_frame=day",
           _count("SELECT count(*) FROM instances WHERE account_id = %(a)s AND id = ANY(%(ids)s::uuid[])")),
    Family("campaign", 3, 502, lambda b: b["message"] == "Upstream service unavailable.", _campaign_setup,
           _create_campaigns,
           lambda run: f"/api/partner/v1/campaigns/{run.campaign_id}/analytics?time_frame=per_day",
           _count("SELECT count(*) FROM campaigns WHERE account_id = %(a)s AND id = ANY(%(ids)s::uuid[])")),
    Family("affiliate", 20, 503, lambda b: b["error"]["code"] == "SERVICE_UNAVAILABLE", _no_setup,
           _affiliate_events, lambda run: "/v1/affiliate/analytics?section=stats",
           _count("SELECT count(*) FROM affiliate_events WHERE account_id = %(a)s AND event_id = ANY(%(ids)s::uuid[])")),
    Family("voucher", 20, 503, lambda b: b["error"]["code"] == "SERVICE_UNAVAILABLE", _voucher_setup,
           _create_vouchers, lambda run: f"/v1/analytics/vouchers/{run.voucher_id}/performance",
           _count("SELECT count(*) FROM vouchers WHERE account_id = %(a)s AND id = ANY(%(ids)s)")),
    Family("landing", 1, 503, lambda b: b["code"] == "SERVICE_UNAVAILABLE", _landing_setup, _track,
           lambda run: f"/api/analytics/{run.landing_tenant}",
           _count("SELECT count(*) FROM landing_events WHERE tenant_id = %(t)s"), client_ids=False),
]


def _new_ids(family: Family) -> Callable[[], list[str]]:
    if family.name == "voucher":
        return lambda: _voucher_ids(family.batch)
    return lambda: [str(uuid.uuid4()) for _ in range(family.batch)]


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
async def test_a_service_killed_under_load_is_the_family_answer_then_recovers_and_loses_no_write(
    fault_stack, database_url, make_tenant, family
):
    tenant = await make_tenant(f"kill-{family.name}")
    service = next(s for s in SERVICES if s.name == family.name)
    channels = {s.name: grpc.aio.insecure_channel(f"127.0.0.1:{fault_stack.service_ports[s.name][0]}",
                                                  options=CHANNEL_OPTIONS) for s in SERVICES}
    async with httpx.AsyncClient(base_url=fault_stack.gateway_url, timeout=20) as http:
        run = Run(fault_stack, tenant, http, channels, auth={"authorization": f"Bearer {tenant.test_key}"})
        await family.setup(run)
        assert (await http.get(family.read(run), headers=run.auth)).status_code == 200
        producers = Producers(lambda ids: family.send(run, ids), _new_ids(family))
        producers.start(4 * SCALE)
        await producers.wait_acked(more_than=4 * family.batch)

        killed_at = time.monotonic()
        await asyncio.to_thread(fault_stack.kill, f"{family.name}-0")
        acked_before = len(producers.acked)
        # While it is down: the family's documented answer, from Envoy, at once.
        for _ in range(3 * SCALE):
            response = await http.get(family.read(run), headers=run.auth)
            assert response.status_code == family.down_status, response.text
            assert family.down(response.json()), response.text
        await asyncio.sleep(0.5 * SCALE)  # producers keep failing and retrying meanwhile

        await asyncio.to_thread(fault_stack.start_service, service)
        # Back: the same Envoy (never restarted) routes to it again without help.
        deadline = time.monotonic() + 30
        while (status := (await http.get(family.read(run), headers=run.auth)).status_code) != 200:
            assert time.monotonic() < deadline, f"not recovered: {status}"
            await asyncio.sleep(0.05)
        recovered_s = time.monotonic() - killed_at
        await producers.wait_acked(more_than=len(producers.acked) + 4 * family.batch)
        await producers.stop()
    for channel in channels.values():
        await channel.close()

    assert producers.failures, "the kill did not interrupt the producers"
    with psycopg.connect(database_url) as conn:
        stored = family.stored(run, conn, producers.acked)
    if family.client_ids:
        assert len(set(producers.acked)) == len(producers.acked)
        assert stored == len(producers.acked)  # every acknowledged record, once
    else:
        # Without client ids a write whose answer was lost may be stored unacknowledged.
        assert len(producers.acked) <= stored <= producers.attempts
    record("service killed under load", family=family.name, acked=len(producers.acked), stored=stored,
           acked_before_kill=acked_before, attempts=producers.attempts, failures=producers.failures,
           down_status=family.down_status, recovered_s=round(recovered_s, 2))


# --------------------------------------------------------------- PostgreSQL stopped hard

async def _list_call(channel, tenant: Tenant):
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    return await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(time_frame="day"),
                                            metadata=tenant.md(), timeout=20)


async def _tenant_in(url: str) -> Tenant:
    account_id, key = await account_with_key(url, "pg-stop")
    return Tenant(account_id, key, "", "", "")


async def test_postgres_stopped_hard_during_batch_ingestion_loses_and_doubles_nothing(owned_pg):
    pg, url = owned_pg
    tenant = await _tenant_in(url)
    deps = Deps.from_settings(make_settings(url), limiter=MemoryLimiter())
    server = await create_server("127.0.0.1:0", deps, service_specs(deps), partner_envelope)
    campaign = str(uuid.uuid4())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as channel:
            stub = pb_grpc.InstanceIngestionServiceStub(channel)

            async def send(ids: list[str]) -> bool:
                await stub.BatchCreateInstances(pb.BatchCreateInstancesRequest(
                    instances=instance_records(ids, campaign)), metadata=tenant.md(), timeout=20)
                return True

            producers = Producers(send, lambda: [str(uuid.uuid4()) for _ in range(200)])
            producers.start(4 * SCALE)
            await producers.wait_acked(more_than=800)
            await asyncio.to_thread(pg.stop_immediately)
            stopped_at = time.monotonic()
            # During the outage: the family's 503 (UNAVAILABLE with its envelope), not a 500.
            for _ in range(3):
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await _list_call(channel, tenant)
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
                assert trailers(raised.value)["x-envelope-status"] == "503"
            await asyncio.sleep(1.0 * SCALE)
            await asyncio.to_thread(pg.start)
            # Back: pooled connections are re-validated (pool_pre_ping), no restart needed.
            deadline = time.monotonic() + 30
            while True:
                try:
                    await _list_call(channel, tenant)
                    break
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                    assert time.monotonic() < deadline, "no recovery after PostgreSQL came back"
                    await asyncio.sleep(0.1)
            recovered_s = time.monotonic() - stopped_at
            await producers.wait_acked(more_than=len(producers.acked) + 800)
            await producers.stop()
    finally:
        await server.stop(1)
        await deps.engine.dispose()

    assert set(producers.failures) <= {"UNAVAILABLE"}, producers.failures  # never a 500
    assert producers.failures
    with psycopg.connect(url) as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM instances WHERE account_id = %s", (tenant.account_id,)).fetchone()
        counted = conn.execute("SELECT coalesce(sum(n), 0) FROM instance_hourly_counts WHERE account_id = %s",
                               (tenant.account_id,)).fetchone()[0]
        missing = conn.execute("SELECT count(*) FROM unnest(%s::uuid[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM "
                               "instances i WHERE i.account_id = %s AND i.id = a.id)",
                               (producers.acked, tenant.account_id)).fetchone()[0]
    assert (rows, distinct, missing) == (len(set(producers.acked)), len(set(producers.acked)), 0)
    assert counted == rows  # the hourly projection counted every retried batch once
    record("PostgreSQL stopped hard (immediate)", acked=len(producers.acked), stored=rows,
           attempts=producers.attempts, failures=producers.failures, recovered_s=round(recovered_s, 2))


# Each family's read with its answer when PostgreSQL is up (an unknown id is the family's
# 404: the service answered), and the family's 503 envelope while it is down.
DB_READS = {
    "instance": ("/partner/v1/instances/analytics?time_frame=day", 200,
                 lambda b: b["error"] == "Service Unavailable"),
    "campaign": (f"/api/partner/v1/campaigns/{uuid.uuid4()}/analytics?time_frame=per_day", 404,
                 lambda b: b["message"] == "Service temporarily unavailable. Please retry later."
                 and b["retry_after"] == 5),
    "affiliate": ("/v1/affiliate/analytics?section=stats", 200,
                  lambda b: b["error"]["code"] == "SERVICE_UNAVAILABLE"),
    "voucher": ("/v1/analytics/vouchers/v_0123456789abcdef/performance", 404,
                lambda b: b["error"]["code"] == "SERVICE_UNAVAILABLE"),
    "landing": ("/api/analytics/987654321", 404, lambda b: b["code"] == "SERVICE_UNAVAILABLE"),
}


async def test_postgres_stopped_every_family_answers_its_503_and_recovers(owned_pg, tmp_path):
    pg, url = owned_pg
    tenant = await _tenant_in(url)
    with whole_stack(url, tmp_path / "stack") as stack:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30,
                                     headers={"authorization": f"Bearer {tenant.test_key}"}) as http:
            for family, (path, up, _down) in DB_READS.items():
                assert (await http.get(path)).status_code == up, family
            await asyncio.to_thread(pg.stop_immediately)
            for family, (path, _up, down) in DB_READS.items():
                response = await http.get(path)
                assert response.status_code == 503 and down(response.json()), (family, response.text)
                assert response.headers.get("retry-after") == "5", family
            await asyncio.to_thread(pg.start)
            deadline = time.monotonic() + 30
            for family, (path, up, _down) in DB_READS.items():
                while (status := (await http.get(path)).status_code) != up:
                    assert status == 503 and time.monotonic() < deadline, (family, status)
                    await asyncio.sleep(0.1)


# --------------------------------------------------------------- Redis down, Redis hung

async def _instance_server(url: str, limiter_url: str | None, timeout_s: float = 1.0):
    limiter = (
        create_limiter("redis", redis_url=limiter_url, engine=None, redis_timeout_s=timeout_s)
        if limiter_url else MemoryLimiter()
    )
    deps = Deps.from_settings(make_settings(url), limiter=limiter)
    return deps, await create_server("127.0.0.1:0", deps, service_specs(deps), partner_envelope)


async def test_redis_killed_fails_closed_with_a_retryable_503_and_recovers(database_url, make_tenant, tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    tenant = await make_tenant("redis-down")
    deps, server = await _instance_server(database_url, redis.url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            await _list_call(channel, tenant)
            redis.kill()
            killed_at = time.monotonic()
            for _ in range(3 * SCALE):
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await _list_call(channel, tenant)
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
                assert trailers(raised.value)["x-envelope-status"] == "503"
                assert trailers(raised.value)["retry-after"] == "5"
            redis.start()  # same port, empty: the windows start again
            call = await _list_call(channel, tenant)
            assert call.success
            record("Redis killed, restarted", failures={"UNAVAILABLE (503, Retry-After: 5)": 3 * SCALE},
                   recovered_s=round(time.monotonic() - killed_at, 2))
    finally:
        redis.kill()
        await server.stop(1)
        await deps.engine.dispose()


async def test_a_redis_that_never_answers_is_a_503_within_the_socket_deadline(database_url, make_tenant):
    tenant = await make_tenant("redis-hung")
    async with black_hole() as port:
        deps, server = await _instance_server(database_url, f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    # A deadline well above 2 x 0.3 s and below redis-py's implicit 5 s.
                    await api_grpc.InstanceAnalyticsServiceStub(channel).ListInstanceAnalytics(
                        api.ListInstanceAnalyticsRequest(time_frame="day"), metadata=tenant.md(), timeout=4)
        finally:
            await server.stop(1)
            await deps.engine.dispose()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert trailers(raised.value)["x-envelope-status"] == "503"


async def test_a_database_that_never_answers_is_a_503_within_the_connect_deadline(make_tenant):
    tenant = await make_tenant("db-hung")
    async with black_hole() as port:
        deps, server = await _instance_server(f"postgresql://app@127.0.0.1:{port}/nothing", None)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await _list_call(channel, tenant)  # authentication needs the database
        finally:
            await server.stop(1)
            await deps.engine.dispose()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert trailers(raised.value)["x-envelope-status"] == "503"


# --------------------------------------------------------------- SIGTERM with a call in flight

async def test_sigterm_drains_health_finishes_the_call_in_flight_and_refuses_new_ones(
    database_url, make_tenant, tmp_path
):
    tenant = await make_tenant("sigterm")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "INSTANCE_GRPC_PORT": str(port), "LOG_LEVEL": "WARNING",
           "AUTH_CACHE_SECONDS": "0", "SHUTDOWN_GRACE_SECONDS": "30",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen")])}
    log = open(tmp_path / "instance.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "services.instance"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60, wait_for_ready=True)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            instance_id = str(uuid.uuid4())
            with psycopg.connect(database_url) as blocker:
                # Writers to `instances` wait for this transaction: the batch below is in
                # flight, inside the service, when SIGTERM arrives.
                blocker.execute("LOCK TABLE instances IN SHARE ROW EXCLUSIVE MODE")
                in_flight = asyncio.ensure_future(pb_grpc.InstanceIngestionServiceStub(channel).BatchCreateInstances(
                    pb.BatchCreateInstancesRequest(instances=instance_records([instance_id], str(uuid.uuid4()))),
                    metadata=tenant.md(), timeout=60))
                await _wait_for_lock_waiter(database_url)
                proc.send_signal(signal.SIGTERM)
                assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as fresh:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                assert not in_flight.done()
                blocker.rollback()  # the lock goes: the call in flight can finish
            result = await in_flight
        assert (result.created_count, result.duplicate_count) == (1, 0)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT count(*) FROM instances WHERE id = %s", (instance_id,)).fetchone()[0] == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


async def _wait_for_lock_waiter(database_url: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND query ILIKE '%instances%'").fetchone()[0]:
            assert time.monotonic() < deadline, "the batch never reached the database"
            await asyncio.sleep(0.05)
