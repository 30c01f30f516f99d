"""The instance service over gRPC, on a real server and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from sqlalchemy import text

from partnerlytics.instance.v1 import instance_analytics_pb2 as api
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as api_grpc
from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from tests.support import factories as f

NOW = dt.datetime.now(dt.timezone.utc)


def ids_value(*ids: str) -> api.GetInstanceDetailsBody:
    return api.GetInstanceDetailsBody(
        instance_ids=struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(string_value=i) for i in ids]))
    )


def details(rpc_error: grpc.aio.AioRpcError):
    status = rpc_status.from_call(rpc_error)
    out = {}
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RequestInfo,
                     error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                msg = kind()
                detail.Unpack(msg)
                out[kind.__name__] = msg
    return out


async def count(deps, table: str, account_id) -> int:
    async with deps.sessions() as s:
        return (await s.execute(text(f"SELECT count(*) FROM {table} WHERE account_id = :a"), {"a": account_id})).scalar_one()


async def test_retried_batches_are_stored_once(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    records = [f.instance(NOW - dt.timedelta(minutes=i)) for i in range(50)]
    first = await ingest.instances(records)
    again = await ingest.instances(records[:20] + [f.instance(NOW)])
    assert (first.created_count, first.duplicate_count) == (50, 0)
    assert (again.created_count, again.duplicate_count) == (1, 20)
    assert await count(deps, "instances", tenant.account_id) == 51
    async with deps.sessions() as s:
        counted = (await s.execute(text("SELECT sum(n) FROM instance_hourly_counts WHERE account_id = :a"),
                                   {"a": tenant.account_id})).scalar_one()
    assert counted == 51


async def test_retried_events_orders_and_rewards_are_stored_once(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW - dt.timedelta(minutes=5))
    await ingest.instances([inst])
    events = [f.page_view(inst.id, NOW - dt.timedelta(minutes=4)) for _ in range(3)]
    order = f.order(inst.id, inst.insider_id, NOW - dt.timedelta(minutes=3))
    reward = f.reward(inst.id, inst.insider_id, NOW - dt.timedelta(minutes=3))
    for _ in range(2):
        await ingest.events(events)
        await ingest.orders([order])
        await ingest.rewards([reward])
    assert [await count(deps, t, tenant.account_id) for t in ("events", "orders", "order_items", "insider_rewards")] == [3, 1, 1, 1]
    async with deps.sessions() as s:
        rows = (await s.execute(text("SELECT is_purchase, n FROM instance_hourly_counts WHERE account_id = :a"),
                                {"a": tenant.account_id})).all()
    assert sorted((r.is_purchase, r.n) for r in rows) == [(False, 0), (True, 1)]


async def test_an_order_repeated_in_one_batch_is_a_duplicate_with_its_items_stored_once(channel, make_tenant, deps):
    # Found by tests/platform/test_ingestion_fuzz.py: the repeated order's items were inserted twice (INTERNAL).
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW - dt.timedelta(minutes=5))
    await ingest.instances([inst])
    order = f.order(inst.id, inst.insider_id, NOW - dt.timedelta(minutes=3), items=[
        pb.OrderItemRecord(product_id="prod_1", quantity=1, price="9.99"),
        pb.OrderItemRecord(product_id="prod_2", quantity=2, price="10.00")])
    result = await ingest.orders([order, order])
    assert (result.created_count, result.duplicate_count) == (1, 1)
    assert [await count(deps, t, tenant.account_id) for t in ("orders", "order_items")] == [1, 2]


async def test_invalid_batch_lists_every_violation_and_writes_nothing(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    good = f.instance(NOW)
    bad = pb.InstanceRecord(id="not-a-uuid", campaign_id=str(uuid.uuid4()), insider_id="")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.instances([good, bad])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = details(err.value)["BadRequest"].field_violations
    assert [(v.field, v.reason) for v in violations] == [
        ("instances[1].id", "invalid_uuid"), ("instances[1].insider_id", "required"), ("instances[1].timestamp", "required"),
    ]
    assert await count(deps, "instances", tenant.account_id) == 0


async def test_event_metadata_is_checked_against_the_tracker_type(channel, make_tenant):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    event = pb.EventRecord(id=str(uuid.uuid4()), instance_id=inst.id, name="t", created_at=f.ts(NOW),
                           tracker_type=pb.TRACKER_TYPE_TIME_TRACKING)
    event.metadata.update({"time_spent": 10, "active_time": "long", "idle_time": 1, "session_duration": 3,
                           "engagement_score": 1.5})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.events([event])
    assert [(v.field, v.reason) for v in details(err.value)["BadRequest"].field_violations] == [
        ("events[0].metadata.active_time", "invalid_type"),
        ("events[0].metadata.engagement_score", "out_of_range"),
    ]


async def test_events_cannot_reference_another_accounts_instance(channel, make_tenant, deps):
    owner, other = await make_tenant("owner"), await make_tenant("other")
    inst = f.instance(NOW)
    await f.Ingest(channel, owner.test_key).instances([inst])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await f.Ingest(channel, other.test_key).events([f.page_view(inst.id, NOW)])
    assert [(v.field, v.reason) for v in details(err.value)["BadRequest"].field_violations] == [
        ("events[0].instance_id", "not_found")
    ]
    assert await count(deps, "events", other.account_id) == 0


async def test_a_second_order_for_an_instance_is_refused(channel, make_tenant):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    await ingest.orders([f.order(inst.id, inst.insider_id, NOW)])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.orders([f.order(inst.id, inst.insider_id, NOW)])
    assert details(err.value)["BadRequest"].field_violations[0].reason == "already_exists"


async def test_another_accounts_instance_is_indistinguishable_from_a_random_id(channel, make_tenant):
    owner, other = await make_tenant("owner"), await make_tenant("other")
    inst = f.instance(NOW)
    await f.Ingest(channel, owner.test_key).instances([inst])
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    answers = []
    for target in (inst.id, str(uuid.uuid4())):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetInstanceDetails(api.GetInstanceDetailsRequest(body=ids_value(target)), metadata=other.md())
        info = details(err.value)
        answers.append((err.value.code(), err.value.details(), info["ErrorInfo"].reason))
    assert answers[0] == answers[1] == (grpc.StatusCode.NOT_FOUND, "One or more instance IDs not found", "NOT_FOUND")


async def test_test_keys_do_not_see_live_data(channel, make_tenant):
    tenant = await make_tenant()
    inst = f.instance(NOW - dt.timedelta(minutes=1))
    await f.Ingest(channel, tenant.live_key).instances([inst])
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    live = await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md(tenant.live_key))
    test = await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md(tenant.test_key))
    assert ([d.instance_id for d in live.data], len(test.data)) == ([inst.id], 0)


async def test_scopes_are_enforced(channel, make_tenant):
    tenant = await make_tenant()
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as read_err:
        await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md(tenant.write_only_key))
    with pytest.raises(grpc.aio.AioRpcError) as write_err:
        await f.Ingest(channel, tenant.read_only_key).instances([f.instance(NOW)])
    assert (read_err.value.code(), write_err.value.code()) == (grpc.StatusCode.PERMISSION_DENIED,) * 2


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer sk_test_short", "Basic abc",
                                           "Bearer sk_test_" + "A" * 32, "Bearer sk_prod_" + "A" * 32])
async def test_bad_keys_are_unauthenticated(channel, authorization):
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    md = () if authorization is None else (("authorization", authorization),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=md)
    assert (err.value.code(), details(err.value)["ErrorInfo"].reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_revoked_keys_stop_working(channel, make_tenant, deps):
    from platform_core import accounts

    tenant = await make_tenant()
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md())
    async with deps.sessions() as s:
        key_ids = [k.id for k in await accounts.list_keys(s, tenant.account_id) if k.last4 == tenant.test_key[-4:]]
        assert await accounts.revoke_key(s, key_ids[0])
        await s.commit()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_request_id_is_kept_when_valid_and_replaced_otherwise(channel, make_tenant):
    tenant = await make_tenant()
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    given = str(uuid.uuid4())
    kept = await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md() + (("x-request-id", given),))
    fresh = await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(), metadata=tenant.md() + (("x-request-id", "nope"),))
    assert kept.meta.requestId == given
    assert uuid.UUID(fresh.meta.requestId).version == 4


async def test_errors_carry_rich_details_and_the_http_envelope(channel, make_tenant):
    tenant = await make_tenant()
    stub = api_grpc.InstanceAnalyticsServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListInstanceAnalytics(api.ListInstanceAnalyticsRequest(page="0", limit="101"), metadata=tenant.md())
    info = details(err.value)
    trailers = dict(err.value.trailing_metadata())
    assert info["ErrorInfo"].reason == "INVALID_ARGUMENT"
    assert [v.field for v in info["BadRequest"].field_violations] == ["page", "limit"]
    assert trailers["x-envelope-status"] == "400"
    assert info["RequestInfo"].request_id in trailers["x-envelope"]


async def test_health_reports_serving_for_every_service(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "partnerlytics.instance.v1.InstanceAnalyticsService", "partnerlytics.instance.v1.InstanceIngestionService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_and_describes_the_services(grpc_server):
    from grpc_requests import Client

    def reflect():  # a blocking client: run it off the event loop that serves it
        client = Client(f"127.0.0.1:{grpc_server.port}")
        methods = client.service("partnerlytics.instance.v1.InstanceAnalyticsService").method_names
        return set(client.service_names), set(methods)

    services, methods = await asyncio.to_thread(reflect)
    assert {"partnerlytics.instance.v1.InstanceAnalyticsService", "partnerlytics.instance.v1.InstanceIngestionService",
            "grpc.health.v1.Health"} <= services
    assert methods == {"ListInstanceAnalytics", "GetInstanceDetails"}


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_is_served_as_v1_and_v1alpha(grpc_server, version):
    """Newer grpcurl and Postman ask `grpc.reflection.v1`, older clients `v1alpha`: the
    same request (wire-identical messages) lists the same services and describes a file."""
    from grpc_reflection.v1alpha import reflection_pb2 as messages

    service = f"grpc.reflection.{version}.ServerReflection"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as ch:
        call = ch.stream_stream(f"/{service}/ServerReflectionInfo",
                                request_serializer=messages.ServerReflectionRequest.SerializeToString,
                                response_deserializer=messages.ServerReflectionResponse.FromString)
        requests = [messages.ServerReflectionRequest(list_services=""),
                    messages.ServerReflectionRequest(
                        file_containing_symbol="partnerlytics.instance.v1.InstanceAnalyticsService")]
        replies = [reply async for reply in call(iter(requests))]
    listed = {s.name for s in replies[0].list_services_response.service}
    assert {"partnerlytics.instance.v1.InstanceAnalyticsService", "partnerlytics.instance.v1.InstanceIngestionService",
            "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= listed
    assert replies[1].WhichOneof("message_response") == "file_descriptor_response"
    assert replies[1].file_descriptor_response.file_descriptor_proto


async def test_an_unreachable_rate_limit_store_is_a_retryable_unavailable(database_url, make_tenant):
    """Fail closed: without the shared limiter no request is served, and none gets a 500."""
    import redis.asyncio

    from platform_core.errors import partner_envelope
    from platform_core.ratelimit import RedisLimiter
    from platform_core.server import Deps, create_server
    from services.instance.servicer import service_specs
    from stack.run import free_port
    from tests.conftest import make_settings

    tenant = await make_tenant()
    dead = redis.asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    deps = Deps.from_settings(make_settings(database_url), limiter=RedisLimiter(dead))
    running = await create_server("127.0.0.1:0", deps, service_specs(deps), partner_envelope)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await api_grpc.InstanceAnalyticsServiceStub(ch).ListInstanceAnalytics(
                    api.ListInstanceAnalyticsRequest(), metadata=tenant.md())
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(err.value.trailing_metadata())["x-envelope-status"] == "503"
    finally:
        await running.stop(0)
        await deps.engine.dispose()


async def test_logs_are_json_lines_with_request_id_and_account(channel, make_tenant):
    import io
    import json
    import logging

    from platform_core.logs import JsonFormatter

    tenant = await make_tenant()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("platform_core.rpc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    rid = str(uuid.uuid4())
    try:
        await api_grpc.InstanceAnalyticsServiceStub(channel).ListInstanceAnalytics(
            api.ListInstanceAnalyticsRequest(), metadata=tenant.md() + (("x-request-id", rid),))
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [e for e in entries if e.get("request_id") == rid]
    assert len(mine) == 1
    assert (mine[0]["account_id"], mine[0]["mode"], mine[0]["status"]) == (str(tenant.account_id), "test", "OK")
    assert mine[0]["method"].endswith("/ListInstanceAnalytics")
