"""Webhooks end to end (docs/webhooks.md): endpoints over gRPC, events written in the
ingest transaction, a delivery worker posting them to a real local HTTP receiver, and a
small verifier written from the documented signature recipe alone.

Real gRPC servers, a real PostgreSQL, a real HTTP server on a free port; the worker is
driven one claim at a time (`run_once`) until the account's queue is empty, with retry
delays of a few milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import grpc
import pytest
import pytest_asyncio
from google.protobuf import json_format
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as apb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as apb_grpc
from partnerlytics.instance.v1 import instance_ingestion_pb2 as ipb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as ipb_grpc
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from partnerlytics.webhooks.v1 import webhooks_pb2 as wpb
from partnerlytics.webhooks.v1 import webhooks_pb2_grpc as wpb_grpc
from sqlalchemy import text

from platform_core import accounts
from platform_core.paging import timestamp_of
from platform_core.resource_envelope import resource_envelope
from platform_core.server import create_server
from services.voucher import ingest as voucher_ingest
from services.webhooks import urls
from services.webhooks.config import WebhookSettings
from services.webhooks.delivery import DeliveryWorker, retry_after, retry_delay
from services.webhooks.servicer import service_specs
from tests.support import factories as f
from tests.support import voucher_data as vd
from tests.support.webhook_receiver import Received, running_receiver, verify

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
SETTINGS = WebhookSettings(workers=0, timeout_seconds=5.0, retry_base_seconds=0.005, retry_max_delay_seconds=0.02,
                           lease_seconds=30.0, poll_seconds=0.02, allow_private_urls=True)


@pytest.fixture
def receiver():
    with running_receiver() as made:
        yield made


@pytest_asyncio.fixture(scope="module")
async def webhooks_channel(deps):
    running = await create_server("127.0.0.1:0", deps, service_specs(deps, SETTINGS), resource_envelope)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield wpb_grpc.WebhookServiceStub(channel)
    await running.stop(1)


async def pending(deps, account_id) -> int:
    async with deps.reader() as conn:
        return (await conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE account_id = :a "
                                        "AND status = 'pending'"), {"a": account_id})).scalar_one()


async def drain(deps, account_id, worker: DeliveryWorker | None = None) -> None:
    """Runs the worker until the account has no pending delivery (a bounded number of
    claims, so that a delivery that never finishes fails the test)."""
    worker = worker or DeliveryWorker(deps.engine, SETTINGS)
    for _ in range(2000):
        if not await pending(deps, account_id):
            return
        if not await worker.run_once():
            await asyncio.sleep(0.01)  # a retry is not due yet
    raise AssertionError("deliveries still pending")


async def endpoint(stub, tenant, url: str, types=()) -> wpb.CreateWebhookEndpointResponse:
    return await stub.CreateWebhookEndpoint(wpb.CreateWebhookEndpointRequest(url=url, event_types=list(types)),
                                            metadata=tenant.md())


def assert_signed(received: Received, secret: str) -> None:
    assert verify(received.headers["partnerlytics-signature"], received.body, secret, time.time())
    assert not verify(received.headers["partnerlytics-signature"], received.body + b" ", secret, time.time())
    assert not verify(received.headers["partnerlytics-signature"], received.body, "whsec_wrong", time.time())


# ---------------------------------------------------------------------------------------
# Every event kind, after a committed write


async def test_each_event_kind_is_delivered_signed_after_its_write_commits(
        deps, make_tenant, receiver, webhooks_channel, channel, affiliate_channel, voucher_channel):
    tenant = await make_tenant()
    created = await endpoint(webhooks_channel, tenant, receiver.url("/all"))
    assert created.secret.startswith("whsec_") and created.endpoint.enabled
    md = tenant.md()

    # An instance purchase: the instance, then its first order.
    istub = ipb_grpc.InstanceIngestionServiceStub(channel)
    instance = f.instance(NOW - dt.timedelta(hours=1))
    order = f.order(instance.id, instance.insider_id, NOW - dt.timedelta(minutes=30), total="42.50")
    await istub.BatchCreateInstances(ipb.BatchCreateInstancesRequest(instances=[instance]), metadata=md)
    await istub.BatchCreateOrders(ipb.BatchCreateOrdersRequest(orders=[order]), metadata=md)
    # An affiliate conversion.
    astub = apb_grpc.AffiliateIngestionServiceStub(affiliate_channel)
    await astub.UpsertAffiliates(apb.UpsertAffiliatesRequest(affiliates=[apb.AffiliateRecord(id="aff_w", name="W")]),
                                 metadata=md)
    await astub.CreateTrackingCodes(apb.CreateTrackingCodesRequest(
        tracking_codes=[apb.TrackingCodeRecord(code="AFF-W-1", affiliate_id="aff_w")]), metadata=md)
    conversion = apb.ConversionRecord(order_id="ord_w1", tracking_code="AFF-W-1", order_total="100.00",
                                      commission="10.00", currency="USD", occurred_at=timestamp_of(NOW))
    await astub.RecordConversions(apb.RecordConversionsRequest(conversions=[conversion]), metadata=md)
    # Voucher redemptions.
    data = vd.build(NOW, seed=5, days=1)
    vingest = vd.VoucherIngest(voucher_channel, tenant.test_key)
    await vingest.references(data)
    redemptions = data.redemptions[:3]
    await vingest.stub.BatchCreateRedemptions(vpb.BatchCreateRedemptionsRequest(redemptions=redemptions),
                                              metadata=vingest.md)
    # A resend records nothing and sends nothing.
    await astub.RecordConversions(apb.RecordConversionsRequest(conversions=[conversion]), metadata=md)

    await drain(deps, tenant.account_id)
    events = [r.event() for r in receiver.at("/all")]
    by_type: dict[str, list[wpb.Event]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    assert sorted(by_type) == ["affiliate.conversion.recorded", "instance.purchased", "voucher.redeemed"]
    [purchase] = by_type["instance.purchased"]
    assert (purchase.data.instance_purchase.instance_id, purchase.data.instance_purchase.order_id,
            purchase.data.instance_purchase.total, purchase.data.instance_purchase.campaign_id) == \
        (instance.id, order.id, "42.50", instance.campaign_id)
    [recorded] = by_type["affiliate.conversion.recorded"]
    assert (recorded.data.affiliate_conversion.order_id, recorded.data.affiliate_conversion.commission) == \
        ("ord_w1", "10.00")
    assert recorded.data.affiliate_conversion.occurred_at.ToDatetime(tzinfo=dt.timezone.utc) == NOW
    assert sorted(e.data.voucher_redemption.id for e in by_type["voucher.redeemed"]) == sorted(r.id for r in redemptions)
    assert len({e.id for e in events}) == len(events) == 5
    for event, got in zip(events, receiver.at("/all"), strict=True):
        assert event.api_version == "2026-12-01" and not event.livemode and event.id.startswith("evt_")
        assert got.headers["partnerlytics-event-id"] == event.id
        assert_signed(got, created.secret)
    async with deps.reader() as conn:
        log = (await conn.execute(text(
            "SELECT status, attempts, response_code, latency_ms IS NOT NULL FROM webhook_deliveries "
            "WHERE account_id = :a"), {"a": tenant.account_id})).all()
    assert [tuple(row) for row in log] == [("succeeded", 1, 200, True)] * 5


async def test_a_rolled_back_write_sends_nothing(deps, make_tenant, receiver, webhooks_channel, voucher_channel):
    tenant = await make_tenant()
    await endpoint(webhooks_channel, tenant, receiver.url("/rollback"))
    data = vd.build(NOW, seed=9, days=1)
    await vd.VoucherIngest(voucher_channel, tenant.test_key).references(data)
    who = accounts.Principal(account_id=tenant.account_id, mode="test", key_id=uuid.uuid4(),
                             scopes=frozenset(accounts.SCOPES))

    class Crash(Exception):
        pass

    async with deps.sessions() as session:
        async def crash():  # the process dies where the commit would be
            raise Crash

        session.commit = crash
        with pytest.raises(Crash):
            await voucher_ingest.create_redemptions(session, who, data.redemptions[:2], "redemptions")
        # Inside the transaction the events were written...
        assert (await session.execute(text("SELECT count(*) FROM webhook_events WHERE account_id = :a"),
                                      {"a": tenant.account_id})).scalar_one() == 2
    # ...and left with it.
    async with deps.reader() as conn:
        for table in ("webhook_events", "webhook_deliveries", "voucher_redemptions"):
            assert (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),
                                       {"a": tenant.account_id})).scalar_one() == 0, table
    worker = DeliveryWorker(deps.engine, SETTINGS)
    while await worker.run_once():
        pass
    assert receiver.at("/rollback") == []


# ---------------------------------------------------------------------------------------
# Retries, 410, the test event, rotation


async def test_a_500_then_200_delivers_the_same_event_twice_and_a_410_disables(
        deps, make_tenant, receiver, webhooks_channel):
    tenant = await make_tenant()
    flaky = await endpoint(webhooks_channel, tenant, receiver.url("/flaky"))
    gone = await endpoint(webhooks_channel, tenant, receiver.url("/gone"))
    receiver.scripts["/flaky"] = [500, 503]
    receiver.scripts["/gone"] = [410]
    sent = await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=flaky.endpoint.id),
                                                       metadata=tenant.md())
    await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=gone.endpoint.id),
                                                metadata=tenant.md())
    await drain(deps, tenant.account_id)
    attempts = receiver.at("/flaky")
    assert [r.event().id for r in attempts] == [sent.event_id] * 3
    assert len({r.body for r in attempts}) == 1  # a retry posts the same bytes
    assert attempts[0].event().type == "webhook.test"
    assert attempts[0].event().data.test.endpoint_id == flaky.endpoint.id
    assert len(receiver.at("/gone")) == 1
    listed = await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=tenant.md())
    state = {e.id: (e.enabled, e.disabled_reason) for e in listed.endpoints}
    assert state == {flaky.endpoint.id: (True, ""), gone.endpoint.id: (False, "gone")}
    async with deps.reader() as conn:
        rows = dict((await conn.execute(text(
            "SELECT endpoint_id, status || '/' || attempts || '/' || response_code FROM webhook_deliveries "
            "WHERE account_id = :a"), {"a": tenant.account_id})).all())
    assert rows == {flaky.endpoint.id: "succeeded/3/200", gone.endpoint.id: "failed/1/410"}
    log = await webhooks_channel.ListWebhookDeliveries(
        wpb.ListWebhookDeliveriesRequest(endpoint_id=flaky.endpoint.id), metadata=tenant.md())
    [entry] = log.deliveries
    assert (entry.event_id, entry.event_type, entry.status, entry.attempts, entry.response_code, entry.last_error) == \
        (sent.event_id, "webhook.test", "succeeded", 3, 200, "")
    assert entry.HasField("last_attempt_at")
    # A replay of the event sends the same id and bytes again.
    replayed = await webhooks_channel.ReplayWebhookEvents(
        wpb.ReplayWebhookEventsRequest(endpoint_id=flaky.endpoint.id, event_id=sent.event_id), metadata=tenant.md())
    assert replayed.queued == 1
    await drain(deps, tenant.account_id)
    again = receiver.at("/flaky")
    assert len(again) == 4 and again[-1].body == attempts[0].body
    for request, code in (
            (wpb.ReplayWebhookEventsRequest(endpoint_id=flaky.endpoint.id, event_id="evt_missing"),
             grpc.StatusCode.INVALID_ARGUMENT),  # a bad field of the body: the endpoint exists
            (wpb.ReplayWebhookEventsRequest(endpoint_id="we_missing", event_id=sent.event_id),
             grpc.StatusCode.NOT_FOUND)):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await webhooks_channel.ReplayWebhookEvents(request, metadata=tenant.md())
        assert missing.value.code() == code
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await webhooks_channel.ReplayWebhookEvents(wpb.ReplayWebhookEventsRequest(endpoint_id=flaky.endpoint.id),
                                                   metadata=tenant.md())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A disabled endpoint receives nothing more.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=gone.endpoint.id),
                                                    metadata=tenant.md())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_test_event_reaches_an_endpoint_that_subscribes_to_a_list_of_types(
        deps, make_tenant, receiver, webhooks_channel):
    tenant = await make_tenant()
    listed = await endpoint(webhooks_channel, tenant, receiver.url("/listed"), types=["voucher.redeemed"])
    other = await endpoint(webhooks_channel, tenant, receiver.url("/other"))
    sent = await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=listed.endpoint.id),
                                                       metadata=tenant.md())
    await drain(deps, tenant.account_id)
    assert [r.event().id for r in receiver.at("/listed")] == [sent.event_id]
    assert receiver.at("/other") == []  # addressed to the one endpoint named
    assert other.endpoint.id != listed.endpoint.id


async def test_after_a_rotation_both_secrets_verify_until_the_old_one_expires(
        deps, make_tenant, receiver, webhooks_channel):
    tenant = await make_tenant()
    created = await endpoint(webhooks_channel, tenant, receiver.url("/rotate"))
    rotated = await webhooks_channel.RotateWebhookEndpointSecret(
        wpb.RotateWebhookEndpointSecretRequest(endpoint_id=created.endpoint.id), metadata=tenant.md())
    assert rotated.secret != created.secret
    await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=created.endpoint.id),
                                                metadata=tenant.md())
    await drain(deps, tenant.account_id)
    [got] = receiver.at("/rotate")
    assert_signed(got, rotated.secret)
    assert_signed(got, created.secret)
    async with deps.engine.begin() as conn:  # the old secret's window ends
        await conn.execute(text("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 s' "
                                "WHERE account_id = :a"), {"a": tenant.account_id})
    await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=created.endpoint.id),
                                                metadata=tenant.md())
    await drain(deps, tenant.account_id)
    latest = receiver.at("/rotate")[-1]
    assert_signed(latest, rotated.secret)
    assert not verify(latest.headers["partnerlytics-signature"], latest.body, created.secret, time.time())
    # A replay of a time range: both events again, once each.
    replayed = await webhooks_channel.ReplayWebhookEvents(wpb.ReplayWebhookEventsRequest(
        endpoint_id=created.endpoint.id, start=(NOW - dt.timedelta(hours=1)).isoformat(),
        end=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat()), metadata=tenant.md())
    assert replayed.queued == 2
    await drain(deps, tenant.account_id)
    ids = [r.event().id for r in receiver.at("/rotate")]
    assert len(ids) == 4 and sorted(ids[2:]) == sorted(ids[:2])


def spawn_worker(env: dict[str, str], log: pathlib.Path) -> subprocess.Popen:
    """`python -m services.webhooks.worker`, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "services.webhooks.worker"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


async def test_a_standalone_worker_killed_mid_send_leaves_the_event_to_another_worker(
        deps, make_tenant, receiver, webhooks_channel, database_url, tmp_path):
    tenant = await make_tenant()
    created = await endpoint(webhooks_channel, tenant, receiver.url("/killed"))
    arrived, release = receiver.hold_first("/killed")
    root = pathlib.Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "DATABASE_URL": database_url, "WEBHOOK_ALLOW_PRIVATE_URLS": "1", "WEBHOOK_WORKERS": "1",
           "WEBHOOK_LEASE_SECONDS": "1", "WEBHOOK_POLL_SECONDS": "0.05",
           "PYTHONPATH": os.pathsep.join([str(root), str(root / "gen")])}
    worker = spawn_worker(env, tmp_path / "worker.log")
    try:
        sent = await webhooks_channel.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=created.endpoint.id),
                                                           metadata=tenant.md())
        assert await asyncio.to_thread(arrived.wait, 60), (tmp_path / "worker.log").read_text()
        worker.send_signal(signal.SIGKILL)  # mid-send: the receiver has the request, no answer was read
        worker.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            worker.kill()
        worker.wait(30)
    release.set()
    await drain(deps, tenant.account_id)  # once the dead worker's lease ran out, this one delivers it
    got = receiver.at("/killed")
    assert [r.event().id for r in got] == [sent.event_id] * 2
    async with deps.reader() as conn:
        row = (await conn.execute(text("SELECT status, attempts FROM webhook_deliveries WHERE account_id = :a"),
                                  {"a": tenant.account_id})).one()
    assert tuple(row) == ("succeeded", 2)


# ---------------------------------------------------------------------------------------
# The endpoint API


async def test_endpoints_are_scoped_to_their_account_and_validated(deps, make_tenant, webhooks_channel):
    owner, other = await make_tenant(), await make_tenant()
    created = await endpoint(webhooks_channel, owner, "https://hooks.example.com/in", ["voucher.redeemed"])
    assert list(created.endpoint.event_types) == ["voucher.redeemed"]
    for call, request in (
        (webhooks_channel.UpdateWebhookEndpoint, wpb.UpdateWebhookEndpointRequest(endpoint_id=created.endpoint.id,
                                                                                  enabled=False)),
        (webhooks_channel.DeleteWebhookEndpoint, wpb.DeleteWebhookEndpointRequest(endpoint_id=created.endpoint.id)),
        (webhooks_channel.RotateWebhookEndpointSecret,
         wpb.RotateWebhookEndpointSecretRequest(endpoint_id=created.endpoint.id)),
        (webhooks_channel.SendTestWebhookEvent, wpb.SendTestWebhookEventRequest(endpoint_id=created.endpoint.id)),
        (webhooks_channel.ListWebhookDeliveries, wpb.ListWebhookDeliveriesRequest(endpoint_id=created.endpoint.id)),
        (webhooks_channel.ReplayWebhookEvents, wpb.ReplayWebhookEventsRequest(endpoint_id=created.endpoint.id,
                                                                              event_id="evt_nope")),
        (webhooks_channel.DeleteWebhookEndpoint, wpb.DeleteWebhookEndpointRequest(endpoint_id="we_nope")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(request, metadata=other.md())
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=other.md())
    assert list(listed.endpoints) == []
    live = await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(),
                                                       metadata=owner.md(owner.live_key))
    assert list(live.endpoints) == []  # the other mode's endpoints are not this one's
    listed = await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=owner.md())
    assert [e.id for e in listed.endpoints] == [created.endpoint.id]
    assert "secret" not in json_format.MessageToJson(listed)  # shown once, at creation
    for url, types in (("ftp://hooks.example.com/", ()), ("not a url", ()), ("http://user:pw@example.com/", ()),
                       ("https://hooks.example.com/", ("voucher.exploded",))):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await endpoint(webhooks_channel, owner, url, types)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(),
                                                    metadata=owner.md(owner.read_only_key))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    updated = await webhooks_channel.UpdateWebhookEndpoint(wpb.UpdateWebhookEndpointRequest(
        endpoint_id=created.endpoint.id, description="orders", replace_event_types=True), metadata=owner.md())
    assert (updated.endpoint.description, list(updated.endpoint.event_types)) == ("orders", [])
    await webhooks_channel.DeleteWebhookEndpoint(wpb.DeleteWebhookEndpointRequest(endpoint_id=created.endpoint.id),
                                                 metadata=owner.md())
    listed = await webhooks_channel.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=owner.md())
    assert list(listed.endpoints) == []


async def test_private_receivers_are_refused_unless_the_operator_allows_them():
    for url in ("http://127.0.0.1:9/", "http://localhost/", "http://10.1.2.3/", "http://169.254.169.254/latest",
                "http://[::1]/", "http://[::ffff:192.168.0.1]/", "http://0.0.0.0/", "http://[fe80::1]/"):
        with pytest.raises(urls.RefusedUrl):
            await urls.check(url, allow_private=False)
        await urls.check(url, allow_private=True)
    await urls.check("https://93.184.215.14/hook", allow_private=False)  # a public address, no DNS needed
    for url in ("ftp://example.com/", "https://", "javascript:alert(1)"):
        with pytest.raises(urls.RefusedUrl):
            await urls.check(url, allow_private=True)


def test_the_retry_schedule_backs_off_with_jitter_within_its_cap_and_honours_retry_after():
    import random

    settings = WebhookSettings(retry_base_seconds=30.0, retry_max_delay_seconds=6 * 3600.0)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 30), (2, 60), (5, 480), (12, 6 * 3600), (60, 6 * 3600)):
        delay = retry_delay(attempt, settings, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert retry_after("120", 0.0) == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", dt.datetime(2015, 10, 21, 7, 27, tzinfo=dt.timezone.utc)
                       .timestamp()) == 60.0
    assert retry_after("soon", 0.0) is None and retry_after(None, 0.0) is None


# ---------------------------------------------------------------------------------------
# Rate limits (docs/webhooks.md, "Limits")


@contextlib.asynccontextmanager
async def webhooks_server_with(database_url: str, **limits: tuple[int, int]):
    """An in-process webhooks server whose buckets are `limits` over the defaults."""
    from platform_core.config import DEFAULT_RATE_LIMITS
    from platform_core.server import Deps
    from tests.conftest import make_settings

    deps = Deps.from_settings(make_settings(database_url, rate_limits={**DEFAULT_RATE_LIMITS, **limits}))
    running = await create_server("127.0.0.1:0", deps, service_specs(deps, SETTINGS), resource_envelope)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield wpb_grpc.WebhookServiceStub(channel)
    finally:
        await running.stop(0)
        await deps.engine.dispose()


def test_the_webhook_buckets_have_the_documented_defaults():
    """docs/webhooks.md's limits, and docs/architecture.md's table of every bucket, are the
    defaults in force."""
    from platform_core.config import DEFAULT_RATE_LIMITS

    assert DEFAULT_RATE_LIMITS["webhooks.read"] == (600, 60)
    assert DEFAULT_RATE_LIMITS["webhooks.write"] == (60, 60)
    docs = pathlib.Path(__file__).resolve().parents[2] / "docs"
    webhooks_doc = (docs / "webhooks.md").read_text()
    assert "| `webhooks.read` |" in webhooks_doc and "| 600 per minute |" in webhooks_doc
    assert "| 60 per minute |" in webhooks_doc
    table = dict(line.strip("| ").split(" | ") for line in (docs / "architecture.md").read_text().splitlines()
                 if line.startswith("| `") and line.endswith(("minute |", "hour |")))
    unit = {60: "minute", 3600: "hour"}
    assert table == {f"`{bucket}`": f"{count:,} per {unit[window]}"
                     for bucket, (count, window) in DEFAULT_RATE_LIMITS.items()}


async def test_reads_and_writes_past_their_limits_are_429_in_the_envelope(database_url, make_tenant, receiver):
    """Every write counts against `webhooks.write`, every read against `webhooks.read`, per
    account: the call past a limit is RESOURCE_EXHAUSTED (429, RATE_LIMITED) with the
    X-RateLimit-* trailers and Retry-After, and the other bucket still admits calls."""
    import json

    tenant, other = await make_tenant(), await make_tenant()
    async with webhooks_server_with(database_url, **{"webhooks.read": (3, 60), "webhooks.write": (2, 60)}) as stub:
        created = await endpoint(stub, tenant, receiver.url("/limited"))
        call = stub.UpdateWebhookEndpoint(wpb.UpdateWebhookEndpointRequest(endpoint_id=created.endpoint.id,
                                                                           description="second"), metadata=tenant.md())
        assert (await call).endpoint.description == "second"
        headers = dict(await call.initial_metadata())
        assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("2", "0")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendTestWebhookEvent(wpb.SendTestWebhookEventRequest(endpoint_id=created.endpoint.id),
                                            metadata=tenant.md())
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(refused.value.trailing_metadata())
        assert trailers["x-envelope-status"] == "429"
        assert json.loads(trailers["x-envelope"])["error"]["code"] == "RATE_LIMITED"
        assert (trailers["x-ratelimit-limit"], trailers["x-ratelimit-remaining"]) == ("2", "0")
        assert int(trailers["retry-after"]) > 0
        # Reads have their own bucket, untouched by the writes.
        get = wpb.GetWebhookEndpointRequest(endpoint_id=created.endpoint.id)
        assert (await stub.GetWebhookEndpoint(get, metadata=tenant.md())).endpoint.description == "second"
        await stub.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=tenant.md())
        await stub.ListWebhookDeliveries(wpb.ListWebhookDeliveriesRequest(endpoint_id=created.endpoint.id),
                                         metadata=tenant.md())
        with pytest.raises(grpc.aio.AioRpcError) as read_refused:
            await stub.GetWebhookEndpoint(get, metadata=tenant.md())
        assert read_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(read_refused.value.trailing_metadata())["x-ratelimit-limit"] == "3"
        # Per account: another account's calls still pass.
        await stub.ListWebhookEndpoints(wpb.ListWebhookEndpointsRequest(), metadata=other.md())
        await endpoint(stub, other, receiver.url("/other"))


async def test_get_reads_only_the_callers_endpoint_and_an_impossible_id_is_not_found(
        make_tenant, receiver, webhooks_channel):
    """Over gRPC (no gateway in front), ids that cannot be one, a NUL included (PostgreSQL
    would refuse it in text), are the same NOT_FOUND as another account's endpoint."""
    tenant, other = await make_tenant(), await make_tenant()
    created = await endpoint(webhooks_channel, tenant, receiver.url("/get"), ["voucher.redeemed"])
    got = await webhooks_channel.GetWebhookEndpoint(
        wpb.GetWebhookEndpointRequest(endpoint_id=created.endpoint.id), metadata=tenant.md())
    assert got.endpoint == created.endpoint and "secret" not in got.DESCRIPTOR.fields_by_name
    for endpoint_id, who in ((created.endpoint.id, other), ("we_\x00", tenant), ("", tenant), ("x" * 100, tenant)):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await webhooks_channel.GetWebhookEndpoint(wpb.GetWebhookEndpointRequest(endpoint_id=endpoint_id),
                                                      metadata=who.md())
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND, endpoint_id
        assert dict(missing.value.trailing_metadata())["x-envelope-status"] == "404"
