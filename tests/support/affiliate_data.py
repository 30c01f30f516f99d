"""Deterministic affiliate tracking data for tests, and expectations computed from it
independently of the service (plain Python over the records, no SQL, no service code)."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import math
import random
import uuid
from dataclasses import dataclass, field

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as pb_grpc
from platform_core.paging import timestamp_of
from tests.support.contract import rfc3339

# User-Agents with the classification a person reads off them: (ua, device, browser, os).
AGENTS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "mobile", "Mobile Safari", "iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36", "desktop", "Chrome", "Windows"),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
     "Mobile/15E148 Safari/604.1", "tablet", "Mobile Safari", "iOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
     "Safari/537.36", "mobile", "Chrome Mobile", "Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
     "Safari/605.1.15", "desktop", "Safari", "Mac OS X"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "desktop", "Firefox", "Linux"),
]
# (referrer, utm_source, utm_medium, traffic source)
REFERRERS = [
    ("https://www.google.com/search?q=widget", "", "", "search"),
    ("https://blog.example.com/review", "", "", "referral"),
    ("", "", "", "direct"),
    ("https://t.co/abc", "", "", "social"),
    ("https://blog.example.com/review", "newsletter", "email", "email"),
    ("", "google", "cpc", "paid"),
]
COUNTRIES = ["US", "DE", "GB", "", "FR"]
PAGES = [f"https://shop.example.com/p/{i}" for i in range(6)]
PRODUCTS = [f"prod_{i}" for i in range(5)]
CENT = decimal.Decimal("0.01")


@dataclass
class Seeded:
    affiliates: dict[str, str] = field(default_factory=dict)  # id -> name
    codes: dict[str, str] = field(default_factory=dict)  # code -> affiliate id
    products: dict[str, str] = field(default_factory=dict)  # product id -> name
    events: list[tuple[pb.EventRecord, dict]] = field(default_factory=list)  # record, derived facts
    conversions: list[pb.ConversionRecord] = field(default_factory=list)


def at(record) -> dt.datetime:
    return record.occurred_at.ToDatetime(tzinfo=dt.timezone.utc)


def build(today: dt.date, seed: int = 7, n_events: int = 600, n_conversions: int = 60) -> Seeded:
    """Events and conversions over the 40 days up to today, with empty days and ties."""
    rng = random.Random(seed)
    data = Seeded()
    data.affiliates = {"aff_jane": "Jane Smith", "aff_bob": "Bob Jones", "aff_cara": "Cara Diaz", "aff_idle": "Idle"}
    data.codes = {"AFF-JANE-001": "aff_jane", "AFF-JANE-002": "aff_jane", "AFF-BOB-001": "aff_bob",
                  "AFF-CARA-001": "aff_cara", "AFF-IDLE-001": "aff_idle"}
    data.products = {p: f"Product {p[-1]}" for p in PRODUCTS[:-1]}  # the last one has no name
    active_codes = [c for c in data.codes if c != "AFF-IDLE-001"]
    empty_days = {today - dt.timedelta(days=d) for d in (3, 4, 12)}
    start = dt.datetime.combine(today - dt.timedelta(days=40), dt.time(), dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    span = int((now - start).total_seconds()) - 60
    kinds = ["click"] * 5 + ["pageview"] * 6 + ["product_view"] * 3 + ["add_to_cart"] * 2 + ["remove_from_cart",
                                                                                                "thank_you_view"]
    previous_moment = None
    for i in range(n_events):
        moment = start + dt.timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        if moment.date() in empty_days:
            continue
        if i % 29 == 0 and previous_moment is not None:
            moment = previous_moment  # a tie on created_at: id breaks it
        previous_moment = moment
        kind = rng.choice(kinds)
        ua, device, browser, os = rng.choice(AGENTS)
        referrer, utm_source, utm_medium, source = rng.choice(REFERRERS)
        country = rng.choice(COUNTRIES)
        record = pb.EventRecord(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), type=kind, occurred_at=timestamp_of(moment),
            user_agent=ua, referrer_url=referrer, utm_source=utm_source, utm_medium=utm_medium, country=country,
        )
        if kind == "click" or rng.random() < 0.3:
            record.tracking_code = rng.choice(active_codes)
        if kind in ("click", "pageview") or rng.random() < 0.5:
            record.page_url = rng.choice(PAGES)
        if kind == "pageview" or rng.random() < 0.5:
            record.session_id = f"s{rng.randrange(120)}"
        if kind in ("product_view", "add_to_cart", "remove_from_cart"):
            record.product_id = rng.choice(PRODUCTS)
        data.events.append((record, {"device": device, "browser": browser, "os": os, "source": source}))
    for i in range(n_conversions):
        moment = start + dt.timedelta(seconds=rng.randrange(span))
        if moment.date() in empty_days:
            continue
        total = decimal.Decimal(rng.randrange(500, 30000)) / 100
        data.conversions.append(pb.ConversionRecord(
            order_id=f"ORD-{i:05d}", tracking_code=rng.choice(active_codes), order_total=str(total),
            commission=str((total * decimal.Decimal("0.15")).quantize(CENT)), currency="USD",
            occurred_at=timestamp_of(moment), product_ids=rng.sample(PRODUCTS, rng.randrange(0, 3)),
        ))
    return data


class Ingest:
    """The ingestion service with a key."""

    def __init__(self, channel, key: str) -> None:
        self.stub = pb_grpc.AffiliateIngestionServiceStub(channel)
        self.md = (("authorization", f"Bearer {key}"),)

    async def all(self, data: Seeded) -> None:
        await self.stub.UpsertAffiliates(pb.UpsertAffiliatesRequest(affiliates=[
            pb.AffiliateRecord(id=k, name=v) for k, v in data.affiliates.items()]), metadata=self.md)
        await self.stub.CreateTrackingCodes(pb.CreateTrackingCodesRequest(tracking_codes=[
            pb.TrackingCodeRecord(code=k, affiliate_id=v) for k, v in data.codes.items()]), metadata=self.md)
        await self.stub.UpsertProducts(pb.UpsertProductsRequest(products=[
            pb.ProductRecord(product_id=k, name=v) for k, v in data.products.items()]), metadata=self.md)
        events = [e for e, _ in data.events]
        for start in range(0, len(events), 250):
            await self.stub.RecordEvents(pb.RecordEventsRequest(events=events[start:start + 250]), metadata=self.md)
        await self.stub.RecordConversions(pb.RecordConversionsRequest(conversions=data.conversions), metadata=self.md)


# --------------------------------------------------------------------------- expectations


def _in(record, first: dt.date, last: dt.date) -> bool:
    return first <= at(record).date() <= last


def _pct(a, b) -> float:
    if not b:
        return 0.0
    return float((decimal.Decimal(a) * 100 / decimal.Decimal(b)).quantize(CENT, decimal.ROUND_HALF_UP))


def totals(data: Seeded, first: dt.date, last: dt.date) -> dict:
    events = [e for e, _ in data.events if _in(e, first, last)]
    convs = [c for c in data.conversions if _in(c, first, last)]
    count = collections.Counter(e.type for e in events)
    visitors = {(at(e).date(), e.session_id) for e in events if e.type == "pageview"}
    return {
        "clicks": count["click"], "pageviews": count["pageview"], "visitors": len(visitors),
        "product_views": count["product_view"], "add_to_carts": count["add_to_cart"],
        "remove_from_carts": count["remove_from_cart"], "thank_you_views": count["thank_you_view"],
        "conversions": len(convs), "revenue": sum((decimal.Decimal(c.order_total) for c in convs), decimal.Decimal(0)),
        "commission": sum((decimal.Decimal(c.commission) for c in convs), decimal.Decimal(0)),
    }


def expected_stats(data: Seeded, first: dt.date, last: dt.date) -> dict:
    t = totals(data, first, last)
    ppv = 0.0 if not t["visitors"] else float(
        (decimal.Decimal(t["pageviews"]) / t["visitors"]).quantize(CENT, decimal.ROUND_HALF_UP))
    return {
        "total_clicks": t["clicks"], "total_pageviews": t["pageviews"], "unique_visitors": t["visitors"],
        "pages_per_visit": ppv, "total_conversions": t["conversions"], "total_revenue": float(t["revenue"]),
        "total_commission": float(t["commission"]), "conversion_rate": _pct(t["conversions"], t["clicks"]),
        "total_product_views": t["product_views"], "total_add_to_carts": t["add_to_carts"],
        "total_remove_from_carts": t["remove_from_carts"], "total_thank_you_views": t["thank_you_views"],
        "cart_to_conversion_rate": _pct(t["conversions"], t["add_to_carts"]),
    }


def change(current, previous):
    if previous == 0:
        return 0 if current == 0 else None
    return float(((decimal.Decimal(current) - previous) * 100 / decimal.Decimal(previous)).quantize(
        CENT, decimal.ROUND_HALF_UP))


def expected_trends(data: Seeded, first: dt.date, last: dt.date) -> dict:
    n = (last - first).days + 1
    cur = totals(data, first, last)
    prev = totals(data, first - dt.timedelta(days=n), first - dt.timedelta(days=1))
    names = ["clicks", "pageviews", "visitors", "conversions", "revenue", "commission", "product_views",
             "add_to_carts"]
    return {k: change(cur[k], prev[k]) for k in names}


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _ranked(counter: collections.Counter) -> dict:
    pairs = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"labels": [k for k, _ in pairs], "data": [v for _, v in pairs]}


def expected_charts(data: Seeded, first: dt.date, last: dt.date) -> dict:
    days = _days(first, last)
    events = [(e, facts) for e, facts in data.events if _in(e, first, last)]
    convs = [c for c in data.conversions if _in(c, first, last)]

    def series(kind):
        per_day = collections.Counter(at(e).date() for e, _ in events if e.type == kind)
        return {"labels": [d.isoformat() for d in days], "data": [per_day[d] for d in days]}

    revenue = collections.defaultdict(decimal.Decimal)
    for c in convs:
        revenue[at(c).date()] += decimal.Decimal(c.order_total)
    per_day_conv = collections.Counter(at(c).date() for c in convs)
    clicks = [(e, f) for e, f in events if e.type == "click"]
    return {
        "clicks_over_time": series("click"),
        "pageviews_over_time": series("pageview"),
        "device_breakdown": _ranked(collections.Counter(f["device"] for _, f in clicks)),
        "conversions_over_time": {"labels": [d.isoformat() for d in days], "data": [per_day_conv[d] for d in days]},
        "revenue_over_time": {"labels": [d.isoformat() for d in days], "data": [float(revenue[d]) for d in days]},
        "product_views_over_time": series("product_view"),
        "add_to_carts_over_time": series("add_to_cart"),
        "country_breakdown": _ranked(collections.Counter(e.country or "unknown" for e, _ in clicks)),
        "browser_breakdown": _ranked(collections.Counter(f["browser"] for _, f in clicks)),
        "os_breakdown": _ranked(collections.Counter(f["os"] for _, f in clicks)),
        "traffic_source_breakdown": _ranked(collections.Counter(f["source"] for _, f in clicks)),
    }


def expected_tables(data: Seeded, first: dt.date, last: dt.date, top: int = 10) -> dict:
    events = [e for e, _ in data.events if _in(e, first, last)]
    convs = [c for c in data.conversions if _in(c, first, last)]
    pages = collections.defaultdict(lambda: [0, 0])
    for e in events:
        if e.type == "pageview":
            pages[e.page_url][0] += 1
        elif e.type == "click":
            pages[e.page_url][1] += 1
    codes = collections.defaultdict(lambda: [0, 0, decimal.Decimal(0)])
    for e in events:
        if e.type == "click":
            codes[e.tracking_code][0] += 1
    for c in convs:
        codes[c.tracking_code][1] += 1
        codes[c.tracking_code][2] += decimal.Decimal(c.order_total)
    affiliates = collections.defaultdict(lambda: [0, 0, decimal.Decimal(0)])
    for code, (clicks, conversions, revenue) in codes.items():
        row = affiliates[data.codes[code]]
        row[0] += clicks
        row[1] += conversions
        row[2] += revenue
    products = collections.defaultdict(lambda: [0, 0])
    for e in events:
        if e.type == "product_view":
            products[e.product_id][0] += 1
    for c in convs:
        for p in set(c.product_ids):
            products[p][1] += 1
    return {
        "top_pages": [
            {"page_url": url, "pageviews": pv, "clicks": cl}
            for url, (pv, cl) in sorted(pages.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:top]
        ],
        "top_tracking_codes": [
            {"tracking_code": code, "clicks": cl, "conversions": cv, "revenue": float(rev)}
            for code, (cl, cv, rev) in sorted(codes.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:top]
        ],
        "top_affiliates": [
            {"name": data.affiliates[aid], "clicks": cl, "conversions": cv, "revenue": float(rev)}
            for aid, (cl, cv, rev) in sorted(
                affiliates.items(), key=lambda kv: (-kv[1][2], -kv[1][1], -kv[1][0], data.affiliates[kv[0]], kv[0])
            )[:top]
        ],
        "top_products": [
            {"product_id": p, "name": data.products.get(p, p), "views": v, "conversions": cv}
            for p, (v, cv) in sorted(products.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:top]
        ],
    }


def _page(rows: list, page: int, per_page: int) -> dict:
    total = len(rows)
    return {
        "data": rows[(page - 1) * per_page: page * per_page],
        "pagination": {"current_page": page, "last_page": max(1, math.ceil(total / per_page)),
                       "per_page": per_page, "total": total},
    }


def expected_feed(data: Seeded, section: str, first: dt.date, last: dt.date, page: int, per_page: int,
                  ids: dict) -> dict:
    """`ids` maps an event id / order id to the public number the service assigned; the
    order of equal timestamps is by that number, descending."""
    if section == "recent_conversions":
        convs = [c for c in data.conversions if _in(c, first, last)]
        convs.sort(key=lambda c: (at(c), ids[c.order_id]), reverse=True)
        rows = [{"id": ids[c.order_id], "order_id": c.order_id,
                 "order_total": str(decimal.Decimal(c.order_total).quantize(CENT)),
                 "commission": str(decimal.Decimal(c.commission).quantize(CENT)), "tracking_code": c.tracking_code,
                 "currency": c.currency, "created_at": rfc3339(at(c))} for c in convs]
        return _page(rows, page, per_page)
    kinds = {"click"} if section == "recent_clicks" else None
    events = [(e, f) for e, f in data.events if _in(e, first, last) and (kinds is None or e.type in kinds)]
    events.sort(key=lambda ef: (at(ef[0]), ids[ef[0].id]), reverse=True)
    rows = []
    for e, f in events:
        if section == "recent_clicks":
            rows.append({"id": ids[e.id], "tracking_code": e.tracking_code, "referrer_url": e.referrer_url or None,
                         "page_url": e.page_url, "device": f["device"], "country": e.country or None,
                         "created_at": rfc3339(at(e))})
        else:
            rows.append({"id": ids[e.id], "type": e.type, "tracking_code": e.tracking_code or None,
                         "referrer_url": e.referrer_url or None, "page_url": e.page_url or None,
                         "product_id": e.product_id or None, "device": f["device"], "country": e.country or None,
                         "created_at": rfc3339(at(e))})
    return _page(rows, page, per_page)
