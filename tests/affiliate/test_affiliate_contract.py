"""Affiliate Analytics through the real Envoy gateway, over HTTP, against the document.

One tenant's deterministic tracking data is ingested over gRPC once; every section is
compared, whole, with expectations computed in plain Python from the same records
(tests/support/affiliate_data.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio

from platform_core import accounts
from services.affiliate.servicer import MAX_SERIES_DAYS, METRICS
from tests.support import affiliate_data as ad

PATH = "/v1/affiliate/analytics"
TODAY = dt.datetime.now(dt.timezone.utc).date()
D = dt.timedelta


@dataclasses.dataclass
class World:
    data: ad.Seeded
    key: str
    live_key: str
    no_scope_key: str
    ids: dict  # event id / order id -> public number


@pytest_asyncio.fixture(scope="module")
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=20) as client:
        yield client


async def _tenant(deps, name: str) -> tuple[uuid.UUID, str, str, str]:
    async with deps.sessions() as session:
        account = await accounts.create_account(session, name)
        _, key = await accounts.create_key(session, account.id, "test")
        _, live = await accounts.create_key(session, account.id, "live")
        _, no_scope = await accounts.create_key(session, account.id, "test", ["analytics:read", "ingest:write"])
        await session.commit()
    return account.id, key, live, no_scope


@pytest_asyncio.fixture(scope="module")
async def world(gateway, deps, database_url) -> World:
    account_id, key, live, no_scope = await _tenant(deps, "affiliate business")
    data = ad.build(TODAY)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.service_ports['affiliate'][0]}") as channel:
        await ad.Ingest(channel, key).all(data)
    with psycopg.connect(database_url) as conn:
        ids = {str(e): n for e, n in conn.execute(
            "SELECT event_id, id FROM affiliate_events WHERE account_id = %s", (account_id,))}
        ids.update(dict(conn.execute("SELECT order_id, id FROM affiliate_conversions WHERE account_id = %s",
                                     (account_id,)).fetchall()))
    return World(data, key, live, no_scope, ids)


async def get(http, key: str | None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await http.get(PATH, params=params, headers=headers)


def ok(section: str, first: dt.date, last: dt.date, body: dict) -> dict:
    return {"success": True, "message": "OK", "data": {
        "filters": {"from": first.isoformat(), "to": last.isoformat()}, "section": section, section: body}}


def only(expected: dict, names: list[str]) -> dict:
    return {k: v for k, v in expected.items() if k in names}


# --------------------------------------------------------------------------- stats


async def test_stats_has_every_metric_over_the_default_range_of_30_days_before_today(http, world):
    response = await get(http, world.key, section="stats")
    assert response.status_code == 200
    first = TODAY - D(days=30)
    assert response.json() == ok("stats", first, TODAY, ad.expected_stats(world.data, first, TODAY))
    assert response.json()["data"]["stats"]["total_clicks"] > 0
    assert list(response.json()["data"]["stats"]) == list(METRICS["stats"])


async def test_stats_documented_example_filters_metrics_and_range(http, world):
    first, last = TODAY - D(days=20), TODAY - D(days=5)
    response = await get(http, world.key, section="stats", **{"from": str(first), "to": str(last)},
                         metrics="total_clicks,total_conversions,total_revenue")
    expected = only(ad.expected_stats(world.data, first, last), ["total_clicks", "total_conversions", "total_revenue"])
    assert response.json() == ok("stats", first, last, expected)


async def test_stats_rates_are_zero_without_denominators(http, world):
    response = await get(http, world.key, section="stats", **{"from": "2001-01-01", "to": "2001-01-31"})
    stats = response.json()["data"]["stats"]
    assert stats["conversion_rate"] == 0 and stats["cart_to_conversion_rate"] == 0 and stats["pages_per_visit"] == 0
    assert set(stats.values()) == {0}


async def test_to_alone_moves_the_default_from_with_it(http, world):
    last = TODAY - D(days=2)
    response = await get(http, world.key, section="stats", to=str(last), metrics="total_pageviews")
    first = last - D(days=30)
    assert response.json() == ok("stats", first, last, only(ad.expected_stats(world.data, first, last),
                                                          ["total_pageviews"]))


# The document bounds the range only by from <= to <= today: no cap on its length and no
# floor but the calendar's (0001-01-01).


async def test_a_ten_year_range_is_served_whole(http, world):
    first = TODAY - D(days=3652)  # ten years
    response = await get(http, world.key, section="stats", **{"from": str(first), "to": str(TODAY)})
    assert response.status_code == 200
    assert response.json() == ok("stats", first, TODAY, ad.expected_stats(world.data, first, TODAY))
    charts = await get(http, world.key, section="charts", **{"from": str(first), "to": str(TODAY)},
                       metrics="clicks_over_time,revenue_over_time,device_breakdown")
    assert charts.json() == ok("charts", first, TODAY, only(ad.expected_charts(world.data, first, TODAY),
                                                           ["clicks_over_time", "revenue_over_time", "device_breakdown"]))
    assert len(charts.json()["data"]["charts"]["clicks_over_time"]["labels"]) == (TODAY - first).days + 1


@pytest.mark.parametrize("section", ["stats", "trends", "tables", "recent_clicks"])
async def test_a_range_from_the_first_calendar_day_is_served(http, world, section):
    response = await get(http, world.key, section=section, **{"from": "0001-01-01"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["filters"] == {"from": "0001-01-01", "to": TODAY.isoformat()}
    if section == "stats":
        first = dt.date(1, 1, 1)
        assert response.json()["data"]["stats"] == ad.expected_stats(world.data, first, TODAY)
    if section == "trends":  # the period before it is empty: every non-zero trend is null
        assert response.json()["data"]["trends"]["clicks"] is None


async def test_charts_breakdowns_take_any_range_and_daily_series_twenty_years(http, world):
    breakdowns = await get(http, world.key, section="charts", metrics="device_breakdown,country_breakdown",
                           **{"from": "0001-01-01"})
    assert breakdowns.json() == ok("charts", dt.date(1, 1, 1), TODAY, only(
        ad.expected_charts(world.data, TODAY - D(days=3652), TODAY), ["device_breakdown", "country_breakdown"]))
    first = TODAY - D(days=MAX_SERIES_DAYS - 1)
    longest = await get(http, world.key, section="charts", **{"from": str(first)})  # every chart
    assert longest.json() == ok("charts", first, TODAY, ad.expected_charts(world.data, first, TODAY))
    assert len(longest.json()["data"]["charts"]["revenue_over_time"]["labels"]) == MAX_SERIES_DAYS
    longer = await get(http, world.key, section="charts", **{"from": str(first - D(days=1))})
    assert longer.status_code == 422
    assert longer.json()["error"]["details"] == {"from": [
        f"A daily series holds at most {MAX_SERIES_DAYS} days: ask for a shorter range, or for breakdowns only."]}


async def test_a_to_in_year_one_alone_starts_the_range_on_the_first_calendar_day(http, world):
    response = await get(http, world.key, section="trends", to="0001-01-10", metrics="clicks")
    assert response.status_code == 200, response.text
    assert response.json() == ok("trends", dt.date(1, 1, 1), dt.date(1, 1, 10), {"clicks": 0})


# --------------------------------------------------------------------------- trends


@pytest.mark.parametrize("first,last", [
    (TODAY - D(days=13), TODAY - D(days=7)),
    (TODAY - D(days=9), TODAY),
    (TODAY - D(days=0), TODAY),
])
async def test_trends_compare_with_the_equal_period_before(http, world, first, last):
    response = await get(http, world.key, section="trends", **{"from": str(first), "to": str(last)})
    assert response.json() == ok("trends", first, last, ad.expected_trends(world.data, first, last))


async def test_trends_are_null_when_only_the_previous_period_is_empty(http, world):
    first, last = TODAY - D(days=40), TODAY - D(days=35)  # the data starts 40 days ago
    response = await get(http, world.key, section="trends", **{"from": str(first), "to": str(last)})
    trends = response.json()["data"]["trends"]
    assert trends == ad.expected_trends(world.data, first, last)
    assert trends["clicks"] is None


async def test_trends_are_zero_when_both_periods_are_empty(http, world):
    response = await get(http, world.key, section="trends", **{"from": "2001-01-01", "to": "2001-01-10"},
                         metrics="clicks,revenue")
    assert response.json()["data"]["trends"] == {"clicks": 0, "revenue": 0}


# --------------------------------------------------------------------------- charts


@pytest.mark.parametrize("days", [7, 30])
async def test_charts_daily_series_are_zero_filled_and_breakdowns_ranked(http, world, days):
    last = TODAY
    first = last - D(days=days - 1)
    response = await get(http, world.key, section="charts", **{"from": str(first), "to": str(last)})
    charts = response.json()["data"]["charts"]
    assert response.json() == ok("charts", first, last, ad.expected_charts(world.data, first, last))
    assert len(charts["clicks_over_time"]["labels"]) == days
    assert charts["clicks_over_time"]["data"][-4] == 0  # an empty day (3 days ago)
    assert list(charts) == list(METRICS["charts"])


async def test_charts_metrics_filter(http, world):
    first, last = TODAY - D(days=6), TODAY
    response = await get(http, world.key, section="charts", **{"from": str(first), "to": str(last)},
                         metrics="device_breakdown,clicks_over_time")
    expected = only(ad.expected_charts(world.data, first, last), ["clicks_over_time", "device_breakdown"])
    assert response.json() == ok("charts", first, last, expected)
    assert list(response.json()["data"]["charts"]) == ["clicks_over_time", "device_breakdown"]


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize("top_limit", [None, 2, 50])
async def test_tables_rank_top_n(http, world, top_limit):
    first, last = TODAY - D(days=30), TODAY
    params = {"from": str(first), "to": str(last)}
    if top_limit:
        params["top_limit"] = str(top_limit)
    response = await get(http, world.key, section="tables", **params)
    expected = ad.expected_tables(world.data, first, last, top_limit or 10)
    assert response.json() == ok("tables", first, last, expected)
    assert expected["top_affiliates"] and expected["top_products"]


async def test_tables_metrics_filter_and_empty_tables(http, world):
    response = await get(http, world.key, section="tables", **{"from": "2001-01-01", "to": "2001-01-02"},
                         metrics="top_products,top_affiliates")
    assert response.json()["data"]["tables"] == {"top_affiliates": [], "top_products": []}


# --------------------------------------------------------------------------- feeds


@pytest.mark.parametrize("section", ["recent_clicks", "recent_conversions", "recent_events"])
@pytest.mark.parametrize("page,per_page", [(None, None), (2, 7), (1, 100), (500, 10)])
async def test_feeds_are_newest_first_and_paginated(http, world, section, page, per_page):
    params = {}
    if page:
        params.update(page=str(page), per_page=str(per_page))
    response = await get(http, world.key, section=section, **params, metrics="total_clicks,clicks_over_time")
    first = TODAY - D(days=30)
    expected = ad.expected_feed(world.data, section, first, TODAY, page or 1, per_page or 15, world.ids)
    assert response.json() == ok(section, first, TODAY, expected)


async def test_feed_of_an_empty_range_has_one_empty_page(http, world):
    response = await get(http, world.key, section="recent_events", **{"from": "2001-01-01", "to": "2001-01-02"})
    assert response.json()["data"]["recent_events"] == {
        "data": [], "pagination": {"current_page": 1, "last_page": 1, "per_page": 15, "total": 0}}


# --------------------------------------------------------------------------- errors


def validation(**details: list[str]) -> dict:
    return {"success": False, "error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
                                        "details": details}}


STATS_ALLOWED = ", ".join(METRICS["stats"])


@pytest.mark.parametrize("params,details", [
    ({}, {"section": ["The section field is required."]}),
    ({"section": "funnel"}, {"section": [
        "The selected section is invalid. Allowed: stats, trends, charts, tables, recent_clicks, "
        "recent_conversions, recent_events"]}),
    ({"section": "stats", "metrics": "clicks"},
     {"metrics": [f"Invalid metric(s) for stats: clicks. Allowed: {STATS_ALLOWED}"]}),
    ({"section": "trends", "metrics": "clicks,total_clicks,bogus"},
     {"metrics": ["Invalid metric(s) for trends: total_clicks, bogus. Allowed: clicks, pageviews, visitors, "
                  "conversions, revenue, commission, product_views, add_to_carts"]}),
    ({"section": "stats", "from": "2024-13-01"}, {"from": ["The from field must be a valid date in YYYY-MM-DD format."]}),
    ({"section": "stats", "to": "yesterday"}, {"to": ["The to field must be a valid date in YYYY-MM-DD format."]}),
    ({"section": "stats", "to": str(TODAY + D(days=1))}, {"to": ["The to field must be a date before or equal to today."]}),
    ({"section": "stats", "from": str(TODAY - D(days=3)), "to": str(TODAY - D(days=4))},
     {"from": ["The from field must be a date before or equal to to."]}),
    ({"section": "stats", "from": "0001-01-02", "to": "0001-01-01"},
     {"from": ["The from field must be a date before or equal to to."]}),
    ({"section": "recent_clicks", "page": "0", "per_page": "101"},
     {"page": ["The page field must be an integer of at least 1."],
      "per_page": ["The per_page field must be an integer between 1 and 100."]}),
    ({"section": "recent_events", "per_page": "abc"},
     {"per_page": ["The per_page field must be an integer between 1 and 100."]}),
    ({"section": "tables", "top_limit": "51"}, {"top_limit": ["The top_limit field must be an integer between 1 and 50."]}),
    # A paging parameter is refused in every section when malformed, also where it is not
    # read (the served document's pattern holds for the parameter, whatever the section).
    ({"section": "charts", "metrics": "nope", "from": "x", "top_limit": "0"},
     {"from": ["The from field must be a valid date in YYYY-MM-DD format."],
      "metrics": ["Invalid metric(s) for charts: nope. Allowed: " + ", ".join(METRICS["charts"])],
      "top_limit": ["The top_limit field must be an integer between 1 and 50."]}),
    ({"section": "stats", "page": "", "per_page": "05"},
     {"page": ["The page field must be an integer of at least 1."],
      "per_page": ["The per_page field must be an integer between 1 and 100."]}),
    ({"section": "recent_clicks", "metrics": "clicks,nope"},
     {"metrics": ["Invalid metric(s) for recent_clicks: nope. Feed sections apply no metrics filtering."]}),
    ({"section": "stats", "metrics": "total_clicks,TOTAL_REVENUE"},
     {"metrics": [f"Invalid metric(s) for stats: TOTAL_REVENUE. Allowed: {STATS_ALLOWED}"]}),
])
async def test_validation_errors_are_422_with_details(http, world, params, details):
    response = await get(http, world.key, **params)
    assert response.status_code == 422
    assert response.json() == validation(**details)
    assert response.headers["content-type"].startswith("application/json")


async def test_a_repeated_parameter_is_a_422(http, world):
    response = await http.get(f"{PATH}?section=stats&section=trends", headers={"Authorization": f"Bearer {world.key}"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("authorization", [None, "Bearer sk_test_short", "Basic abc",
                                           "Bearer sk_test_" + "A" * 32])
async def test_missing_or_invalid_token_is_401(http, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.get(PATH, params={"section": "stats"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": {"code": "UNAUTHORIZED", "message": "Unauthorized"}}
    assert list(response.json()) == ["success", "error"]  # the document's key order


async def test_token_without_reports_read_is_403(http, world):
    response = await get(http, world.no_scope_key, section="stats")
    assert response.status_code == 403
    assert response.json() == {"success": False, "error": {
        "code": "FORBIDDEN", "message": "Forbidden", "details": {"scope": ["The secret key lacks the reports:read scope."]}}}


async def test_unknown_path_and_wrong_method_use_the_family_envelope(http, world):
    missing = await http.get("/v1/affiliate/nothing", headers={"Authorization": f"Bearer {world.key}"})
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": {"code": "NOT_FOUND", "message": "Not Found"}}
    wrong = await http.post(PATH, json={}, headers={"Authorization": f"Bearer {world.key}"})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert wrong.json() == {"success": False, "error": {
        "code": "METHOD_NOT_ALLOWED", "message": "Method POST is not allowed on this path"}}


# --------------------------------------------------------------------------- isolation


async def test_another_account_and_the_live_mode_see_nothing_of_this_data(http, world, deps):
    _, other_key, _, _ = await _tenant(deps, "another business")
    for key in (other_key, world.live_key):
        stats = (await get(http, key, section="stats")).json()["data"]["stats"]
        assert set(stats.values()) == {0}
        feed = (await get(http, key, section="recent_events")).json()["data"]["recent_events"]
        assert feed["data"] == [] and feed["pagination"]["total"] == 0
        tables = (await get(http, key, section="tables")).json()["data"]["tables"]
        assert all(rows == [] for rows in tables.values())


# --------------------------------------------------------------------------- ties


async def test_ties_in_tables_and_breakdowns_are_broken_by_name(http, gateway, deps):
    from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
    from platform_core.paging import timestamp_of

    _, key, _, _ = await _tenant(deps, "ties")
    data = ad.Seeded(affiliates={"b": "Beta", "a": "Alpha", "z": "Alpha"},
                     codes={"CODE-B": "b", "CODE-A": "a", "CODE-Z": "z"}, products={"p2": "Two", "p1": "One"})
    moment = timestamp_of(dt.datetime.combine(TODAY, dt.time(0, 0, 1), dt.timezone.utc))
    ua_desktop, ua_mobile = ad.AGENTS[1], ad.AGENTS[0]
    for code, page, agent in (("CODE-B", "https://s.example/b", ua_desktop), ("CODE-A", "https://s.example/a", ua_mobile),
                              ("CODE-Z", "https://s.example/z", ua_desktop)):
        for kind in ("click", "pageview"):
            record = pb.EventRecord(id=str(uuid.uuid4()), type=kind, occurred_at=moment, tracking_code=code,
                                    page_url=page, user_agent=agent[0], session_id="s")
            data.events.append((record, {"device": agent[1], "browser": agent[2], "os": agent[3], "source": "direct"}))
    for product in ("p2", "p1"):
        record = pb.EventRecord(id=str(uuid.uuid4()), type="product_view", occurred_at=moment, product_id=product)
        data.events.append((record, {"device": "unknown", "browser": "Other", "os": "Other", "source": "direct"}))
    for i, code in enumerate(("CODE-B", "CODE-A", "CODE-Z")):
        data.conversions.append(pb.ConversionRecord(order_id=f"O{i}", tracking_code=code, order_total="10.00",
                                                    commission="1.00", currency="USD", occurred_at=moment))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.service_ports['affiliate'][0]}") as channel:
        await ad.Ingest(channel, key).all(data)
    tables = (await get(http, key, section="tables", **{"from": str(TODAY)})).json()["data"]["tables"]
    assert tables == ad.expected_tables(data, TODAY, TODAY)
    assert [r["page_url"] for r in tables["top_pages"]] == ["https://s.example/a", "https://s.example/b",
                                                            "https://s.example/z"]
    assert [r["tracking_code"] for r in tables["top_tracking_codes"]] == ["CODE-A", "CODE-B", "CODE-Z"]
    # Equal revenue, conversions and clicks: by name, then by affiliate id (two are "Alpha").
    assert [r["name"] for r in tables["top_affiliates"]] == ["Alpha", "Alpha", "Beta"]
    assert [r["product_id"] for r in tables["top_products"]] == ["p1", "p2"]
    charts = (await get(http, key, section="charts", **{"from": str(TODAY)},
                        metrics="device_breakdown,browser_breakdown")).json()["data"]["charts"]
    assert charts["device_breakdown"] == {"labels": ["desktop", "mobile"], "data": [2, 1]}
    assert charts["browser_breakdown"] == {"labels": ["Chrome", "Mobile Safari"], "data": [2, 1]}
