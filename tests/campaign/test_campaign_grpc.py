"""The campaign service over gRPC on a real server, its projection, and its failures
through the real gateway (database down, database too slow, service too slow)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import uuid

import grpc
import httpx
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text

from partnerlytics.campaign.v1 import campaign_analytics_pb2 as api
from partnerlytics.campaign.v1 import campaign_analytics_pb2_grpc as api_grpc
from partnerlytics.campaign.v1 import campaigns_pb2 as registry_pb
from partnerlytics.campaign.v1 import campaigns_pb2_grpc as registry_grpc
from platform_core.errors import campaign_envelope
from platform_core.server import Deps, create_server
from services.campaign.servicer import service_specs
from stack.run import SERVICES, Stack, free_port
from tests.support import factories as f
from tests.conftest import make_settings

NOW = dt.datetime.now(dt.timezone.utc)


def registry(channel) -> registry_grpc.CampaignServiceStub:
    return registry_grpc.CampaignServiceStub(channel)


def campaign(campaign_id: str, name: str = "Spring Sale") -> registry_pb.CreateCampaignRequest:
    return registry_pb.CreateCampaignRequest(campaign=registry_pb.Campaign(id=campaign_id, name=name))


def status_details(rpc_error: grpc.aio.AioRpcError) -> dict:
    out = {}
    for detail in rpc_status.from_call(rpc_error).details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo,
                     error_details_pb2.PreconditionFailure):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                out[kind.__name__] = message
    return out


# ---------------------------------------------------------------------------------------
# Registry


async def test_create_campaign_is_idempotent_first_write_wins(campaign_channel, make_tenant):
    tenant = await make_tenant()
    campaign_id = str(uuid.uuid4())
    first = await registry(campaign_channel).CreateCampaign(campaign(campaign_id, "Spring Sale"), metadata=tenant.md())
    again = await registry(campaign_channel).CreateCampaign(campaign(campaign_id, "Renamed"), metadata=tenant.md())
    assert (first.created, again.created) == (True, False)
    assert again.campaign == first.campaign
    assert first.campaign.name == "Spring Sale" and first.campaign.id == campaign_id


@pytest.mark.parametrize("campaign_id,name,violations", [
    ("nope", "ok", [("campaign.id", "invalid_uuid")]),
    (str(uuid.uuid4()), "  ", [("campaign.name", "required")]),
    ("", "x" * 201, [("campaign.id", "invalid_uuid"), ("campaign.name", "too_long")]),
])
async def test_create_campaign_validates_every_field(campaign_channel, make_tenant, campaign_id, name, violations):
    tenant = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry(campaign_channel).CreateCampaign(campaign(campaign_id, name), metadata=tenant.md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = status_details(err.value)["BadRequest"]
    assert [(v.field, v.reason) for v in bad.field_violations] == violations


async def test_creating_needs_the_ingest_scope_and_listing_the_read_scope(campaign_channel, make_tenant):
    tenant = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as create:
        await registry(campaign_channel).CreateCampaign(campaign(str(uuid.uuid4())), metadata=tenant.md(tenant.read_only_key))
    with pytest.raises(grpc.aio.AioRpcError) as listing:
        await registry(campaign_channel).ListCampaigns(registry_pb.ListCampaignsRequest(),
                                                       metadata=tenant.md(tenant.write_only_key))
    assert create.value.code() == listing.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_list_campaigns_newest_first_paged_and_scoped(campaign_channel, make_tenant):
    tenant, other = await make_tenant(), await make_tenant()
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for n, campaign_id in enumerate(ids):
        await registry(campaign_channel).CreateCampaign(campaign(campaign_id, f"c{n}"), metadata=tenant.md())
    await registry(campaign_channel).CreateCampaign(campaign(str(uuid.uuid4())), metadata=other.md())
    await registry(campaign_channel).CreateCampaign(campaign(str(uuid.uuid4())), metadata=tenant.md(tenant.live_key))
    stub = registry(campaign_channel)
    first = await stub.ListCampaigns(registry_pb.ListCampaignsRequest(page_size=3), metadata=tenant.md())
    second = await stub.ListCampaigns(registry_pb.ListCampaignsRequest(page=2, page_size=3), metadata=tenant.md())
    past = await stub.ListCampaigns(registry_pb.ListCampaignsRequest(page=9, page_size=3), metadata=tenant.md())
    assert [c.name for c in first.campaigns] + [c.name for c in second.campaigns] == ["c4", "c3", "c2", "c1", "c0"]
    assert (first.total_size, second.total_size, past.total_size, list(past.campaigns)) == (5, 5, 5, [])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListCampaigns(registry_pb.ListCampaignsRequest(page_size=101), metadata=tenant.md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---------------------------------------------------------------------------------------
# Analytics over gRPC


async def test_reflection_lists_the_campaign_services(campaign_server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{campaign_server.port}") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        services = {s.name async for r in responses for s in r.list_services_response.service}
    assert {"partnerlytics.campaign.v1.CampaignAnalyticsService", "partnerlytics.campaign.v1.CampaignService",
            "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


async def test_an_empty_window_is_failed_precondition_with_the_422_envelope(campaign_channel, make_tenant):
    tenant = await make_tenant()
    campaign_id = str(uuid.uuid4())
    await registry(campaign_channel).CreateCampaign(campaign(campaign_id), metadata=tenant.md())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api_grpc.CampaignAnalyticsServiceStub(campaign_channel).GetCampaignAnalytics(
            api.GetCampaignAnalyticsRequest(campaign_id=campaign_id, time_frame="per_hour"), metadata=tenant.md())
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = status_details(err.value)
    assert details["ErrorInfo"].reason == "NO_DATA"
    assert [(v.type, v.subject) for v in details["PreconditionFailure"].violations] == [("no_data", "time_frame")]
    trailers = dict(err.value.trailing_metadata())
    assert trailers["x-envelope-status"] == "422"
    assert json.loads(trailers["x-envelope"])["error"] == "Validation Error"


async def test_a_successful_call_carries_the_rate_limit_headers(channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    campaign_id = str(uuid.uuid4())
    await registry(campaign_channel).CreateCampaign(campaign(campaign_id), metadata=tenant.md())
    await f.Ingest(channel, tenant.test_key).instances([f.instance(NOW - dt.timedelta(minutes=5), campaign_id=campaign_id)])
    call = api_grpc.CampaignAnalyticsServiceStub(campaign_channel).GetCampaignAnalytics(
        api.GetCampaignAnalyticsRequest(campaign_id=campaign_id, time_frame="per_hour"), metadata=tenant.md())
    response = await call
    headers = dict(await call.initial_metadata())
    assert response.data.summary.total_instances == 1
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("150", "149")


# ---------------------------------------------------------------------------------------
# The projection stays equal to the raw rows under concurrent, overlapping, repeated writes


async def test_projection_equals_a_recount_of_the_raw_rows_after_concurrent_ingestion(channel, make_tenant, deps):
    tenant = await make_tenant()
    rng = random.Random(7)
    campaigns = [str(uuid.uuid4()) for _ in range(3)]
    instances = [f.instance(NOW - dt.timedelta(seconds=rng.randint(60, 5 * 86400)), campaign_id=rng.choice(campaigns))
                 for _ in range(600)]
    orders = [f.order(i.id, i.insider_id, NOW, total=f"{rng.randint(1, 99999) / 100:.2f}")
              for i in instances if rng.random() < 0.4]
    ingest = f.Ingest(channel, tenant.test_key)
    # Overlapping batches (every record sent twice, in different batches) at the same time.
    await asyncio.gather(*(ingest.instances(instances[s:s + 150]) for s in range(0, 600, 100)))
    await asyncio.gather(*(ingest.orders(orders[s:s + 40]) for s in range(0, len(orders), 30)))
    async with deps.engine.connect() as conn:
        params = {"a": tenant.account_id}
        projected = (await conn.execute(text(
            "SELECT campaign_id, hour, instances, purchases, revenue FROM campaign_hourly_stats "
            "WHERE account_id = :a ORDER BY 1, 2"), params)).all()
        recount = (await conn.execute(text(
            "SELECT i.campaign_id, date_trunc('hour', i.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), "
            "count(*) FILTER (WHERE i.is_purchase), coalesce(sum(o.total), 0) FROM instances i LEFT JOIN orders o "
            "ON o.account_id = i.account_id AND o.livemode = i.livemode AND o.instance_id = i.id "
            "WHERE i.account_id = :a GROUP BY 1, 2 ORDER BY 1, 2"), params)).all()
    assert [tuple(r) for r in projected] == [tuple(r) for r in recount]
    assert sum(r[2] for r in projected) == 600 and sum(r[3] for r in projected) == len(orders)


# ---------------------------------------------------------------------------------------
# Failures of what the service depends on, through the real gateway


@contextlib.asynccontextmanager
async def campaign_behind_envoy(tmp_path, database_url: str, route_timeout_s: float = 15.0, **settings):
    """An in-process campaign server with the given settings behind a real Envoy."""
    deps = Deps.from_settings(make_settings(database_url, **settings))
    running = await create_server("127.0.0.1:0", deps, service_specs(deps), campaign_envelope)
    stack = Stack(data_dir=tmp_path, gateway_port=free_port(), admin_port=free_port(),
                  service_ports={**{s.name: [free_port()] for s in SERVICES}, "campaign": [running.port]},
                  route_timeout_s=route_timeout_s)
    try:
        await asyncio.to_thread(stack.start_gateway)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as http:
            yield http
    finally:
        await asyncio.to_thread(stack.stop)
        await running.stop(0)
        await deps.engine.dispose()


@contextlib.contextmanager
def campaigns_locked(database_url: str):
    """Holds an exclusive lock on `campaigns`: every analytics query waits behind it."""
    with psycopg.connect(database_url) as conn:
        conn.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def envelope_of(response: httpx.Response) -> dict:
    body = response.json()
    meta = body.pop("meta")
    assert meta["requestId"] == response.headers["x-request-id"]
    return body


async def test_database_down_is_the_documented_503_with_retry_after(tmp_path, make_tenant):
    tenant = await make_tenant()
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with campaign_behind_envoy(tmp_path, dead) as http:
        response = await http.get(f"/api/partner/v1/campaigns/{uuid.uuid4()}/analytics?time_frame=per_day",
                                  headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert envelope_of(response) == {
        "success": False, "error": "Service Unavailable",
        "message": "Service temporarily unavailable. Please retry later.",
        "details": "A backing store (database or rate-limit store) cannot be reached.",
        "retry_after": 5,
    }


@pytest.mark.parametrize("settings,route_timeout_s,details", [
    ({"db_statement_timeout_ms": 300}, 15.0, "The database did not answer within the statement timeout."),
    ({}, 1.0, "The campaign analytics service did not answer in time."),
], ids=["statement-timeout-in-the-service", "route-timeout-in-envoy"])
async def test_a_slow_dependency_is_the_documented_504(
    tmp_path, database_url, make_tenant, settings, route_timeout_s, details
):
    tenant = await make_tenant()
    async with campaign_behind_envoy(tmp_path, database_url, route_timeout_s, **settings) as http:
        with campaigns_locked(database_url):
            response = await http.get(f"/api/partner/v1/campaigns/{uuid.uuid4()}/analytics?time_frame=per_day",
                                      headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 504
    assert envelope_of(response) == {
        "success": False, "error": "Gateway Timeout", "message": "Request timeout. Please try again.",
        "details": details,
    }
