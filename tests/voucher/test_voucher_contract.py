"""Voucher Analytics through the real Envoy gateway, over HTTP, against the document.

Whole bodies are compared with figures computed independently from the records each
test ingested (tests/support/voucher_data.py).
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
import pytest_asyncio

from tests.support import voucher_data as vd

TS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest_asyncio.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=20) as client:
        yield client


@pytest_asyncio.fixture
async def seeded(voucher_channel, make_tenant):
    """A tenant with two vouchers' data over the last 75 days."""
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = vd.build(now, seed=21)
    await vd.VoucherIngest(voucher_channel, tenant.test_key).all(data)
    return tenant, data, now.date()


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def bare(response: httpx.Response) -> dict:
    """The body without `generated_at`, which is checked to be a fresh RFC 3339 UTC stamp."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    stamp = body.pop("generated_at")
    assert TS_Z.match(stamp), stamp
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - moment).total_seconds()) < 60
    return body


def error(code: str, message: str, details: dict) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


# --------------------------------------------------------------------------- performance


async def test_performance_defaults_to_the_last_30_days(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    response = await http.get(f"/v1/analytics/vouchers/{vid}/performance", headers=auth(tenant.test_key))
    expected = data.performance(vid, today - dt.timedelta(days=29), today)
    assert bare(response) == expected
    assert expected["performance"]["total_uses"] > 20
    assert expected["performance"]["repeat_usage"] > 0
    assert response.headers["x-ratelimit-limit"] == "100"


async def test_performance_with_dates_and_details(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    first, last = today - dt.timedelta(days=40), today - dt.timedelta(days=5)
    response = await http.get(
        f"/v1/analytics/vouchers/{vid}/performance",
        params={"start_date": first.isoformat(), "end_date": f"{last}T10:00:00Z", "include_details": "true"},
        headers=auth(tenant.test_key),
    )
    expected = data.performance(vid, first, last, details=True)
    assert bare(response) == expected
    # Customers who used any voucher before the period are returning ones.
    assert expected["details"]["returning_customers"] > 0 and expected["details"]["new_customers"] > 0


async def test_performance_of_a_period_without_uses_is_zero_with_null_times(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    response = await http.get(
        f"/v1/analytics/vouchers/{vid}/performance?start_date=2020-01-01&end_date=2020-01-31&include_details=true",
        headers=auth(tenant.test_key),
    )
    body = bare(response)
    assert body == data.performance(vid, dt.date(2020, 1, 1), dt.date(2020, 1, 31), details=True)
    assert body["performance"]["conversion_rate"] == 0 and body["details"]["first_use_at"] is None


# --------------------------------------------------------------------------- trends


@pytest.mark.parametrize("interval", ["day", "week", "month"])
async def test_trends_per_interval_zero_filled_with_summary(http, seeded, interval):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    first, last = today - dt.timedelta(days=59), today
    response = await http.get(
        f"/v1/analytics/vouchers/{vid}/trends",
        params={"interval": interval, "start_date": str(first), "end_date": str(last)},
        headers=auth(tenant.test_key),
    )
    expected = data.trends(vid, first, last, interval)
    assert bare(response) == expected
    assert expected["summary"]["growth_rate"] is not None


async def test_trends_default_is_daily_over_30_days(http, seeded):
    tenant, data, today = seeded
    vid = list(data.vouchers)[1]
    response = await http.get(f"/v1/analytics/vouchers/{vid}/trends", headers=auth(tenant.test_key))
    body = bare(response)
    assert body == data.trends(vid, today - dt.timedelta(days=29), today)
    assert len(body["trends"]) == 30


async def test_trends_metrics_filter_repeated_or_comma_separated(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    first = today - dt.timedelta(days=29)
    expected = data.trends(vid, first, today, "day", ["uses", "conversion_rate"])
    for query in ("metrics=uses&metrics=conversion_rate", "metrics=conversion_rate,uses"):
        response = await http.get(f"/v1/analytics/vouchers/{vid}/trends?{query}", headers=auth(tenant.test_key))
        assert bare(response) == expected
    assert set(expected["trends"][0]) == {"date", "uses", "conversion_rate"}


async def test_trends_growth_rate_is_null_without_a_previous_period(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    first = today - dt.timedelta(days=89)  # the data starts 75 days ago: nothing before
    response = await http.get(f"/v1/analytics/vouchers/{vid}/trends?start_date={first}", headers=auth(tenant.test_key))
    body = bare(response)
    assert body["summary"]["growth_rate"] is None
    assert body == data.trends(vid, first, today)


# --------------------------------------------------------------------------- customers


async def test_customer_insights(http, seeded):
    tenant, data, today = seeded
    vid = next(iter(data.vouchers))
    response = await http.get(f"/v1/analytics/vouchers/{vid}/customers", headers=auth(tenant.test_key))
    expected = data.customer_insights(vid, today - dt.timedelta(days=29), today)
    assert bare(response) == expected
    insights = expected["customer_insights"]
    assert insights["new_customers"] + insights["returning_customers"] == insights["total_customers"] > 0
    assert response.headers["x-ratelimit-limit"] == "50"


# --------------------------------------------------------------------------- errors


async def test_more_than_90_days_is_invalid_time_period(http, seeded):
    tenant, data, _ = seeded
    vid = next(iter(data.vouchers))
    for endpoint in ("performance", "trends", "customers"):
        response = await http.get(
            f"/v1/analytics/vouchers/{vid}/{endpoint}?start_date=2024-01-01&end_date=2024-04-29",
            headers=auth(tenant.test_key),
        )
        assert response.status_code == 400
        assert response.json() == error("INVALID_TIME_PERIOD", "Time period exceeds maximum allowed range",
                                         {"max_days": 90, "requested_days": 120})


async def test_exactly_90_days_is_allowed(http, seeded):
    tenant, data, _ = seeded
    vid = next(iter(data.vouchers))
    response = await http.get(f"/v1/analytics/vouchers/{vid}/performance?start_date=2024-01-01&end_date=2024-03-30",
                              headers=auth(tenant.test_key))
    assert response.status_code == 200


async def test_unknown_foreign_and_malformed_vouchers_are_not_found(http, seeded, make_tenant):
    tenant, data, _ = seeded
    other = await make_tenant()
    vid = next(iter(data.vouchers))
    cases = [
        (other.test_key, vid),           # another account's voucher
        (tenant.live_key, vid),          # the same account's live mode
        (tenant.test_key, vd.voucher_id()),  # never recorded
        (tenant.test_key, "v_invalid_id"),   # cannot exist
    ]
    for key, voucher in cases:
        for endpoint in ("performance", "trends", "customers"):
            response = await http.get(f"/v1/analytics/vouchers/{voucher}/{endpoint}", headers=auth(key))
            assert response.status_code == 404
            assert response.json() == error("VOUCHER_NOT_FOUND", "One or more vouchers not found",
                                             {"not_found": [voucher], "found": []})


async def test_an_over_long_voucher_id_is_echoed_shortened(http, make_tenant):
    tenant = await make_tenant()
    long_id = "v_" + "x" * 2_000
    response = await http.get(f"/v1/analytics/vouchers/{long_id}/performance", headers=auth(tenant.test_key))
    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"not_found": [long_id[:61] + "..."], "found": []}


async def test_bad_parameters_are_reported_together(http, seeded):
    tenant, data, _ = seeded
    vid = next(iter(data.vouchers))
    response = await http.get(
        f"/v1/analytics/vouchers/{vid}/trends?interval=year&metrics=uses,clicks&start_date=yesterday",
        headers=auth(tenant.test_key),
    )
    assert response.status_code == 400
    assert response.json() == error("INVALID_PARAMETER", "Validation failed for 3 fields", {"fields": [
        {"field": "interval", "message": "Invalid interval (must be day, week, or month)", "code": "invalid_enum"},
        {"field": "metrics", "message": "Unknown metric 'clicks' (must be one of uses, discount, orders, "
                                        "conversion_rate, avg_order_value)", "code": "invalid_enum"},
        {"field": "start_date", "message": "Invalid start_date (must be an ISO 8601 date or date-time)",
         "code": "invalid_date"},
    ]})
    response = await http.get(
        f"/v1/analytics/vouchers/{vid}/performance?include_details=maybe&start_date=2024-03-10&end_date=2024-03-01",
        headers=auth(tenant.test_key),
    )
    assert response.json() == error("INVALID_PARAMETER", "Validation failed for 2 fields", {"fields": [
        {"field": "include_details", "message": "Invalid include_details (must be true or false)",
         "code": "invalid_boolean"},
        {"field": "end_date", "message": "end_date must not be before start_date", "code": "invalid_range"},
    ]})


@pytest.mark.parametrize("key", [None, "sk_test_short", "sk_test_" + "A" * 32, "Bearer"])
async def test_bad_keys_are_401(http, key):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = await http.get(f"/v1/analytics/vouchers/{vd.voucher_id()}/performance", headers=headers)
    assert response.status_code == 401
    assert response.json() == error("UNAUTHORIZED", "Invalid or missing API key", {})


async def test_a_key_without_the_read_scope_is_403(http, make_tenant):
    tenant = await make_tenant()
    response = await http.get(f"/v1/analytics/vouchers/{vd.voucher_id()}/trends", headers=auth(tenant.write_only_key))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


async def test_gateway_replies_use_the_voucher_envelope(http):
    missing = await http.get("/v1/analytics/nothing")
    assert missing.status_code == 404
    assert missing.json() == error("NOT_FOUND", "The requested resource was not found", {})
    wrong = await http.delete(f"/v1/analytics/vouchers/{vd.voucher_id()}/performance")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json() == error("METHOD_NOT_ALLOWED", "Method DELETE is not allowed on this path", {})
    body = await http.post("/v1/analytics/export", content=b"{bad", headers={"Content-Type": "application/json"})
    assert body.status_code == 400
    assert body.json()["error"]["code"] == "INVALID_REQUEST_BODY"
    grpc_type = await http.post("/v1/analytics/export", content=b"", headers={"Content-Type": "application/grpc"})
    assert grpc_type.status_code == 415
    assert grpc_type.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("endpoint,limit", [("performance", 100), ("trends", 100), ("customers", 50)])
async def test_rate_limits_per_endpoint(http, make_tenant, endpoint, limit):
    tenant = await make_tenant()
    path = f"/v1/analytics/vouchers/{vd.voucher_id()}/{endpoint}"
    for n in range(limit):
        response = await http.get(path, headers=auth(tenant.test_key))
        assert response.status_code == 404
        assert response.headers["x-ratelimit-remaining"] == str(limit - n - 1)
    refused = await http.get(path, headers=auth(tenant.test_key))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-limit"] == str(limit)
    assert refused.json() == error("RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Please try again later",
                                   {"limit": limit, "retry_after": int(refused.headers["retry-after"])})
    # Per endpoint: the others still answer.
    other = await http.get(path.replace(endpoint, "customers" if endpoint != "customers" else "trends"),
                           headers=auth(tenant.test_key))
    assert other.status_code == 404
