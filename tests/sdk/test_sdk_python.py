"""The Python SDK (clients/python) against a live stack: every method, typed models and
errors, retries after `Retry-After`, resent batches, and its coverage of docs/openapi.json.

The data is written through the SDK itself: the gRPC client ingests instances, vouchers,
campaigns and tenants (the gRPC-only APIs), the REST client the affiliate records."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import pathlib
import re
import secrets
import uuid

import grpc
import pytest
from partnerlytics_client import (
    OPERATION_METHODS,
    AffiliateApiError,
    AsyncClient,
    Client,
    LandingApiError,
    PartnerApiError,
    RetryPolicy,
    VoucherApiError,
    models,
)
from partnerlytics_client.names import PARAMETER_ALIASES
from partnerlytics_client.grpc_client import GrpcClient, GrpcError

from tests.conftest import SDK_SMALL_LIMIT
from tests.support.sdk_seed import NOW, TODAY, Seeded, seed

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def spec_operations() -> dict[str, dict]:
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return {op["operationId"]: op for ops in spec["paths"].values() for op in ops.values()
            if isinstance(op, dict) and "operationId" in op}


def test_every_operation_of_the_spec_has_a_method_with_its_parameters():
    """A proto change (make proto -> docs/openapi.json) that the SDK does not follow fails here."""
    operations = spec_operations()
    assert sorted(set(operations) - set(OPERATION_METHODS)) == [], "operations without an SDK method"
    assert sorted(set(OPERATION_METHODS) - set(operations)) == [], "SDK methods of no operation"
    for operation_id, op in operations.items():
        for client in (Client, AsyncClient):
            method = getattr(client, OPERATION_METHODS[operation_id])
            arguments = set(inspect.signature(method).parameters) - {"self"}
            wanted = {PARAMETER_ALIASES.get(p["name"], p["name"]) for p in op.get("parameters", [])}
            assert wanted <= arguments, (operation_id, sorted(wanted - arguments))


def test_the_grpc_client_serves_every_service_of_the_protos():
    """Every service of gen/partnerlytics.pb (make proto) is an attribute of GrpcClient."""
    from google.protobuf import descriptor_pb2
    from partnerlytics_client.grpc_client import SERVICES

    files = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "gen" / "partnerlytics.pb").read_bytes()).file
    services = {f"{f.package}.{s.name}" for f in files if f.package.startswith("partnerlytics.") for s in f.service}
    served = {f"{module.rsplit('.', 1)[0]}.{name}" for module, name in SERVICES.values()}
    assert services == served


def test_the_generated_models_are_fresh():
    """_generated.py is tools/gensdk.py's output of docs/openapi.json, _async_types.py of client.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gensdk", ROOT / "tools" / "gensdk.py")
    gensdk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gensdk)
    for path, fresh in gensdk.outputs().items():
        assert path.read_text() == fresh, f"{path.name} is stale: run `make sdk`"


@pytest.fixture(scope="module")
def seeded(sdk_stack) -> Seeded:
    """An account of this module's with a little of every family."""
    return seed(sdk_stack)


def test_sync_client_reads_every_family_into_typed_models(sdk_stack, seeded):
    with Client(seeded.key, base_url=sdk_stack.base_url) as api:
        listed = api.list_instance_analytics(time_frame="day", limit=2)
        assert isinstance(listed, models.ListInstanceAnalyticsResponse)
        assert [type(r) for r in listed.data] == [models.InstanceSummary] * 2
        assert isinstance(listed.data[0].timestamp, dt.datetime) and listed.data[0].timestamp.tzinfo
        assert (listed.pagination.total, listed.pagination.has_next, listed.pagination.total_pages) == (3, True, 2)
        assert UUID_RE.match(listed.meta.request_id)
        # The iterator walks both pages: every instance once, newest first.
        assert [r.instance_id for r in api.iter_instance_analytics(time_frame="day", limit=2)] == seeded.instance_ids
        purchased = api.list_instance_analytics(is_purchased=True, time_frame="custom",
                                                start_date=TODAY - dt.timedelta(days=1), end_date=TODAY)
        assert [r.instance_id for r in purchased.data] == seeded.instance_ids[:1]

        details = api.get_instance_details(seeded.instance_ids[:2], events="first")
        assert [d.instance_id for d in details.data] == seeded.instance_ids[:2]
        assert isinstance(details.data[0].events[0], models.Event) and details.data[0].insider_rewards[0].amount == 2.5

        campaign = api.get_campaign_analytics(seeded.campaign_id, time_frame="per_day", limit=2)
        assert isinstance(campaign.data.summary, models.CampaignSummary)
        assert (campaign.data.summary.total_instances, campaign.data.summary.purchase_instances) == (3, 1)
        assert campaign.data.summary.total_revenue == 29.99
        assert sorted(i.instance_id for i in api.iter_campaign_instances(
            seeded.campaign_id, time_frame="custom_range", start_date=TODAY - dt.timedelta(days=1), end_date=TODAY,
            limit=1)) == sorted(seeded.instance_ids)

        stats = api.get_affiliate_analytics("stats", metrics=["total_clicks", "total_conversions"],
                                            from_date=TODAY - dt.timedelta(days=1), to_date=TODAY)
        assert isinstance(stats.data.stats, models.Stats)
        assert (stats.data.stats.total_clicks, stats.data.stats.total_conversions) == (3, 1)
        assert stats.data.filters.from_ == (TODAY - dt.timedelta(days=1)).isoformat()
        for section in ("trends", "charts", "tables"):
            assert getattr(api.get_affiliate_analytics(section, top_limit=3 if section == "tables" else None).data,
                           section) is not None
        clicks = list(api.iter_affiliate_feed("recent_clicks", per_page=2))
        assert [type(c) for c in clicks] == [models.Click] * 3 and {c.tracking_code for c in clicks} == {seeded.tracking_code}
        conversions = list(api.iter_affiliate_feed("recent_conversions"))
        assert [(c.order_total, c.currency) for c in conversions] == [("49.90", "EUR")]
        assert len(list(api.iter_affiliate_feed("recent_events", per_page=1))) == 3

        performance = api.get_voucher_performance(seeded.voucher_id, include_details=True)
        assert (performance.code, performance.performance.total_uses, performance.details.validations) == (
            seeded.voucher_code, 1, 1)
        trends = api.get_voucher_trends(seeded.voucher_id, interval="week", metrics=["uses", "orders"])
        assert sum(p.uses for p in trends.trends) == 1 and isinstance(trends.summary, models.TrendSummary)
        customers = api.get_voucher_customers(seeded.voucher_id, start_date=TODAY - dt.timedelta(days=59))
        assert customers.customer_insights.total_customers == 1

        assert api.track_event(seeded.tenant_id, "pageview").success is True
        landing = api.get_landing_analytics(seeded.tenant_id)
        assert isinstance(landing.data, models.Analytics) and len(landing.data.last_7_days) == 7
        assert isinstance(api.get_landing_today(seeded.tenant_id), models.GetTodayAnalyticsResponse)
        assert "data-tenant" in api.get_tracker_js()
        assert set(api.get_openapi_document()["paths"]) == {p for _, p, *_ in models.OPERATIONS.values()}


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_export_round_trip(sdk_stack, seeded, fmt):
    with Client(seeded.key, base_url=sdk_stack.base_url) as api:
        started = api.create_export([seeded.voucher_id], ["uses", "discount"], format=fmt,
                                    start=TODAY - dt.timedelta(days=30), end=TODAY)
        assert (started.status, started.format, started.voucher_count) == ("processing", fmt, 1)
        done = api.wait_for_export(started.export_id, interval=0.2)
        assert done.status == "completed" and done.record_count == 31 and isinstance(done.expires_at, dt.datetime)
        file = api.download_export(started.export_id)
        assert file.filename and file.filename.endswith(f".{fmt}")
        if fmt == "csv":
            assert file.content.decode("utf-8-sig").splitlines()[0] == "voucher_id,code,date,uses,discount"
        elif fmt == "json":
            assert json.loads(file.content)["records"][0]["voucher_id"] == seeded.voucher_id
        else:
            assert file.content[:2] == b"PK" and "spreadsheetml" in file.content_type


async def test_async_client_calls_every_method(sdk_stack, seeded):
    """The same methods, awaited; iterators with `async for`."""
    async with AsyncClient(seeded.key, base_url=sdk_stack.base_url) as api:
        listed = await api.list_instance_analytics(limit=1)
        assert listed.pagination.total == 3
        assert [r.instance_id async for r in api.iter_instance_analytics(limit=2)] == seeded.instance_ids
        assert len((await api.get_instance_details(seeded.instance_ids)).data) == 3
        assert (await api.get_campaign_analytics(seeded.campaign_id, time_frame="per_month")).data.summary.total_instances == 3
        assert len([i async for i in api.iter_campaign_instances(seeded.campaign_id, time_frame="per_day", limit=2)]) == 3
        assert (await api.get_affiliate_analytics("stats")).data.stats.total_clicks == 3
        assert len([c async for c in api.iter_affiliate_feed("recent_clicks", per_page=2)]) == 3
        results = await asyncio.gather(api.get_voucher_performance(seeded.voucher_id),
                                       api.get_voucher_trends(seeded.voucher_id),
                                       api.get_landing_analytics(seeded.tenant_id),
                                       api.get_landing_today(seeded.tenant_id))
        assert [type(r) for r in results] == [models.GetVoucherPerformanceResponse, models.GetVoucherTrendsResponse,
                                              models.GetAnalyticsResponse, models.GetTodayAnalyticsResponse]
        started = await api.create_export([seeded.voucher_id], ["uses"])
        assert (await api.get_export(started.export_id)).export_id == started.export_id
        await api.wait_for_export(started.export_id, interval=0.2)
        assert (await api.download_export(started.export_id)).content.decode("utf-8-sig").startswith("voucher_id")
        assert (await api.track_event(seeded.tenant_id, "click_whatsapp", {"button_location": "hero"})).success
        tag = secrets.token_hex(4)
        for call in (api.upsert_affiliates([{"id": f"a_{tag}", "name": "Async"}]),
                     api.create_tracking_codes([{"code": f"C-{tag}", "affiliate_id": f"a_{tag}"}]),
                     api.upsert_products([{"product_id": f"p_{tag}", "name": "Async"}]),
                     api.record_events([{"type": "pageview", "session_id": tag, "page_url": "https://x.example/",
                                         "occurred_at": NOW}]),
                     api.record_conversions([{"order_id": f"o_{tag}", "tracking_code": f"C-{tag}",
                                              "order_total": "1.00", "commission": "0.10", "currency": "EUR",
                                              "occurred_at": NOW}])):
            assert (await call).data.created_count == 1
        assert "data-tenant" in await api.get_tracker_js()
        assert "openapi" in await api.get_openapi_document()
        session = (await api.create_session()).data
        async with AsyncClient(session.token, base_url=sdk_stack.base_url) as reader:
            assert (await reader.list_instance_analytics(limit=1)).pagination.total == 3
            assert (await reader.revoke_session(session.id)).id == session.id


def test_an_error_of_each_family_is_its_typed_exception(sdk_stack, seeded):
    with Client(seeded.key, base_url=sdk_stack.base_url) as api:
        with pytest.raises(PartnerApiError) as instance:
            api.list_instance_analytics(limit=0, page=0)
        error = instance.value
        assert (error.status, error.error) == (400, "Bad Request")
        assert {f.field for f in error.fields} == {"limit", "page"} and all(f.code and f.message for f in error.fields)
        assert UUID_RE.match(error.request_id) and error.envelope.meta.request_id == error.request_id

        with pytest.raises(PartnerApiError) as campaign:
            api.get_campaign_analytics(str(uuid.uuid4()), time_frame="per_day")
        assert campaign.value.status == 404 and campaign.value.message

        with pytest.raises(AffiliateApiError) as affiliate:
            api.get_affiliate_analytics("stats", metrics=["clicks"])
        assert (affiliate.value.status, affiliate.value.code) == (422, "VALIDATION_ERROR")
        assert "metrics" in affiliate.value.details and UUID_RE.match(affiliate.value.request_id)

        with pytest.raises(VoucherApiError) as voucher:
            api.get_voucher_performance(seeded.voucher_id, start_date=dt.date(2024, 1, 1), end_date=dt.date(2024, 4, 29))
        assert (voucher.value.status, voucher.value.code) == (400, "INVALID_TIME_PERIOD")
        assert voucher.value.details["max_days"] == 90 and UUID_RE.match(voucher.value.request_id)

        with pytest.raises(LandingApiError) as landing:
            api.get_landing_analytics(seeded.tenant_id + 10_000)
        assert (landing.value.status, landing.value.code) == (404, "TENANT_NOT_FOUND")
        assert landing.value.request_id == landing.value.envelope.request_id

    with Client(seeded.read_only_key, base_url=sdk_stack.base_url) as api, pytest.raises(AffiliateApiError) as denied:
        api.get_affiliate_analytics("stats")
    assert (denied.value.status, denied.value.code) == (403, "FORBIDDEN")


def test_grpc_client_takes_typed_arguments_and_raises_rich_errors(sdk_stack, seeded):
    with grpc.insecure_channel(sdk_stack.grpc_target("instance")) as channel:
        api = GrpcClient({"instance_analytics": channel}, seeded.key).instance_analytics
        page = api.list_instance_analytics(time_frame="custom", start_date=TODAY - dt.timedelta(days=1), end_date=TODAY,
                                           is_purchased=False, limit=1, page=2)
        assert page.pagination.total == 2 and len(page.data) == 1
        with pytest.raises(GrpcError) as error:
            api.list_instance_analytics(limit=500)
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [field for field, _ in error.value.field_violations] == ["limit"] and UUID_RE.match(error.value.request_id)


def test_grpc_client_calls_a_method_of_every_service(sdk_stack, seeded):
    """One RPC of each service the other tests do not read, with typed arguments."""
    families = {"instance": ["instance_analytics", "sessions"], "campaign": ["campaign_analytics", "campaigns"],
                "affiliate": ["affiliate_analytics", "affiliate_ingestion"], "voucher": ["voucher_analytics"],
                "landing": ["landing_analytics", "landing_tenants"]}
    channels = {family: grpc.insecure_channel(sdk_stack.grpc_target(family)) for family in families}
    try:
        api = GrpcClient({attr: channels[family] for family, attrs in families.items() for attr in attrs}, seeded.key)
        summary = api.campaign_analytics.get_campaign_analytics(campaign_id=seeded.campaign_id, time_frame="per_day",
                                                                is_purchase=True)
        assert (summary.data.summary.total_instances, len(summary.data.instances)) == (3, 1)
        assert [c.id for c in api.campaigns.list_campaigns(page=1, page_size=10).campaigns] == [seeded.campaign_id]
        stats = api.affiliate_analytics.get_affiliate_analytics(section="stats", metrics=["total_clicks"],
                                                                to=TODAY)
        assert stats.data.stats.total_clicks >= 3
        ingested = api.affiliate_ingestion.upsert_products(products=[{"product_id": "grpc_p", "name": "gRPC"}])
        assert ingested.data.created_count == 1
        started = api.voucher_analytics.create_export(voucher_ids=[seeded.voucher_id], metrics=["uses"], format="csv")
        with Client(seeded.key, base_url=sdk_stack.base_url) as rest:
            rest.wait_for_export(started.export_id, interval=0.2)
        chunks = api.voucher_analytics.download_export(export_id=started.export_id)
        assert b"".join(c.data for c in chunks).decode("utf-8-sig").startswith("voucher_id,code,date,uses")
        assert api.landing_analytics.track_event(tenant_id=seeded.tenant_id, event_type="qr_scan").success
        assert len(api.landing_analytics.get_analytics(tenant_id=seeded.tenant_id).data.last_7_days) == 7
        assert api.landing_tenants.get_tenant(id=seeded.tenant_id).tenant.time_zone == "Europe/Berlin"
        session = api.sessions.create_session().data
        assert session.token.startswith("sess_test_") and session.scope == "analytics:read"
        assert api.sessions.revoke_session(session_id=session.id).id == session.id
        with pytest.raises(TypeError, match="has no field"):
            api.landing_tenants.get_tenant(tenant=1)
    finally:
        for channel in channels.values():
            channel.close()


async def test_async_grpc_client(sdk_stack, seeded):
    async with grpc.aio.insecure_channel(sdk_stack.grpc_target("voucher")) as channel:
        api = GrpcClient({"voucher_analytics": channel}, seeded.key).voucher_analytics
        answer = await api.get_voucher_performance(voucher_id=seeded.voucher_id, include_details=True)
        assert answer.performance.total_uses == 1 and answer.details.validations == 1
        with pytest.raises(GrpcError) as error:
            await api.get_voucher_performance(voucher_id="v_0000000000000000")
        assert (error.value.code, error.value.reason) == (grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")


# Calls until the small limit answers a 429 (count + 1 calls within its 1 s window do;
# more are allowed so that a slow machine, whose window slides meanwhile, still gets one).
MAX_CALLS_TO_A_429 = 20


def test_a_429_is_retried_after_retry_after(sdk_stack, seeded):
    assert SDK_SMALL_LIMIT[0] == "vouchers.customers"
    seen: list[tuple[int, str | None]] = []
    waits: list[float] = []
    with Client(seeded.key, base_url=sdk_stack.base_url) as api:
        api._http.event_hooks["response"].append(lambda r: seen.append((r.status_code, r.headers.get("retry-after"))))
        real_sleep = api._sleep
        api._sleep = lambda s: (waits.append(s), real_sleep(s))
        for _ in range(MAX_CALLS_TO_A_429):
            assert api.get_voucher_customers(seeded.voucher_id).voucher_id == seeded.voucher_id
            if waits:
                break
    refused = [after for status, after in seen if status == 429]
    assert refused, seen  # the limit was reached: a 429 was answered, waited for and retried
    assert waits == [float(after) for after in refused] and all(w >= 1 for w in waits)
    assert seen[-1][0] == 200


def test_no_retry_raises_the_429_with_its_fields(sdk_stack, seeded):
    impatient = Client(seeded.key, base_url=sdk_stack.base_url, retry=RetryPolicy(max_retries=0))
    with impatient as api, pytest.raises(VoucherApiError) as error:
        for _ in range(MAX_CALLS_TO_A_429):
            api.get_voucher_customers(seeded.voucher_id)
    assert (error.value.status, error.value.code) == (429, "RATE_LIMIT_EXCEEDED") and error.value.retry_after >= 1
    assert UUID_RE.match(error.value.request_id)


def test_a_resent_batch_is_stored_once(sdk_stack, seeded):
    """Ids are assigned once (EventRecord on creation, dicts in place): sending again is a no-op."""
    with Client(seeded.key, base_url=sdk_stack.base_url) as api:
        events = [{"type": "click", "tracking_code": seeded.tracking_code, "page_url": "https://shop.example.com/r",
                   "occurred_at": NOW} for _ in range(5)]
        first = api.ingest("RecordEvents", events, batch_size=2)
        assert all(UUID_RE.match(e["id"]) for e in events)
        again = api.ingest("RecordEvents", events, batch_size=3)
        assert (first.created_count, first.duplicate_count) == (5, 0)
        assert (again.created_count, again.duplicate_count) == (0, 5)
        records = [models.EventRecord(type="click", tracking_code=seeded.tracking_code, page_url="https://x.example/",
                                      occurred_at=NOW)]
        assert api.record_events(records).data.created_count == 1
        assert api.record_events(records).data.duplicate_count == 1
        clicks = api.get_affiliate_analytics("stats", metrics=["total_clicks"]).data.stats.total_clicks
    assert clicks == 3 + 5 + 1


def test_retry_after_reads_seconds_dates_and_the_body():
    import email.utils

    import httpx
    from partnerlytics_client._transport import retry_after

    assert retry_after(httpx.Response(429, headers={"retry-after": "7"})) == 7.0
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(httpx.Response(503, headers={"retry-after": later})) <= 30
    assert retry_after(httpx.Response(503, json={"success": False, "retry_after": 3})) == 3.0
    assert retry_after(httpx.Response(503, text="busy")) is None
    policy = RetryPolicy(max_retries=2, backoff=0.5, max_wait=10)
    assert [policy.wait(a, httpx.Response(503)) for a in range(3)] == [0.5, 1.0, None]
    assert policy.wait(0, httpx.Response(429, headers={"retry-after": "11"})) is None  # past max_wait: raised


def test_a_refused_connection_is_retried_then_raised():
    from partnerlytics_client import PartnerlyticsError

    from stack.run import free_port

    waits: list[float] = []
    with Client("sk_test_x", base_url=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(max_retries=2)) as api:
        api._sleep = waits.append
        with pytest.raises(PartnerlyticsError) as error:
            api.get_export("export_0000000000000000")
    assert waits == [0.5, 1.0] and error.value.status == 0 and "ConnectError" in str(error.value)
