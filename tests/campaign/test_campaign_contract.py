"""Campaign Analytics through the real Envoy gateway, over HTTP, against the document.

Every documented parameter and error case; whole bodies compared with expectations
computed independently (in Python, from the records the test ingested) of the
service's SQL and its hourly projection.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from partnerlytics.campaign.v1 import campaigns_pb2 as registry_pb
from partnerlytics.campaign.v1 import campaigns_pb2_grpc as registry_grpc

from platform_core.family import HEADERS_TOO_LARGE_MESSAGE
from tests.support import factories as f
from tests.support.contract import TOO_MANY, UNAUTHORIZED, bad_request, new_request_id, rfc3339, split_meta

NO_DATA = "No analytics data available for the specified time period"
NOT_FOUND = {"success": False, "error": "Not Found", "message": "Campaign not found with the specified campaign_id"}


def path(campaign_id: str) -> str:
    return f"/api/partner/v1/campaigns/{campaign_id}/analytics"


@dataclass
class Seeded:
    campaign_id: str
    instances: list = field(default_factory=list)  # every instance of the tenant, of any campaign
    orders: dict = field(default_factory=dict)  # instance id -> order record


@pytest_asyncio.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10) as client:
        yield client


async def register(campaign_channel, key: str, campaign_id: str, name: str = "Spring Sale"):
    return await registry_grpc.CampaignServiceStub(campaign_channel).CreateCampaign(
        registry_pb.CreateCampaignRequest(campaign=registry_pb.Campaign(id=campaign_id, name=name)),
        metadata=(("authorization", f"Bearer {key}"),),
    )


# Order totals that exercise cents: sums of these are exact only in decimal arithmetic.
TOTALS = ["0.10", "0.20", "19.99", "1234.56", "7.05", "0.01", "99.95", "3.33"]


async def seed(channel, campaign_channel, tenant, now: dt.datetime, n: int = 260) -> Seeded:
    """A registered campaign with n instances over 40 days plus a dozen in the last hour,
    a third purchased; and as many instances of another campaign of the same tenant."""
    data = Seeded(campaign_id=str(uuid.uuid4()))
    await register(campaign_channel, tenant.test_key, data.campaign_id)
    other = str(uuid.uuid4())
    moments = f.spread(n, now - dt.timedelta(days=40), now - dt.timedelta(seconds=30), seed=n)
    moments += [now - dt.timedelta(minutes=m, seconds=7) for m in range(2, 50, 4)]
    for i, at in enumerate(moments):
        data.instances.append(f.instance(at, campaign_id=data.campaign_id if i % 5 else other))
    ingest = f.Ingest(channel, tenant.test_key)
    await ingest.instances(data.instances)
    for i, inst in enumerate(data.instances):
        if i % 3 == 0:
            at = inst.timestamp.ToDatetime(tzinfo=dt.timezone.utc)
            data.orders[inst.id] = f.order(inst.id, inst.insider_id, at + dt.timedelta(seconds=5),
                                           total=TOTALS[i % len(TOTALS)])
    await ingest.orders(list(data.orders.values()))
    return data


def expected(data: Seeded, start, end, time_frame: str, is_purchase=None, page: int = 1, limit: int = 50) -> dict:
    window = []
    for inst in data.instances:
        at = inst.timestamp.ToDatetime(tzinfo=dt.timezone.utc)
        if inst.campaign_id == data.campaign_id and start <= at < end:
            window.append((at, inst, inst.id in data.orders))
    window.sort(key=lambda r: (-r[0].timestamp(), r[1].id))
    rows = [r for r in window if is_purchase is None or r[2] == is_purchase]
    revenue = {inst.id: decimal.Decimal(data.orders[inst.id].total) if bought else decimal.Decimal(0)
               for _, inst, bought in window}
    purchases = sum(1 for r in window if r[2])
    total_revenue = sum(revenue.values(), decimal.Decimal(0))
    rate = (decimal.Decimal(purchases) / len(window)).quantize(decimal.Decimal("0.0001"), decimal.ROUND_HALF_UP)
    pages = math.ceil(len(rows) / limit)
    return {
        "success": True,
        "message": "Campaign analytics retrieved successfully",
        "data": {
            "campaign_id": data.campaign_id,
            "time_frame": time_frame,
            "instances": [
                {
                    "instance_id": inst.id,
                    "insider_id": inst.insider_id,
                    "is_purchase": bought,
                    "purchased_insider_id": data.orders[inst.id].purchased_insider_id if bought else None,
                    "timestamp": rfc3339(at),
                    "revenue": float(revenue[inst.id]),
                }
                for at, inst, bought in rows[(page - 1) * limit: page * limit]
            ],
            "summary": {
                "total_instances": len(window),
                "purchase_instances": purchases,
                "non_purchase_instances": len(window) - purchases,
                "total_revenue": float(total_revenue),
                "conversion_rate": float(rate),
            },
        },
        "pagination": {
            "page": page, "limit": limit, "total": len(rows), "totalPages": pages,
            "hasNext": page < pages, "hasPrevious": page > 1,
        },
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---------------------------------------------------------------------------------------
# Success: every time frame, filter and page


async def test_documented_example_per_day_purchases_limit_20(http, channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, campaign_channel, tenant, dt.datetime.now(dt.timezone.utc))
    rid = new_request_id()
    response = await http.get(f"{path(data.campaign_id)}?time_frame=per_day&limit=20&is_purchase=true",
                              headers={**auth(tenant.test_key), "X-Request-ID": rid})
    now = dt.datetime.now(dt.timezone.utc)
    assert response.status_code == 200
    body = split_meta(response, rid)
    assert body == expected(data, now - dt.timedelta(hours=24), now, "per_day", True, 1, 20)
    assert body["data"]["instances"] and all(i["is_purchase"] for i in body["data"]["instances"])


@pytest.mark.parametrize("time_frame,length", [
    ("per_hour", dt.timedelta(hours=1)), ("per_day", dt.timedelta(hours=24)), ("per_month", dt.timedelta(days=30)),
])
async def test_trailing_time_frames_and_defaults(http, channel, campaign_channel, make_tenant, time_frame, length):
    tenant = await make_tenant()
    data = await seed(channel, campaign_channel, tenant, dt.datetime.now(dt.timezone.utc))
    response = await http.get(f"{path(data.campaign_id)}?time_frame={time_frame}", headers=auth(tenant.test_key))
    now = dt.datetime.now(dt.timezone.utc)
    assert split_meta(response) == expected(data, now - length, now, time_frame)


@pytest.mark.parametrize("is_purchase,page,limit", [
    ("all", 1, 100), ("false", 2, 7), ("true", 3, 5), ("all", 9, 13), ("false", 1, 1), ("all", 500, 50),
])
async def test_custom_range_filters_and_pages_through_every_row(
    http, channel, campaign_channel, make_tenant, is_purchase, page, limit
):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = await seed(channel, campaign_channel, tenant, now)
    start, end = (now - dt.timedelta(days=20)).date(), (now - dt.timedelta(days=1)).date()
    response = await http.get(
        path(data.campaign_id),
        params={"time_frame": "custom_range", "start_date": str(start), "end_date": str(end),
                "is_purchase": is_purchase, "page": page, "limit": limit, "unknown": "ignored"},
        headers=auth(tenant.test_key),
    )
    lo = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    flag = {"all": None, "true": True, "false": False}[is_purchase]
    assert split_meta(response) == expected(data, lo, hi, "custom_range", flag, page, limit)


async def test_a_single_day_range_and_the_366_day_cap_are_accepted(http, channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = await seed(channel, campaign_channel, tenant, now)
    day = (now - dt.timedelta(days=3)).date()
    one = await http.get(f"{path(data.campaign_id)}?time_frame=custom_range&start_date={day}&end_date={day}",
                         headers=auth(tenant.test_key))
    lo = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    assert split_meta(one) == expected(data, lo, lo + dt.timedelta(days=1), "custom_range")
    first = now.date() - dt.timedelta(days=365)
    year = await http.get(f"{path(data.campaign_id)}?time_frame=custom_range&start_date={first}&end_date={now.date()}",
                          headers=auth(tenant.test_key))
    assert year.status_code == 200
    assert year.json()["data"]["summary"]["total_instances"] == sum(
        1 for i in data.instances if i.campaign_id == data.campaign_id)


async def test_summary_covers_the_window_whatever_the_filter_and_page(http, channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, campaign_channel, tenant, dt.datetime.now(dt.timezone.utc))
    answers = [
        (await http.get(f"{path(data.campaign_id)}?time_frame=per_month&is_purchase={p}&page={page}&limit=3",
                        headers=auth(tenant.test_key))).json()
        for p, page in (("all", 1), ("true", 2), ("false", 4), ("true", 999))
    ]
    summaries = [a["data"]["summary"] for a in answers]
    assert all(s == summaries[0] for s in summaries)
    totals = [a["pagination"]["total"] for a in answers]
    assert totals[0] == totals[1] + totals[2] == summaries[0]["total_instances"]
    assert answers[3]["data"]["instances"] == [] and answers[3]["pagination"]["hasNext"] is False


async def test_revenue_is_exact_to_the_cent_and_the_rate_rounds_half_up(http, channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    campaign_id = str(uuid.uuid4())
    await register(campaign_channel, tenant.test_key, campaign_id)
    # 5 purchases out of 32 instances: 0.15625, which rounds half up to 0.1563 (half to
    # even would give 0.1562); 0.10 + 0.20 + 0.01 + 0.05 + 0.07 is 0.43 only in decimal
    # arithmetic (in binary floats it is 0.43000000000000005).
    assert sum([0.10, 0.20, 0.01, 0.05, 0.07]) != 0.43
    instances = [f.instance(now - dt.timedelta(hours=2, minutes=m), campaign_id=campaign_id) for m in range(32)]
    ingest = f.Ingest(channel, tenant.test_key)
    await ingest.instances(instances)
    await ingest.orders([f.order(i.id, i.insider_id, now - dt.timedelta(minutes=30), total=t)
                         for i, t in zip(instances[:5], ["0.10", "0.20", "0.01", "0.05", "0.07"], strict=True)])
    body = (await http.get(f"{path(campaign_id)}?time_frame=per_day", headers=auth(tenant.test_key))).json()
    assert body["data"]["summary"] == {
        "total_instances": 32, "purchase_instances": 5, "non_purchase_instances": 27,
        "total_revenue": 0.43, "conversion_rate": 0.1563,
    }


async def test_new_instances_and_purchases_show_at_once(http, channel, campaign_channel, make_tenant):
    """The projection is updated in the ingesting transaction: no stale answer at all."""
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = await seed(channel, campaign_channel, tenant, now, n=60)
    url = f"{path(data.campaign_id)}?time_frame=per_month"
    before = (await http.get(url, headers=auth(tenant.test_key))).json()["data"]["summary"]
    late = f.instance(now - dt.timedelta(days=2, minutes=13), campaign_id=data.campaign_id)
    ingest = f.Ingest(channel, tenant.test_key)
    await ingest.instances([late])
    await ingest.orders([f.order(late.id, late.insider_id, now, total="45.67")])
    after = (await http.get(url, headers=auth(tenant.test_key))).json()["data"]["summary"]
    assert after["total_instances"] == before["total_instances"] + 1
    assert after["purchase_instances"] == before["purchase_instances"] + 1
    assert decimal.Decimal(str(after["total_revenue"])) == decimal.Decimal(str(before["total_revenue"])) + \
        decimal.Decimal("45.67")


async def test_instances_ingested_before_registration_are_counted(http, channel, campaign_channel, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    campaign_id = str(uuid.uuid4())
    await f.Ingest(channel, tenant.test_key).instances(
        [f.instance(now - dt.timedelta(hours=3), campaign_id=campaign_id)])
    unregistered = await http.get(f"{path(campaign_id)}?time_frame=per_day", headers=auth(tenant.test_key))
    assert (unregistered.status_code, split_meta(unregistered)) == (404, NOT_FOUND)
    await register(campaign_channel, tenant.test_key, campaign_id)
    registered = await http.get(f"{path(campaign_id)}?time_frame=per_day", headers=auth(tenant.test_key))
    assert registered.json()["data"]["summary"]["total_instances"] == 1


# ---------------------------------------------------------------------------------------
# 400: every documented case, and several at once

ERRORS = [
    ("time_frame=weekly",
     [("time_frame", "Invalid time_frame parameter (must be per_hour, per_day, per_month, or custom_range)",
       "invalid_enum")]),
    ("limit=20",
     [("time_frame", "time_frame is required (per_hour, per_day, per_month, or custom_range)", "required")]),
    ("time_frame=custom_range&end_date=2026-01-31",
     [("start_date", "Missing start_date for custom_range", "required")]),
    ("time_frame=custom_range&start_date=2026-01-01",
     [("end_date", "Missing end_date for custom_range", "required")]),
    ("time_frame=custom_range&start_date=2026/01/01&end_date=2026-01-31",
     [("start_date", "Invalid date format (must be YYYY-MM-DD)", "invalid_date")]),
    ("time_frame=custom_range&start_date=2026-01-01&end_date=2026-02-30",
     [("end_date", "Invalid date format (must be YYYY-MM-DD)", "invalid_date")]),
    ("time_frame=custom_range&start_date=2026-01-01T00:00:00Z&end_date=2026-01-31",
     [("start_date", "Invalid date format (must be YYYY-MM-DD)", "invalid_date")]),
    ("time_frame=custom_range&start_date=2026-02-01&end_date=2026-01-31",
     [("end_date", "End date must be after start_date", "invalid_range")]),
    ("time_frame=custom_range&start_date=2025-01-01&end_date=2026-01-02",
     [("end_date", "Date range too large (exceeds maximum allowed period of 366 days)", "range_too_large")]),
    ("time_frame=per_day&is_purchase=maybe",
     [("is_purchase", "Invalid is_purchase parameter (must be true, false, or all)", "invalid_enum")]),
    ("time_frame=per_day&page=0", [("page", "Invalid page number (must be positive integer)", "out_of_range")]),
    ("time_frame=per_day&page=-1", [("page", "Invalid page number (must be positive integer)", "invalid_integer")]),
    ("time_frame=per_day&page=abc", [("page", "Invalid page number (must be positive integer)", "invalid_integer")]),
    ("time_frame=per_day&limit=0", [("limit", "Invalid limit value (must be 1-100)", "out_of_range")]),
    ("time_frame=per_day&limit=101", [("limit", "Invalid limit value (must be 1-100)", "out_of_range")]),
    ("time_frame=per_day&limit=2.5", [("limit", "Invalid limit value (must be 1-100)", "invalid_integer")]),
    ("time_frame=custom_range&is_purchase=yes&page=x&limit=500", [
        ("is_purchase", "Invalid is_purchase parameter (must be true, false, or all)", "invalid_enum"),
        ("page", "Invalid page number (must be positive integer)", "invalid_integer"),
        ("limit", "Invalid limit value (must be 1-100)", "out_of_range"),
        ("start_date", "Missing start_date for custom_range", "required"),
        ("end_date", "Missing end_date for custom_range", "required"),
    ]),
]


@pytest.mark.parametrize("query,fields", ERRORS, ids=[q for q, _ in ERRORS])
async def test_bad_parameters_get_the_documented_400_with_every_field(http, make_tenant, query, fields):
    tenant = await make_tenant()
    response = await http.get(f"{path(str(uuid.uuid4()))}?{query}", headers=auth(tenant.test_key))
    assert response.status_code == 400
    assert split_meta(response) == bad_request(*fields)
    assert response.headers["x-ratelimit-limit"] == "150"


@pytest.mark.parametrize("campaign_id", ["not-a-uuid", "123", "0b9e2f5c61a44d0e9a533a8c1f6e7d20", "%20", "%22%7D"])
async def test_an_invalid_campaign_uuid_is_a_400_naming_it(http, make_tenant, campaign_id):
    tenant = await make_tenant()
    response = await http.get(f"{path(campaign_id)}?time_frame=per_day&limit=0", headers=auth(tenant.test_key))
    assert response.status_code == 400
    assert split_meta(response) == bad_request(
        ("campaign_id", "Invalid UUID format for campaign_id", "invalid_uuid"),
        ("limit", "Invalid limit value (must be 1-100)", "out_of_range"),
    )


# ---------------------------------------------------------------------------------------
# 401, 403, 404, 422


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer sk_live_abc123def456"},
    {"Authorization": "Bearer sk_test_" + "Z" * 32}, {"Authorization": "Basic sk_test_" + "Z" * 32},
], ids=["missing", "empty", "short", "unknown", "scheme"])
async def test_missing_or_invalid_keys_get_401(http, headers):
    response = await http.get(f"{path(str(uuid.uuid4()))}?time_frame=per_day", headers=headers)
    assert (response.status_code, split_meta(response)) == (401, UNAUTHORIZED)


async def test_a_key_without_the_analytics_scope_gets_the_documented_403(http, make_tenant):
    tenant = await make_tenant()
    response = await http.get(f"{path(str(uuid.uuid4()))}?time_frame=per_day", headers=auth(tenant.write_only_key))
    assert response.status_code == 403
    assert split_meta(response) == {
        "success": False, "error": "Forbidden", "message": "Insufficient permissions to access this campaign.",
        "details": "The secret key lacks the analytics:read scope.",
    }


async def test_unknown_foreign_and_other_mode_campaigns_are_the_same_404(http, channel, campaign_channel, make_tenant):
    owner, stranger = await make_tenant("owner"), await make_tenant("stranger")
    data = await seed(channel, campaign_channel, owner, dt.datetime.now(dt.timezone.utc), n=40)
    answers = [
        await http.get(f"{path(cid)}?time_frame=per_month", headers=auth(key))
        for cid, key in ((str(uuid.uuid4()), stranger.test_key), (data.campaign_id, stranger.test_key),
                         (data.campaign_id, owner.live_key))
    ]
    assert [(a.status_code, split_meta(a)) for a in answers] == [(404, NOT_FOUND)] * 3
    mine = await http.get(f"{path(data.campaign_id)}?time_frame=per_month", headers=auth(owner.test_key))
    assert mine.status_code == 200


async def test_another_partners_instances_of_the_same_campaign_id_never_count(
    http, channel, campaign_channel, make_tenant
):
    first, second = await make_tenant("first"), await make_tenant("second")
    now = dt.datetime.now(dt.timezone.utc)
    data = await seed(channel, campaign_channel, first, now, n=50)
    await register(campaign_channel, second.test_key, data.campaign_id, "Same id, other partner")
    await f.Ingest(channel, second.test_key).instances(
        [f.instance(now - dt.timedelta(days=1, hours=h), campaign_id=data.campaign_id) for h in range(7)])
    mine = await http.get(f"{path(data.campaign_id)}?time_frame=per_month&limit=100", headers=auth(first.test_key))
    theirs = await http.get(f"{path(data.campaign_id)}?time_frame=per_month&limit=100", headers=auth(second.test_key))
    end = dt.datetime.now(dt.timezone.utc)
    assert split_meta(mine) == expected(data, end - dt.timedelta(days=30), end, "per_month", None, 1, 100)
    assert theirs.json()["data"]["summary"]["total_instances"] == 7


async def test_a_window_without_instances_is_the_documented_422(http, campaign_channel, make_tenant):
    tenant = await make_tenant()
    campaign_id = str(uuid.uuid4())
    await register(campaign_channel, tenant.test_key, campaign_id)
    response = await http.get(f"{path(campaign_id)}?time_frame=custom_range&start_date=2020-01-01&end_date=2020-01-02",
                              headers=auth(tenant.test_key))
    assert response.status_code == 422
    assert split_meta(response) == {
        "success": False,
        "error": "Validation Error",
        "message": NO_DATA,
        "details": "The campaign has no instances between 2020-01-01T00:00:00Z and 2020-01-03T00:00:00Z.",
        "validation_errors": [{"field": "time_frame", "message": NO_DATA, "code": "no_data"}],
    }


# ---------------------------------------------------------------------------------------
# Rate limit, request ids, unknown paths


async def test_rate_limit_is_150_per_hour_per_partner_with_headers(http, make_tenant):
    tenant, neighbour = await make_tenant(), await make_tenant()
    url = f"{path(str(uuid.uuid4()))}?time_frame=per_day"
    for i in range(150):
        response = await http.get(url, headers=auth(tenant.test_key))
        assert (response.status_code, response.headers["x-ratelimit-remaining"]) == (404, str(149 - i))
    limited = await http.get(url, headers=auth(tenant.test_key))
    assert (limited.status_code, split_meta(limited)) == (429, TOO_MANY)
    assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == ("150", "0")
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    # The sliding-window counter (docs/architecture.md "Rate limiting"): the 150 hits weigh on
    # until the end of the next hourly window, and one more passes at the latest 24 s into it.
    reset, retry = int(limited.headers["x-ratelimit-reset"]) - now, int(limited.headers["retry-after"])
    assert 3599 <= reset <= 7201
    assert 24 <= retry <= 3624 and retry <= reset + 1
    # Per partner: another partner's quota is untouched; per endpoint: the instance list's too.
    other = await http.get(url, headers=auth(neighbour.test_key))
    assert (other.status_code, other.headers["x-ratelimit-remaining"]) == (404, "149")
    instances = await http.get("/partner/v1/instances/analytics", headers=auth(tenant.test_key))
    assert (instances.status_code, instances.headers["x-ratelimit-limit"]) == (200, "100")


async def test_a_valid_request_id_is_echoed(http, make_tenant):
    tenant = await make_tenant()
    rid = "550E8400-E29B-41D4-A716-446655440000"
    response = await http.get(f"{path(str(uuid.uuid4()))}?time_frame=per_day",
                              headers={**auth(tenant.test_key), "X-Request-ID": rid})
    assert response.headers["x-request-id"].lower() == rid.lower()
    assert response.json()["meta"]["requestId"] == response.headers["x-request-id"]


async def test_unknown_paths_and_methods_under_the_family_get_its_envelope(http):
    missing = await http.get("/api/partner/v1/campaigns/0b9e2f5c-61a4-4d0e-9a53-3a8c1f6e7d20/analytic")
    wrong_method = await http.delete(path(str(uuid.uuid4())))
    assert (missing.status_code, split_meta(missing)) == (
        404, {"success": False, "error": "Not Found", "message": "The requested resource was not found"})
    assert (wrong_method.status_code, split_meta(wrong_method)) == (
        405, {"success": False, "error": "Method Not Allowed", "message": "Method DELETE is not allowed on this path"})
    assert wrong_method.headers["allow"] == "GET"


@pytest.mark.parametrize("length", [7_000, 20_000, 50_000])
async def test_a_very_long_path_is_the_documented_400_not_a_500(http, make_tenant, length):
    """Up to Envoy's 60 KiB header limit a long path reaches the service (whose gRPC
    metadata limit is above it) and is validated like any other."""
    tenant = await make_tenant()
    response = await http.get(f"{path('9' * length)}?time_frame=per_day", headers=auth(tenant.test_key))
    assert response.status_code == 400
    assert split_meta(response) == bad_request(("campaign_id", "Invalid UUID format for campaign_id", "invalid_uuid"))


async def test_headers_over_the_gateways_limit_are_a_json_431_not_a_500(http, make_tenant):
    """Over the documented 60 KiB of request headers the Lua filter answers the family's
    431 (the path is known there); over the codec's 128 KiB Envoy refuses the request
    before the path is known, so no family's envelope can apply: the gateway's generic
    JSON body, with the HTTP status that says what is wrong (docs/gateway.md)."""
    tenant = await make_tenant()
    response = await http.get(f"{path(str(uuid.uuid4()))}?time_frame=per_day",
                              headers={**auth(tenant.test_key), "X-Filler": "a" * 70_000})
    assert response.status_code == 431
    body = response.json()
    assert body["success"] is False and body["message"] == HEADERS_TOO_LARGE_MESSAGE
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    assert uuid.UUID(response.headers["x-request-id"]).version == 4
    response = await http.get(f"{path(str(uuid.uuid4()))}?time_frame=per_day",
                              headers={**auth(tenant.test_key), "X-Filler": "a" * 140_000})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/json"
    # The request id is generated for the reply itself (docs/gateway.md).
    assert response.json() == {"error": "Request Header Fields Too Large",
                               "requestId": response.headers["x-request-id"], "status": 431}
    assert uuid.UUID(response.headers["x-request-id"]).version == 4
