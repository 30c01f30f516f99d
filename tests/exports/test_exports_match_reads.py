"""Every family's export agrees with the family's own read API (issue 16, "What it must
show"): on the demo data of `make run` (stack.demo, written through the ingestion
commands, so that every projection the read APIs use is built as in production), each
source is exported as Parquet through the real gateway, parsed back with pyarrow and
compared row by row with the documented read API over the same window; where the API
gives only aggregates, the same aggregates are computed from the file's rows and must
be exactly the API's figures."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import decimal
import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from platform_core import accounts, db
from platform_core.paging import timestamp_of
from stack import demo, demo_affiliate
from stack.run import seed_demo
from tests.support.exports import auth, read_rows, stack_of_its_own, wait_for_export

TODAY = dt.datetime.now(dt.timezone.utc).date()
# Three whole UTC days before today: every API's date parameters name them exactly, and
# the export's [start, end) is their first midnight to the midnight after the last.
FIRST_DAY = TODAY - dt.timedelta(days=3)
LAST_DAY = TODAY - dt.timedelta(days=1)
START = dt.datetime.combine(FIRST_DAY, dt.time(), dt.timezone.utc)
END = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
DAYS = [FIRST_DAY + dt.timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]
KEY = demo.DEMO_KEY
CAMPAIGN = demo.demo_id("campaign", 0)  # "Spring Sale"
VOUCHER = demo.voucher_id(0)  # SUMMER2024, the busiest


def z(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def instant(text: str) -> dt.datetime:
    """An RFC 3339 timestamp of any of the families' spellings (fraction or not)."""
    return dt.datetime.fromisoformat(text)


def money(value) -> decimal.Decimal:
    """A JSON number (the nearest double of a cent amount) or a decimal string, exactly."""
    return decimal.Decimal(repr(value) if isinstance(value, float) else str(value))


# --------------------------------------------------------------------------- the window's edges

# The demo's times are whole seconds well inside the days; these rows sit a microsecond
# either side of the window's bounds (and of each landing dashboard's local midnights),
# so that every side must draw the line at the same instant.
EDGES = (START - dt.timedelta(microseconds=1), START, END - dt.timedelta(microseconds=1), END)


def edge_id(kind: str, n: int) -> str:
    return str(uuid.uuid5(demo.NAMESPACE, f"edge-{kind}-{n}"))


def inside(rows: list[dict], column: str, edges: list) -> bool:
    """Whether, of the four rows at EDGES, exactly the two inside [START, END) were exported."""
    return [e for e in edges if e in {r[column] for r in rows}] == edges[1:3]


async def seed_edges(database_url: str) -> None:
    """Rows of every family at EDGES, through the same ingestion commands as the demo."""
    from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as apb
    from partnerlytics.instance.v1 import instance_ingestion_pb2 as ipb
    from partnerlytics.landing.v1 import landing_analytics_pb2 as lpb
    from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb

    from services.affiliate import ingest as affiliate_ingest
    from services.instance import ingest as instance_ingest
    from services.landing.queries import local_days
    from services.landing.store import EventRow, store_events
    from services.voucher import ingest as voucher_ingest

    engine = db.create_engine(database_url, pool_size=1)
    try:
        sessions = db.sessionmaker(engine)
        async with sessions() as session:
            who = await accounts.find_principal(session, KEY)
        insider = demo.demo_id("insider", 0)
        steps = [
            (instance_ingest.create_instances, "instances", [ipb.InstanceRecord(
                id=edge_id("instance", n), campaign_id=CAMPAIGN, insider_id=insider, timestamp=timestamp_of(at))
                for n, at in enumerate(EDGES)]),
            (instance_ingest.create_events, "events", [ipb.EventRecord(
                id=edge_id("event", n), instance_id=edge_id("instance", n), name="page view",
                tracker_type=ipb.TrackerType.TRACKER_TYPE_PAGE_VIEW, created_at=timestamp_of(at),
                metadata={"url": "https://shop.example.com/edge", "user_agent": "Mozilla/5.0 (edge)"})
                for n, at in enumerate(EDGES)]),
            (instance_ingest.create_orders, "orders", [ipb.OrderRecord(
                id=edge_id("order", n), instance_id=edge_id("instance", n), purchased_insider_id=insider,
                total="10.01", currency="USD", status="completed", created_at=timestamp_of(at),
                items=[ipb.OrderItemRecord(product_id="prod_edge", quantity=1, price="10.01")],
                discounted_price="9.51", cashfunds_used="0.25", credits_used="0.25")
                for n, at in enumerate(EDGES)]),
            (affiliate_ingest.record_events, "events", [apb.EventRecord(
                id=edge_id("affiliate-event", n * 2 + k), type=kind, occurred_at=timestamp_of(at),
                user_agent=demo_affiliate.AGENTS[n], tracking_code="AFF-JANE-001", session_id=f"sess_edge_{n}",
                page_url="https://shop.example.com/products/edge", country="DE")
                for n, at in enumerate(EDGES) for k, kind in enumerate(("click", "pageview"))]),
            (affiliate_ingest.record_conversions, "conversions", [apb.ConversionRecord(
                order_id=f"ORD-EDGE-{n}", tracking_code="AFF-JANE-001", order_total="100.01", commission="15.00",
                currency="USD", occurred_at=timestamp_of(at), product_ids=["prod_000"])
                for n, at in enumerate(EDGES)]),
            (voucher_ingest.create_redemptions, "redemptions", [vpb.RedemptionRecord(
                id=f"red_edge_{n}", voucher_id=VOUCHER, customer_id=f"cus_demo_{190 + n:04d}", order_total=10001,
                discount=1001, redeemed_at=timestamp_of(at)) for n, at in enumerate(EDGES)]),
        ]
        for command, kind, records in steps:
            async with sessions() as session:
                await command(session, who, records, kind)
        now = dt.datetime.now(dt.timezone.utc)
        landing = []
        for tenant, _name, zone in demo.LANDING_TENANTS:
            days = local_days(now, zone, 7)
            for n, day in enumerate((days[0], days[-1])):
                midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(zone))
                for k, at in enumerate((midnight - dt.timedelta(microseconds=1), midnight)):
                    landing.append(EventRow(
                        tenant, zone, at, lpb.EventType.Value("EVENT_TYPE_TIME_ON_PAGE"), f"edge-{tenant}-{n}-{k}".ljust(45, "0"), 90_000, "Mozilla/5.0 (edge)",
                        "", {"seconds": 90}))
        async with engine.connect() as conn:
            await store_events(conn, landing)
            await conn.commit()
    finally:
        await engine.dispose()


def seed(urls) -> None:
    """`make run`'s demo data, then the edge rows (in the fixture's seeding thread)."""
    seed_demo(urls.owner)
    asyncio.run(seed_edges(urls.owner))


# --------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture(scope="module")
async def http(database_server, tmp_path_factory):
    """The whole stack on a database of its own (the demo account's ids are fixed) with
    `make run`'s demo data, its documented rate limits raised so that paging every row
    is allowed."""
    with stack_of_its_own(database_server, tmp_path_factory.mktemp("exportreads-stack"), "exportreads",
                          seed=seed,
                          RATE_LIMITS="instances.list=1000/3600,instances.details=1000/3600,"
                                      "campaigns.analytics=1000/3600") as (_urls, stack):
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as client:
            yield client


async def exported(http, source: str, filters: dict, start: dt.datetime = START,
                   end: dt.datetime | None = END) -> list[dict]:
    """The source's rows over [start, end) as a Parquet file, downloaded and parsed back."""
    body = {"source": source, "format": "parquet", "start": z(start), "filters": filters}
    if end is not None:
        body["end"] = z(end)
    response = await http.post("/v1/exports", json=body, headers=auth(KEY))
    assert response.status_code == 200, response.text
    job = await wait_for_export(http, KEY, response.json()["export"]["export_id"])
    assert job["status"] == "completed", job
    file = await http.get(f"/v1/exports/{job['export_id']}/download", headers=auth(KEY))
    assert file.status_code == 200, file.text
    rows = read_rows("parquet", file.content, source)
    assert len(rows) == job["records_written"]
    return rows


async def get(http, path: str, **params) -> dict:
    response = await http.get(path, params=params, headers=auth(KEY))
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


# --------------------------------------------------------------------------- instance


async def instance_list(http, **params) -> tuple[list[dict], int]:
    """Every page of the instance list over the window, and its pagination total."""
    listed, page = [], 1
    while True:
        body = await get(http, "/partner/v1/instances/analytics", time_frame="custom", start_date=str(FIRST_DAY),
                         end_date=str(LAST_DAY), page=str(page), limit="100", **params)
        listed += body["data"]
        if not body["pagination"]["hasNext"]:
            return listed, body["pagination"]["total"]
        page += 1


def list_rows(rows: list[dict]) -> list[dict]:
    """Exported journeys as the list's rows, in the list's order: newest first, ties by id
    (the export is oldest first, ties by id)."""
    ordered = sorted(sorted(rows, key=lambda r: r["instance_id"]), key=lambda r: instant(r["started_at"]),
                     reverse=True)  # sorted() is stable: ids stay ascending within a timestamp
    return [{"timestamp": instant(r["started_at"]), "instance_id": r["instance_id"], "is_purchase": r["is_purchase"],
             "insider_id": r["insider_id"], "purchased_insider_id": r["purchased_insider_id"]} for r in ordered]


def as_listed(listed: list[dict]) -> list[dict]:
    return [{"timestamp": instant(r["timestamp"]), "instance_id": r["instance_id"], "is_purchase": r["is_purchase"],
             "insider_id": r["insider_id"], "purchased_insider_id": r["purchased_insider_id"]} for r in listed]


async def test_instance_journeys_are_the_instance_lists_rows_and_their_details(http):
    rows = await exported(http, "instance_journeys", {})
    assert len(rows) > 100  # a few pages of the list, several detail requests
    assert inside(rows, "instance_id", [edge_id("instance", n) for n in range(4)])
    listed, total = await instance_list(http)
    assert total == len(rows) and as_listed(listed) == list_rows(rows)
    purchases = await exported(http, "instance_journeys", {"is_purchase": "true"})
    assert purchases == [r for r in rows if r["is_purchase"]]
    listed, total = await instance_list(http, is_purchased="true")
    assert total == len(purchases) > 10 and as_listed(listed) == list_rows(purchases)

    details = []
    for first in range(0, len(rows), 50):
        response = await http.post("/partner/v1/instances/analytics", params={"events": "all"}, headers=auth(KEY),
                                   json={"instance_ids": [r["instance_id"] for r in rows[first:first + 50]]})
        assert response.status_code == 200, response.text
        details += response.json()["data"]
    assert [journey_of_details(d) for d in details] == [journey_of_export(r) for r in rows]


def journey_of_export(row: dict) -> dict:
    """An exported journey in the form both sides can give: decimals exact, times parsed."""
    order = row["orders"][0] if row["orders"] else None
    assert len(row["orders"]) <= 1  # the details show one order per instance
    return {
        "instance_id": row["instance_id"], "insider_id": row["insider_id"], "campaign_id": row["campaign_id"],
        "purchased_insider_id": row["purchased_insider_id"], "is_purchase": row["is_purchase"],
        "events": [{"id": e["id"], "name": e["name"], "tracker_type": e["tracker_type"],
                    "reference_id": e["reference_id"], "created_at": instant(e["created_at"]),
                    "metadata": e["metadata"]} for e in row["events"]],
        "order": order and {
            "id": order["id"], "total": money(order["total"]), "currency": order["currency"],
            "status": order["status"], "created_at": instant(order["created_at"]),
            "items": [{"product_id": i["product_id"], "quantity": i["quantity"], "price": money(i["price"])}
                      for i in order["items"]]},
        "insider_rewards": [{"id": r["id"], "insider_id": r["insider_id"], "type": r["type"],
                             "amount": money(r["amount"]), "currency": r["currency"], "status": r["status"],
                             "created_at": instant(r["created_at"])} for r in row["rewards"]],
        # docs/architecture.md: with a purchase and no discount, the discounted price is the total.
        "order_discounted_price": order and money(order["discounted_price"] or order["total"]),
        "cashfunds_use": money(order["cashfunds_used"]) if order else decimal.Decimal(0),
        "credits_used": money(order["credits_used"]) if order else decimal.Decimal(0),
    }


def journey_of_details(d: dict) -> dict:
    order = d["order"]
    return {
        "instance_id": d["instance_id"], "insider_id": d["insider_id"], "campaign_id": d["campaign_id"],
        "purchased_insider_id": d["purchased_insider_id"], "is_purchase": d["is_purchase"],
        "events": [{"id": e["id"], "name": e["name"], "tracker_type": e["tracker_type"],
                    "reference_id": e.get("reference_id"), "created_at": instant(e["created_at"]),
                    "metadata": e["metadata"]} for e in d["events"]],
        "order": order and {
            "id": order["id"], "total": money(order["total"]), "currency": order["currency"],
            "status": order["status"], "created_at": instant(order["created_at"]),
            "items": [{"product_id": i["product_id"], "quantity": i["quantity"], "price": money(i["price"])}
                      for i in order["items"]]},
        "insider_rewards": [{"id": r["id"], "insider_id": r["insider_id"], "type": r["type"],
                             "amount": money(r["amount"]), "currency": r["currency"], "status": r["status"],
                             "created_at": instant(r["created_at"])} for r in d["insider_rewards"]],
        "order_discounted_price": None if d["order_discounted_price"] is None else money(d["order_discounted_price"]),
        "cashfunds_use": money(d["cashfunds_use"]),
        "credits_used": money(d["credits_used"]),
    }


# --------------------------------------------------------------------------- campaign


@pytest.mark.parametrize("is_purchase", ["all", "true", "false"])
async def test_campaign_instances_are_the_campaign_analytics_instances(http, is_purchase):
    filters = {"campaign_id": CAMPAIGN} | ({} if is_purchase == "all" else {"is_purchase": is_purchase})
    rows = await exported(http, "campaign_instances", filters)
    everything = rows if is_purchase == "all" else await exported(http, "campaign_instances",
                                                                  {"campaign_id": CAMPAIGN})
    assert rows and inside(everything, "instance_id", [edge_id("instance", n) for n in range(4)])
    listed, page = [], 1
    while True:
        body = await get(http, f"/api/partner/v1/campaigns/{CAMPAIGN}/analytics", time_frame="custom_range",
                         start_date=str(FIRST_DAY), end_date=str(LAST_DAY), is_purchase=is_purchase,
                         page=str(page), limit="100")
        listed += body["data"]["instances"]
        if not body["pagination"]["hasNext"]:
            break
        page += 1
    assert body["pagination"]["total"] == len(rows)
    # Both newest first, in the same order, row for row.
    assert [{"timestamp": instant(r["timestamp"]), "instance_id": r["instance_id"], "is_purchase": r["is_purchase"],
             "insider_id": r["insider_id"], "purchased_insider_id": r["purchased_insider_id"],
             "revenue": money(r["revenue"])} for r in listed] == [
        {"timestamp": instant(r["timestamp"]), "instance_id": r["instance_id"], "is_purchase": r["is_purchase"],
         "insider_id": r["insider_id"], "purchased_insider_id": r["purchased_insider_id"],
         "revenue": r["revenue"]} for r in rows]
    # The summary covers the whole window, whatever the filter.
    purchases = sum(r["is_purchase"] for r in everything)
    assert body["data"]["summary"] == {
        "total_instances": len(everything), "purchase_instances": purchases,
        "non_purchase_instances": len(everything) - purchases,
        "total_revenue": float(sum(r["revenue"] for r in everything)),
        "conversion_rate": float((decimal.Decimal(purchases) / len(everything)).quantize(
            decimal.Decimal("0.0001"), decimal.ROUND_HALF_UP))}


# --------------------------------------------------------------------------- affiliate


async def test_affiliate_conversions_are_the_recent_conversions_feed(http):
    rows = await exported(http, "affiliate_conversions", {})
    assert len(rows) > 10 and inside(rows, "order_id", [f"ORD-EDGE-{n}" for n in range(4)])
    feed, page = [], 1
    while True:
        body = (await get(http, "/v1/affiliate/analytics", section="recent_conversions", **{"from": str(FIRST_DAY)},
                          to=str(LAST_DAY), page=str(page), per_page="7"))["data"]["recent_conversions"]
        feed += body["data"]
        if page >= body["pagination"]["last_page"]:
            break
        page += 1
    assert body["pagination"]["total"] == len(rows)
    # The feed is newest first (ties: the later id first), the export oldest first.
    assert [{"order_id": c["order_id"], "created_at": instant(c["created_at"]), "tracking_code": c["tracking_code"],
             "order_total": money(c["order_total"]), "commission": money(c["commission"]),
             "currency": c["currency"]} for c in feed] == [
        {"order_id": r["order_id"], "created_at": instant(r["occurred_at"]), "tracking_code": r["tracking_code"],
         "order_total": r["order_total"], "commission": r["commission"], "currency": r["currency"]}
        for r in reversed(rows)]


async def feed(http, section: str) -> list[dict]:
    """Every page of an affiliate feed over the window (the pagination total checked)."""
    rows, page = [], 1
    while True:
        body = (await get(http, "/v1/affiliate/analytics", section=section, **{"from": str(FIRST_DAY)},
                          to=str(LAST_DAY), page=str(page), per_page="100"))["data"][section]
        rows += body["data"]
        if page >= body["pagination"]["last_page"]:
            assert body["pagination"]["total"] == len(rows)
            return rows
        page += 1


async def test_affiliate_events_are_the_recent_events_and_clicks_feeds(http):
    rows = await exported(http, "affiliate_events", {})
    assert len(rows) > 200
    assert inside(rows, "session_id", [f"sess_edge_{n}" for n in range(4)])
    # Newest first (ties: the later id first), the export oldest first: one reversed.
    fields = ("tracking_code", "referrer_url", "page_url", "device", "country")
    assert [{"type": e["type"], "product_id": e["product_id"], "created_at": instant(e["created_at"]),
             **{f: e[f] for f in fields}} for e in await feed(http, "recent_events")] == [
        {"type": r["event_type"], "product_id": r["product_id"], "created_at": instant(r["occurred_at"]),
         **{f: r[f] for f in fields}} for r in reversed(rows)]
    assert [{"created_at": instant(c["created_at"]), **{f: c[f] for f in fields}}
            for c in await feed(http, "recent_clicks")] == [
        {"created_at": instant(r["occurred_at"]), **{f: r[f] for f in fields}}
        for r in reversed(rows) if r["event_type"] == "click"]


def ranked(rows: list[dict], *keys: str) -> list[dict]:
    """docs/architecture.md's table order: each key descending, the label (last) ascending."""
    *figures, label = keys
    return sorted(rows, key=lambda r: (*(-r[k] for k in figures), r[label]))


async def test_affiliate_rows_add_up_to_the_tables(http):
    events = await exported(http, "affiliate_events", {})
    conversions = await exported(http, "affiliate_conversions", {})
    tables = (await get(http, "/v1/affiliate/analytics", section="tables", **{"from": str(FIRST_DAY)},
                        to=str(LAST_DAY), top_limit="50"))["data"]["tables"]
    pages = collections.defaultdict(lambda: {"pageviews": 0, "clicks": 0})
    codes = collections.defaultdict(lambda: {"clicks": 0, "conversions": 0, "revenue": decimal.Decimal(0)})
    products = collections.defaultdict(lambda: {"views": 0, "conversions": 0})
    for e in events:
        if e["event_type"] in ("pageview", "click"):
            pages[e["page_url"]][e["event_type"] + "s"] += 1
        if e["event_type"] == "click" and e["tracking_code"]:
            codes[e["tracking_code"]]["clicks"] += 1
        if e["event_type"] == "product_view":
            products[e["product_id"]]["views"] += 1
    for c in conversions:
        codes[c["tracking_code"]]["conversions"] += 1
        codes[c["tracking_code"]]["revenue"] += c["order_total"]
        for product in set(c["product_ids"]):
            products[product]["conversions"] += 1
    assert tables["top_pages"] == ranked([{"page_url": k, **v} for k, v in pages.items()],
                                         "pageviews", "clicks", "page_url")[:50]
    assert tables["top_tracking_codes"] == [{**row, "revenue": float(row["revenue"])} for row in ranked(
        [{"tracking_code": k, **v} for k, v in codes.items()], "clicks", "conversions", "tracking_code")[:50]]
    assert tables["top_products"] == ranked(
        [{"product_id": k, "name": demo_affiliate.PRODUCTS.get(k, k), **v} for k, v in products.items()],
        "views", "conversions", "product_id")[:50]


def per_day(rows: list[dict], when: str, value=lambda r: 1) -> list:
    sums = collections.Counter()
    for r in rows:
        sums[instant(r[when]).date()] += value(r)
    return [sums[day] for day in DAYS]


def breakdown(clicks: list[dict], field: str, empty: str) -> dict:
    counts = collections.Counter(r[field] or empty for r in clicks)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"labels": [k for k, _ in ordered], "data": [v for _, v in ordered]}


def ratio(part: int, whole: int, scale: int = 100) -> float:
    if not whole:
        return 0
    return float((decimal.Decimal(part) * scale / whole).quantize(decimal.Decimal("0.01"), decimal.ROUND_HALF_UP))


async def test_affiliate_events_counted_per_type_are_the_stats_and_charts(http):
    events = await exported(http, "affiliate_events", {})
    conversions = await exported(http, "affiliate_conversions", {})
    window = {"from": str(FIRST_DAY), "to": str(LAST_DAY)}
    kinds = collections.Counter(e["event_type"] for e in events)
    sessions = {(instant(e["occurred_at"]).date(), e["session_id"]) for e in events if e["event_type"] == "pageview"}
    revenue = sum(r["order_total"] for r in conversions)
    stats = (await get(http, "/v1/affiliate/analytics", section="stats", **window))["data"]["stats"]
    assert stats == {
        "total_clicks": kinds["click"], "total_pageviews": kinds["pageview"], "unique_visitors": len(sessions),
        "pages_per_visit": ratio(kinds["pageview"], len(sessions), 1), "total_conversions": len(conversions),
        "total_revenue": float(revenue), "total_commission": float(sum(r["commission"] for r in conversions)),
        "conversion_rate": ratio(len(conversions), kinds["click"]),
        "total_product_views": kinds["product_view"], "total_add_to_carts": kinds["add_to_cart"],
        "total_remove_from_carts": kinds["remove_from_cart"], "total_thank_you_views": kinds["thank_you_view"],
        "cart_to_conversion_rate": ratio(len(conversions), kinds["add_to_cart"])}

    charts = (await get(http, "/v1/affiliate/analytics", section="charts", **window))["data"]["charts"]
    labels = [str(day) for day in DAYS]
    of = {kind: [e for e in events if e["event_type"] == kind] for kind in kinds}
    clicks = of["click"]
    assert charts == {
        "clicks_over_time": {"labels": labels, "data": per_day(clicks, "occurred_at")},
        "pageviews_over_time": {"labels": labels, "data": per_day(of["pageview"], "occurred_at")},
        "device_breakdown": breakdown(clicks, "device", "unknown"),
        "conversions_over_time": {"labels": labels, "data": per_day(conversions, "occurred_at")},
        "revenue_over_time": {"labels": labels, "data": [
            float(v) for v in per_day(conversions, "occurred_at", lambda r: r["order_total"])]},
        "product_views_over_time": {"labels": labels, "data": per_day(of["product_view"], "occurred_at")},
        "add_to_carts_over_time": {"labels": labels, "data": per_day(of["add_to_cart"], "occurred_at")},
        "country_breakdown": breakdown(clicks, "country", "unknown"),
        "browser_breakdown": breakdown(clicks, "browser", "Other"),
        "os_breakdown": breakdown(clicks, "os", "Other"),
        "traffic_source_breakdown": breakdown(clicks, "traffic_source", "direct")}


# --------------------------------------------------------------------------- voucher


def whole_units(value: decimal.Decimal) -> int:
    return int(value.quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP))


async def test_voucher_redemptions_add_up_to_the_vouchers_figures(http):
    rows = await exported(http, "voucher_redemptions", {"voucher_id": VOUCHER})
    assert len(rows) > 10 and {r["voucher_id"] for r in rows} == {VOUCHER}
    assert inside(rows, "redemption_id", [f"red_edge_{n}" for n in range(4)])
    window = {"start_date": str(FIRST_DAY), "end_date": str(LAST_DAY)}
    path = f"/v1/analytics/vouchers/{VOUCHER}"
    customers = {r["customer_id"] for r in rows}
    totals = sum(r["order_total"] for r in rows)
    performance = await get(http, f"{path}/performance", **window)
    assert performance["code"] == rows[0]["code"] and performance["currency"] == rows[0]["currency"]
    figures = performance["performance"]
    assert {k: figures[k] for k in ("total_uses", "total_discount", "avg_order_value", "revenue_impact",
                                     "unique_customers", "repeat_usage")} == {
        "total_uses": len(rows), "total_discount": sum(r["discount"] for r in rows),
        "avg_order_value": whole_units(decimal.Decimal(totals) / len(rows)),
        "revenue_impact": sum(r["order_total"] - r["discount"] for r in rows),
        "unique_customers": len(customers), "repeat_usage": len(rows) - len(customers)}

    trends = await get(http, f"{path}/trends", interval="day", **window)
    assert [{"date": p["date"], "uses": p["uses"], "discount": p["discount"]} for p in trends["trends"]] == [
        {"date": str(day), "uses": uses, "discount": discount} for day, uses, discount in zip(
            DAYS, per_day(rows, "redeemed_at"), per_day(rows, "redeemed_at", lambda r: r["discount"]))]
    assert (trends["summary"]["total_period_uses"], trends["summary"]["total_period_discount"]) == (
        len(rows), sum(r["discount"] for r in rows))

    insights = (await get(http, f"{path}/customers", **window))["customer_insights"]
    segment_of = {r["customer_id"]: r["segment"] for r in rows}
    region_of = {r["customer_id"]: r["region"] for r in rows}
    segments = collections.Counter(segment_of.values())
    regions = collections.Counter(region_of.values())
    assert insights["total_customers"] == len(customers)
    assert insights["avg_customer_value"] == whole_units(decimal.Decimal(totals) / len(customers))
    assert [(s["segment"], s["count"]) for s in insights["top_customer_segments"]] == sorted(
        segments.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(g["region"], g["count"]) for g in insights["geographic_distribution"]] == sorted(
        regions.items(), key=lambda kv: (-kv[1], kv[0]))
    # The family's own export (one row per voucher and day) sums the same rows per day.
    created = await http.post("/v1/analytics/export", headers=auth(KEY), json={
        "voucher_ids": [VOUCHER], "metrics": ["uses", "discount", "unique_customers"], "format": "json",
        "time_period": {"start": str(FIRST_DAY), "end": str(LAST_DAY)}})
    assert created.status_code == 200, created.text
    for _ in range(300):
        status = await get(http, f"/v1/analytics/export/{created.json()['export_id']}")
        if status["status"] != "processing":
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "completed", status
    own = await http.get(f"/v1/analytics/export/{created.json()['export_id']}/download", headers=auth(KEY))
    assert own.status_code == 200, own.text
    assert [(r["date"], r["uses"], r["discount"], r["unique_customers"]) for r in own.json()["records"]] == [
        (str(day), uses, discount, customers) for day, uses, discount, customers in zip(
            DAYS, per_day(rows, "redeemed_at"), per_day(rows, "redeemed_at", lambda r: r["discount"]),
            [len({r["customer_id"] for r in rows if instant(r["redeemed_at"]).date() == day}) for day in DAYS])]
    for segment in insights["top_customer_segments"]:
        theirs = [r for r in rows if r["segment"] == segment["segment"]]
        assert segment["avg_order_value"] == whole_units(
            decimal.Decimal(sum(r["order_total"] for r in theirs)) / len(theirs)), segment


# --------------------------------------------------------------------------- landing


@pytest.mark.parametrize("tenant", [t[0] for t in demo.LANDING_TENANTS])
async def test_landing_events_add_up_to_the_dashboards_figures(http, tenant):
    zone = ZoneInfo({t[0]: t[2] for t in demo.LANDING_TENANTS}[tenant])
    dashboard = (await get(http, f"/api/analytics/{tenant}"))["data"]
    days = [dt.date.fromisoformat(d["date"]) for d in dashboard["last_7_days"]]
    # The dashboard's week, in the tenant's zone: from its first local midnight to now.
    start = dt.datetime.combine(days[0], dt.time(), zone).astimezone(dt.timezone.utc)
    rows = await exported(http, "landing_events", {"tenant_id": str(tenant)}, start=start, end=None)
    assert len(rows) > 100
    # The edges: a microsecond before the week's first local midnight (out), that midnight,
    # and either side of today's (in).
    edges = {r["visitor_hash"][:len(f"edge-{tenant}-0-0")] for r in rows if r["visitor_hash"].startswith("edge-")}
    assert edges == {f"edge-{tenant}-0-1", f"edge-{tenant}-1-0", f"edge-{tenant}-1-1"}
    local = [(instant(r["occurred_at"]).astimezone(zone).date(), r) for r in rows]
    visitors = {day: {r["visitor_hash"] for d, r in local if d == day} for day in days}
    kinds = collections.Counter(r["event_type"] for r in rows)
    durations = [r["duration_ms"] for r in rows if r["event_type"] == "time_on_page"]
    assert dashboard == {
        "visitors_today": len(visitors[days[-1]]),
        "visitors_week": sum(len(v) for v in visitors.values()),
        "whatsapp_clicks": kinds["click_whatsapp"], "call_clicks": kinds["click_call"],
        "currency_toggles": kinds["click_toggle_currency"], "qr_scans": kinds["qr_scan"],
        "avg_time_on_page": whole_units(decimal.Decimal(sum(durations)) / len(durations) / 1000),
        "last_7_days": [{"date": str(day), "visitors": len(visitors[day])} for day in days]}
    today = await get(http, f"/api/analytics/{tenant}/today")
    of_today = [r for d, r in local if d == days[-1]]
    assert today == {"success": True, "visitors_today": len(visitors[days[-1]]),
                     "whatsapp_clicks": sum(r["event_type"] == "click_whatsapp" for r in of_today),
                     "qr_scans": sum(r["event_type"] == "qr_scan" for r in of_today),
                     "products_viewed": sum(r["event_type"] == "product_click" for r in of_today)}
