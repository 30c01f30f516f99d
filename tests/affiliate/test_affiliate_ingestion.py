"""Affiliate ingestion over gRPC (a real server, a real PostgreSQL) and over HTTP through
the gateway; User-Agent and traffic-source classification; the per-token rate limit."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import grpc
import httpx
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text

from partnerlytics.affiliate.v1 import affiliate_analytics_pb2 as api
from partnerlytics.affiliate.v1 import affiliate_analytics_pb2_grpc as api_grpc
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as pb_grpc
from platform_core.paging import timestamp_of
from services.affiliate.classify import parse_user_agent, traffic_source
from tests.support import affiliate_data as ad

NOW = dt.datetime.now(dt.timezone.utc)
TODAY = NOW.date()
UA = ad.AGENTS[0][0]


@pytest_asyncio.fixture
async def tenant(make_tenant, affiliate_channel):
    tenant = await make_tenant()
    stub = pb_grpc.AffiliateIngestionServiceStub(affiliate_channel)
    md = tenant.md()
    await stub.UpsertAffiliates(pb.UpsertAffiliatesRequest(affiliates=[pb.AffiliateRecord(id="aff_jane", name="Jane")]),
                                metadata=md)
    await stub.CreateTrackingCodes(pb.CreateTrackingCodesRequest(
        tracking_codes=[pb.TrackingCodeRecord(code="AFF-JANE-001", affiliate_id="aff_jane")]), metadata=md)
    return tenant


def stubs(channel):
    return pb_grpc.AffiliateIngestionServiceStub(channel), api_grpc.AffiliateAnalyticsServiceStub(channel)


def click(**kw) -> pb.EventRecord:
    values = dict(id=str(uuid.uuid4()), type="click", occurred_at=timestamp_of(NOW - dt.timedelta(minutes=5)),
                  tracking_code="AFF-JANE-001", page_url="https://shop.example.com/p/1", user_agent=UA,
                  session_id="s1")
    values.update(kw)
    return pb.EventRecord(**values)


def bad_request(error: grpc.aio.AioRpcError) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            msg = error_details_pb2.BadRequest()
            detail.Unpack(msg)
            for v in msg.field_violations:
                out.setdefault(v.field, []).append(v.reason)
    return out


async def stats(analytics, tenant, **params) -> api.Stats:
    response = await analytics.GetAffiliateAnalytics(
        api.GetAffiliateAnalyticsRequest(section="stats", **params), metadata=tenant.md())
    return response.data.stats


async def test_retried_events_and_conversions_are_stored_and_counted_once(affiliate_channel, tenant, deps):
    ingest, analytics = stubs(affiliate_channel)
    events = [click(), click(), click(type="pageview", session_id="s9")]
    conversion = pb.ConversionRecord(order_id="ORD-1", tracking_code="AFF-JANE-001", order_total="149.99",
                                     commission="22.50", currency="USD", occurred_at=timestamp_of(NOW))
    first = await ingest.RecordEvents(pb.RecordEventsRequest(events=events), metadata=tenant.md())
    again = await ingest.RecordEvents(pb.RecordEventsRequest(events=events[:2] + [click()]), metadata=tenant.md())
    c1 = await ingest.RecordConversions(pb.RecordConversionsRequest(conversions=[conversion]), metadata=tenant.md())
    # The order id is the natural key: a retry with other values changes nothing.
    conversion.order_total = "1.00"
    c2 = await ingest.RecordConversions(pb.RecordConversionsRequest(conversions=[conversion]), metadata=tenant.md())
    assert (first.data.created_count, first.data.duplicate_count) == (3, 0)
    assert (again.data.created_count, again.data.duplicate_count) == (1, 2)
    assert (c1.data.created_count, c2.data.duplicate_count) == (1, 1)
    s = await stats(analytics, tenant)
    assert (s.total_clicks, s.total_pageviews, s.unique_visitors, s.total_conversions, s.total_revenue) == (
        3, 1, 1, 1, 149.99)


async def test_an_order_sent_again_at_another_time_is_the_same_conversion(affiliate_channel, tenant):
    """The order id is the conversion's key in every month: a re-send with a corrected time,
    in the same batch or a later one, is a duplicate, stored and counted once."""
    ingest, analytics = stubs(affiliate_channel)

    def conversion(at: dt.datetime) -> pb.ConversionRecord:
        return pb.ConversionRecord(order_id="ORD-T", tracking_code="AFF-JANE-001", order_total="10.00",
                                   commission="1.00", currency="USD", occurred_at=timestamp_of(at))

    both = await ingest.RecordConversions(pb.RecordConversionsRequest(
        conversions=[conversion(NOW), conversion(NOW - dt.timedelta(hours=1))]), metadata=tenant.md())
    later = await ingest.RecordConversions(pb.RecordConversionsRequest(
        conversions=[conversion(NOW - dt.timedelta(days=40))]), metadata=tenant.md())
    assert (both.data.created_count, both.data.duplicate_count) == (1, 1)
    assert (later.data.created_count, later.data.duplicate_count) == (0, 1)
    s = await stats(analytics, tenant)
    assert (s.total_conversions, s.total_revenue) == (1, 10.0)


async def test_the_same_id_twice_in_one_batch_is_one_event(affiliate_channel, tenant):
    ingest, analytics = stubs(affiliate_channel)
    event = click()
    result = await ingest.RecordEvents(pb.RecordEventsRequest(events=[event, event]), metadata=tenant.md())
    assert (result.data.created_count, result.data.duplicate_count) == (1, 1)
    assert (await stats(analytics, tenant)).total_clicks == 1


async def test_a_batch_with_a_bad_record_writes_nothing_and_names_every_field(affiliate_channel, tenant, deps):
    ingest, _ = stubs(affiliate_channel)
    events = [
        click(),
        click(id="nope", type="purchase", page_url="ftp://x", country="USA"),
        click(tracking_code="", occurred_at=timestamp_of(NOW + dt.timedelta(hours=1))),
        pb.EventRecord(id=str(uuid.uuid4()), type="pageview", occurred_at=timestamp_of(NOW)),
        pb.EventRecord(id=str(uuid.uuid4()), type="add_to_cart", occurred_at=timestamp_of(NOW)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.RecordEvents(pb.RecordEventsRequest(events=events), metadata=tenant.md())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request(caught.value) == {
        "events[1].id": ["invalid_uuid"], "events[1].type": ["invalid_enum"], "events[1].page_url": ["invalid_url"],
        "events[1].country": ["invalid_country"], "events[2].occurred_at": ["out_of_range"],
        "events[2].tracking_code": ["required"], "events[3].session_id": ["required"],
        "events[3].page_url": ["required"], "events[4].product_id": ["required"],
    }
    async with deps.sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM affiliate_events WHERE account_id = :a"),
                                {"a": tenant.account_id})).scalar_one() == 0


async def test_unknown_and_foreign_tracking_codes_are_the_same_violation(affiliate_channel, tenant, make_tenant):
    ingest, _ = stubs(affiliate_channel)
    other = await make_tenant()
    await ingest.UpsertAffiliates(pb.UpsertAffiliatesRequest(affiliates=[pb.AffiliateRecord(id="x", name="X")]),
                                  metadata=other.md())
    await ingest.CreateTrackingCodes(pb.CreateTrackingCodesRequest(
        tracking_codes=[pb.TrackingCodeRecord(code="OTHER-1", affiliate_id="x")]), metadata=other.md())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.RecordEvents(pb.RecordEventsRequest(
            events=[click(tracking_code="OTHER-1"), click(tracking_code="NOBODY-1")]), metadata=tenant.md())
    assert bad_request(caught.value) == {"events[0].tracking_code": ["not_found"],
                                         "events[1].tracking_code": ["not_found"]}
    # And a live key does not see the test-mode code either.
    with pytest.raises(grpc.aio.AioRpcError) as live:
        await ingest.RecordEvents(pb.RecordEventsRequest(events=[click()]), metadata=tenant.md(tenant.live_key))
    assert bad_request(live.value) == {"events[0].tracking_code": ["not_found"]}


async def test_tracking_codes_need_a_known_affiliate_and_keep_their_first_affiliate(affiliate_channel, tenant):
    ingest, _ = stubs(affiliate_channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.CreateTrackingCodes(pb.CreateTrackingCodesRequest(
            tracking_codes=[pb.TrackingCodeRecord(code="C-2", affiliate_id="ghost")]), metadata=tenant.md())
    assert bad_request(caught.value) == {"tracking_codes[0].affiliate_id": ["not_found"]}
    await ingest.UpsertAffiliates(pb.UpsertAffiliatesRequest(affiliates=[pb.AffiliateRecord(id="aff_bob", name="Bob")]),
                                  metadata=tenant.md())
    again = await ingest.CreateTrackingCodes(pb.CreateTrackingCodesRequest(
        tracking_codes=[pb.TrackingCodeRecord(code="AFF-JANE-001", affiliate_id="aff_bob")]), metadata=tenant.md())
    assert (again.data.created_count, again.data.duplicate_count) == (0, 1)


async def test_affiliates_and_products_are_renamed_by_upsert(affiliate_channel, tenant):
    ingest, analytics = stubs(affiliate_channel)
    renamed = await ingest.UpsertAffiliates(pb.UpsertAffiliatesRequest(
        affiliates=[pb.AffiliateRecord(id="aff_jane", name="Jane Smith")]), metadata=tenant.md())
    assert (renamed.data.created_count, renamed.data.duplicate_count) == (0, 1)
    await ingest.RecordEvents(pb.RecordEventsRequest(events=[click()]), metadata=tenant.md())
    response = await analytics.GetAffiliateAnalytics(api.GetAffiliateAnalyticsRequest(
        section="tables", metrics="top_affiliates"), metadata=tenant.md())
    assert response.data.tables.top_affiliates.list_value.values[0].struct_value["name"] == "Jane Smith"


async def test_visitor_sessions_are_counted_once_per_day(affiliate_channel, tenant):
    ingest, analytics = stubs(affiliate_channel)
    yesterday = NOW - dt.timedelta(days=1)
    views = [click(type="pageview", session_id=s, occurred_at=timestamp_of(at))
             for s, at in [("a", NOW), ("a", NOW), ("b", NOW), ("a", yesterday)]]
    await ingest.RecordEvents(pb.RecordEventsRequest(events=views[:2]), metadata=tenant.md())
    await ingest.RecordEvents(pb.RecordEventsRequest(events=views[2:]), metadata=tenant.md())
    s = await stats(analytics, tenant, metrics="unique_visitors,pages_per_visit,total_pageviews")
    assert (s.total_pageviews, s.unique_visitors, s.pages_per_visit) == (4, 3, 1.33)
    today_only = await stats(analytics, tenant, **{"from": str(TODAY)})
    assert today_only.unique_visitors == 2


async def test_ingestion_needs_the_ingest_scope_and_reading_needs_reports_read(affiliate_channel, tenant):
    ingest, analytics = stubs(affiliate_channel)
    with pytest.raises(grpc.aio.AioRpcError) as write:
        await ingest.RecordEvents(pb.RecordEventsRequest(events=[click()]), metadata=tenant.md(tenant.read_only_key))
    with pytest.raises(grpc.aio.AioRpcError) as read:
        await analytics.GetAffiliateAnalytics(api.GetAffiliateAnalyticsRequest(section="stats"),
                                              metadata=tenant.md(tenant.write_only_key))
    assert write.value.code() == read.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_conversion_validation(affiliate_channel, tenant):
    ingest, _ = stubs(affiliate_channel)
    bad = pb.ConversionRecord(order_id="", tracking_code="AFF-JANE-001", order_total="12.345", commission="-1",
                              currency="usd", occurred_at=timestamp_of(NOW), product_ids=["ok", "not ok"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.RecordConversions(pb.RecordConversionsRequest(conversions=[bad]), metadata=tenant.md())
    assert bad_request(caught.value) == {
        "conversions[0].order_id": ["required"], "conversions[0].order_total": ["invalid_decimal"],
        "conversions[0].commission": ["invalid_decimal"], "conversions[0].currency": ["invalid_currency"],
        "conversions[0].product_ids[1]": ["invalid_format"],
    }


async def test_empty_and_oversized_batches_are_refused(affiliate_channel, tenant):
    ingest, _ = stubs(affiliate_channel)
    for events in ([], [click() for _ in range(5001)]):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ingest.RecordEvents(pb.RecordEventsRequest(events=events), metadata=tenant.md())
        assert list(bad_request(caught.value)) == ["events"]


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("ua,device,browser,os", [
    *[tuple(a) for a in ad.AGENTS],
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36", "tablet", "Chrome", "Android"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "Googlebot", "Other"),
    ("", "unknown", "Other", "Other"),
])
def test_user_agent_classification(ua, device, browser, os):
    agent = parse_user_agent(ua)
    assert (agent.device, agent.browser, agent.os) == (device, browser, os)


@pytest.mark.parametrize("referrer,source,medium,page,expected", [
    *[(r, s, m, "", e) for r, s, m, e in ad.REFERRERS],
    ("https://www.google.co.uk/search", "", "", "", "search"),
    ("https://l.facebook.com/x", "", "", "", "social"),
    ("https://mail.google.com/mail/u/0", "", "", "", "email"),
    ("https://shop.example.com/cart", "", "", "https://shop.example.com/p/1", "direct"),
    ("", "partner-site", "banner", "", "campaign"),
    ("https://notgoogle.example/", "", "", "", "referral"),
])
def test_traffic_source(referrer, source, medium, page, expected):
    assert traffic_source(referrer, source, medium, page) == expected


# --------------------------------------------------------------------------- HTTP ingestion and the rate limit


@pytest_asyncio.fixture(scope="module")
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=20) as client:
        yield client


async def test_http_ingestion_batches_are_transcoded_to_the_ingestion_rpcs(http, make_tenant):
    tenant = await make_tenant()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    at = (NOW - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    steps = [
        ("/v1/affiliate/affiliates:batch", {"affiliates": [{"id": "aff_jane", "name": "Jane Smith"}]}),
        ("/v1/affiliate/tracking-codes:batch", {"tracking_codes": [{"code": "AFF-JANE-001", "affiliate_id": "aff_jane"}]}),
        ("/v1/affiliate/products:batch", {"products": [{"product_id": "prod_abc", "name": "Widget Pro"}]}),
        ("/v1/affiliate/events:batch", {"events": [
            {"id": str(uuid.uuid4()), "type": "click", "occurred_at": at, "tracking_code": "AFF-JANE-001",
             "page_url": "https://shop.example.com/product", "referrer_url": "https://blog.example.com/review",
             "user_agent": UA, "country": "us"},
            {"id": str(uuid.uuid4()), "type": "product_view", "occurred_at": at, "product_id": "prod_abc"},
        ]}),
        ("/v1/affiliate/conversions:batch", {"conversions": [
            {"order_id": "ORD-20240115-0042", "tracking_code": "AFF-JANE-001", "order_total": "149.99",
             "commission": "22.50", "currency": "USD", "occurred_at": at, "product_ids": ["prod_abc"]}]}),
    ]
    for path, body in steps:
        response = await http.post(path, json=body, headers=auth)
        assert response.status_code == 200, response.text
        created = 2 if path.startswith("/v1/affiliate/events") else 1
        assert response.json() == {"success": True, "message": "OK",
                                   "data": {"created_count": created, "duplicate_count": 0}}
    clicks = (await http.get("/v1/affiliate/analytics?section=recent_clicks", headers=auth)).json()
    row = clicks["data"]["recent_clicks"]["data"][0]
    assert (row["tracking_code"], row["device"], row["country"], row["created_at"]) == ("AFF-JANE-001", "mobile",
                                                                                        "US", at)
    tables = (await http.get("/v1/affiliate/analytics?section=tables", headers=auth)).json()["data"]["tables"]
    assert tables["top_affiliates"] == [{"name": "Jane Smith", "clicks": 1, "conversions": 1, "revenue": 149.99}]
    assert tables["top_products"] == [{"product_id": "prod_abc", "name": "Widget Pro", "views": 1, "conversions": 1}]


async def test_http_ingestion_errors_use_the_family_envelope(http, make_tenant):
    tenant = await make_tenant()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    invalid = await http.post("/v1/affiliate/events:batch", json={"events": [{"id": "x", "type": "click"}]},
                              headers=auth)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "VALIDATION_ERROR"
    assert invalid.json()["error"]["details"]["events[0].id"] == ["The events[0].id field must be a UUID."]
    not_json = await http.post("/v1/affiliate/events:batch", content=b"{nope", headers={
        **auth, "Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json() == {"success": False, "error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
                               "details": {"body": ["The request body must be a valid JSON object with the documented "
                                                    "fields."]}}}
    read_only = await http.post("/v1/affiliate/events:batch", json={"events": []},
                                headers={"Authorization": f"Bearer {tenant.read_only_key}"})
    assert read_only.status_code == 403
    assert read_only.json()["error"]["details"] == {"scope": ["The secret key lacks the ingest:write scope."]}
    wrong_method = await http.get("/v1/affiliate/events:batch", headers=auth)
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")


async def test_rate_limit_is_120_per_minute_per_token_with_headers(http, make_tenant):
    tenant = await make_tenant()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    for i in range(120):
        response = await http.get("/v1/affiliate/analytics?section=stats&metrics=total_clicks", headers=auth)
        assert (response.status_code, response.headers["x-ratelimit-remaining"]) == (200, str(119 - i))
        assert response.headers["x-ratelimit-limit"] == "120"
    limited = await http.get("/v1/affiliate/analytics?section=stats", headers=auth)
    now = time.time()
    assert limited.status_code == 429
    assert limited.json() == {"success": False, "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Too Many Requests"}}
    assert limited.headers["x-ratelimit-remaining"] == "0"
    # The sliding-window counter (docs/architecture.md "Rate limiting"): one more passes at the
    # latest 0.5 s into the next minute; both windows are empty by the end of that minute.
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert 59 <= int(limited.headers["x-ratelimit-reset"]) - now <= 121
    # Per token: another key of the same account has its own window.
    other = await http.get("/v1/affiliate/analytics?section=stats",
                           headers={"Authorization": f"Bearer {tenant.live_key}"})
    assert (other.status_code, other.headers["x-ratelimit-remaining"]) == (200, "119")


def test_the_daily_counts_key_covers_the_counters(database_url):
    import psycopg

    with psycopg.connect(database_url) as conn:
        definition = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_affiliate_daily_counts'"
        ).fetchone()[0]
    assert definition.endswith("INCLUDE (clicks, pageviews, visitors, product_views, add_to_carts, "
                               "remove_from_carts, thank_you_views, conversions, revenue, commission)")
