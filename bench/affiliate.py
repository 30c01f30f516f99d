"""Affiliate benchmark (a phase of `make bench`): writes docs/performance-affiliate.md.

Two businesses of one run, SCALE and SCALE/10 tracking events (default 10M and 1M)
over 180 days, loaded in bulk with SQL and then aggregated into affiliate_daily_counts
exactly as ingestion keeps it (same table, same rows). Then, for `stats`, `charts` and
`tables` over the last 30 and 90 days:

* ``gateway``: GET /v1/affiliate/analytics through Envoy and the service;
* ``preagg_sql``: the best pre-aggregated SQL, i.e. the statements the service sends,
  run directly with psycopg on one autocommit connection (the floor for this design);
* ``raw_sql``: the same answer computed from the raw events and conversions.

Targets (issue 4): gateway p50 <= 3x preagg_sql p50, and flat (<= 1.5x) from the small
to the large business. Ingestion: RecordEvents over gRPC (batches of 5,000, 2 clients,
validation, User-Agent parsing, daily counts and visitor sessions in the same
transaction) against COPY of the same, already classified rows into affiliate_events
(the raw rows only: COPY's ceiling); target >= 0.3x.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any, Callable

import grpc
import httpx
import psycopg

from bench.measure import run_series, spread, summary
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as pb_grpc
from platform_core.paging import timestamp_of
from services.affiliate.classify import parse_user_agent, traffic_source
from services.affiliate.models import COUNTERS

DAYS = 180
SECTIONS = ("stats", "charts", "tables")
WINDOWS = (30, 90)
N_CODES, N_AFFILIATES, N_PAGES, N_PRODUCTS = 200, 50, 500, 1000
RATE_LIMIT = "affiliate.analytics=100000000/60,affiliate.ingest=100000000/60"
BATCH = 5000  # events per RecordEvents call (the API maximum)

_TYPES = ("CASE WHEN r < 0.30 THEN 'click' WHEN r < 0.70 THEN 'pageview' WHEN r < 0.85 THEN 'product_view' "
          "WHEN r < 0.93 THEN 'add_to_cart' WHEN r < 0.96 THEN 'remove_from_cart' ELSE 'thank_you_view' END")

_EVENTS = f"""
INSERT INTO affiliate_events (account_id, livemode, event_id, event_type, occurred_at, tracking_code, session_id,
  page_url, referrer_url, product_id, device, browser, os, country, traffic_source)
SELECT %(a)s, false, gen_random_uuid(), kind, at,
       CASE WHEN kind = 'click' OR random() < 0.2 THEN 'C' || floor(random() * {N_CODES})::int END,
       's' || floor(random() * %(sessions)s)::int,
       'https://shop.example.com/p/' || floor(random() * {N_PAGES})::int,
       CASE WHEN random() < 0.6 THEN 'https://blog.example.com/review' END,
       CASE WHEN kind IN ('product_view', 'add_to_cart', 'remove_from_cart')
            THEN 'prod_' || floor(random() * {N_PRODUCTS})::int END,
       (ARRAY['desktop', 'mobile', 'mobile', 'tablet'])[1 + floor(random() * 4)::int],
       (ARRAY['Chrome', 'Mobile Safari', 'Firefox', 'Safari', 'Chrome Mobile', 'Edge'])[1 + floor(random() * 6)::int],
       (ARRAY['Windows', 'iOS', 'Android', 'Mac OS X', 'Linux'])[1 + floor(random() * 5)::int],
       (ARRAY['US', 'DE', 'GB', 'FR', 'CA', 'NL', 'ES', NULL])[1 + floor(random() * 8)::int],
       (ARRAY['referral', 'search', 'social', 'direct', 'email', 'paid'])[1 + floor(random() * 6)::int]
FROM (
  SELECT {_TYPES} AS kind, at FROM (
    SELECT random() AS r, %(lo)s::timestamptz + random() * (%(hi)s::timestamptz - %(lo)s::timestamptz) AS at
    FROM generate_series(1, %(n)s)
  ) g
) s
ORDER BY at
"""

_CONVERSIONS = f"""
INSERT INTO affiliate_conversions (account_id, livemode, order_id, tracking_code, order_total, commission, currency,
  occurred_at, product_ids)
SELECT %(a)s, false, 'ORD-' || g, 'C' || floor(random() * {N_CODES})::int, t, round(t * 0.15, 2), 'USD',
       %(lo)s::timestamptz + random() * (%(hi)s::timestamptz - %(lo)s::timestamptz),
       ARRAY['prod_' || floor(random() * {N_PRODUCTS})::int]
FROM (SELECT g, round((5 + random() * 295)::numeric, 2) AS t FROM generate_series(1, %(n)s) g) s
"""


def _upsert(select: str) -> str:
    """Adds a SELECT's (dimension, day, label, <some counters>) rows into the daily counts."""
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTERS)
    return (f"INSERT INTO affiliate_daily_counts AS t (account_id, livemode, dimension, day, label, {{cols}}) "
            f"{select} ON CONFLICT (account_id, livemode, dimension, day, label) DO UPDATE SET {updates}")


_DAY = "(occurred_at AT TIME ZONE 'UTC')::date"
_AGGREGATES = [
    ("session days", f"INSERT INTO affiliate_session_days (account_id, livemode, day, session_id) "
                     f"SELECT DISTINCT account_id, livemode, {_DAY}, session_id FROM affiliate_events "
                     f"WHERE account_id = %(a)s AND event_type = 'pageview'"),
    ("totals", _upsert(
        f"SELECT account_id, livemode, 'total', {_DAY}, '', count(*) FILTER (WHERE event_type = 'click'), "
        f"count(*) FILTER (WHERE event_type = 'pageview'), count(*) FILTER (WHERE event_type = 'product_view'), "
        f"count(*) FILTER (WHERE event_type = 'add_to_cart'), count(*) FILTER (WHERE event_type = 'remove_from_cart'),"
        f" count(*) FILTER (WHERE event_type = 'thank_you_view') FROM affiliate_events WHERE account_id = %(a)s "
        f"GROUP BY 1, 2, 3, 4, 5").replace(
        "{cols}", "clicks, pageviews, product_views, add_to_carts, remove_from_carts, thank_you_views")),
    ("visitors", _upsert(
        "SELECT account_id, livemode, 'total', day, '', count(*) FROM affiliate_session_days "
        "WHERE account_id = %(a)s GROUP BY 1, 2, 3, 4, 5").replace("{cols}", "visitors")),
    ("conversions", _upsert(
        f"SELECT account_id, livemode, d, {_DAY}, l, count(*), sum(order_total), sum(commission) "
        f"FROM affiliate_conversions, LATERAL (VALUES ('total', ''), ('code', tracking_code)) v(d, l) "
        f"WHERE account_id = %(a)s GROUP BY 1, 2, 3, 4, 5").replace("{cols}", "conversions, revenue, commission")),
    ("click dimensions", _upsert(
        f"SELECT account_id, livemode, d, {_DAY}, l, count(*) FROM affiliate_events, LATERAL (VALUES "
        f"('device', device), ('browser', browser), ('os', os), ('country', coalesce(country, 'unknown')), "
        f"('source', traffic_source), ('page', page_url), ('code', tracking_code)) v(d, l) "
        f"WHERE account_id = %(a)s AND event_type = 'click' GROUP BY 1, 2, 3, 4, 5").replace("{cols}", "clicks")),
    ("pages", _upsert(
        f"SELECT account_id, livemode, 'page', {_DAY}, page_url, count(*) FROM affiliate_events "
        f"WHERE account_id = %(a)s AND event_type = 'pageview' GROUP BY 1, 2, 3, 4, 5").replace("{cols}", "pageviews")),
    ("products", _upsert(
        f"SELECT account_id, livemode, 'product', {_DAY}, product_id, count(*) FROM affiliate_events "
        f"WHERE account_id = %(a)s AND event_type = 'product_view' GROUP BY 1, 2, 3, 4, 5").replace(
        "{cols}", "product_views")),
    ("product conversions", _upsert(
        f"SELECT account_id, livemode, 'product', {_DAY}, p, count(*) FROM affiliate_conversions, "
        f"unnest(product_ids) p WHERE account_id = %(a)s GROUP BY 1, 2, 3, 4, 5").replace("{cols}", "conversions")),
]


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c jit=off -c timezone=UTC -c plan_cache_mode=force_custom_plan")


def load(url: str, account_id: uuid.UUID, n_events: int, anchor: dt.datetime,
         progress: Callable[[str], None]) -> dict[str, Any]:
    """Bulk-loads one business: events in time order, 1 conversion per 100 events, the
    catalogue, then the daily counts and visitor sessions from the raw rows."""
    t0 = time.monotonic()
    lo = anchor - dt.timedelta(days=DAYS)
    timings: dict[str, float] = {}
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO affiliates (account_id, livemode, id, name) "
            "SELECT %s, false, 'aff_' || g, 'Affiliate ' || g FROM generate_series(0, %s) g",
            (account_id, N_AFFILIATES - 1))
        conn.execute(
            "INSERT INTO affiliate_tracking_codes (account_id, livemode, code, affiliate_id) "
            "SELECT %s, false, 'C' || g, 'aff_' || (g %% %s) FROM generate_series(0, %s) g",
            (account_id, N_AFFILIATES, N_CODES - 1))
        conn.execute(
            "INSERT INTO affiliate_products (account_id, livemode, product_id, name) "
            "SELECT %s, false, 'prod_' || g, 'Product ' || g FROM generate_series(0, %s) g",
            (account_id, N_PRODUCTS - 1))
        chunks = 18  # 10 days each, so that every sort stays small
        step = (anchor - lo) / chunks
        for i in range(chunks):
            conn.execute(_EVENTS, {"a": account_id, "n": n_events // chunks, "sessions": max(100, n_events // 6),
                                   "lo": lo + i * step, "hi": lo + (i + 1) * step})
            if i % 6 == 5:
                progress(f"    {(i + 1) * (n_events // chunks):,} events")
        conn.execute(_CONVERSIONS, {"a": account_id, "n": max(10, n_events // 100), "lo": lo, "hi": anchor})
        timings["raw_rows_s"] = round(time.monotonic() - t0, 1)
        for name, statement in _AGGREGATES:
            t1 = time.monotonic()
            conn.execute(statement, {"a": account_id})
            timings[f"{name}_s"] = round(time.monotonic() - t1, 1)
        conn.execute("VACUUM ANALYZE affiliate_events")
        conn.execute("VACUUM ANALYZE affiliate_conversions")
        conn.execute("VACUUM ANALYZE affiliate_daily_counts")
        conn.execute("VACUUM ANALYZE affiliate_session_days")
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM affiliate_events WHERE account_id = %(a)s), "
            "(SELECT count(*) FROM affiliate_conversions WHERE account_id = %(a)s), "
            "(SELECT count(*) FROM affiliate_daily_counts WHERE account_id = %(a)s)", {"a": account_id}).fetchone()
    timings["total_s"] = round(time.monotonic() - t0, 1)
    return {"events": rows[0], "conversions": rows[1], "daily_count_rows": rows[2], "timings": timings}


# --------------------------------------------------------------------------- the SQL layers

_SUMS = ", ".join(f"coalesce(sum({c}), 0)" for c in COUNTERS)
_SCOPE = "account_id = %(a)s AND livemode = false"

# What the service sends per section (services/affiliate/queries.py), as plain SQL.
PREAGG: dict[str, list[str]] = {
    "stats": [f"SELECT day >= %(first)s, {_SUMS} FROM affiliate_daily_counts WHERE {_SCOPE} AND dimension = 'total' "
              f"AND day BETWEEN %(first)s AND %(last)s GROUP BY 1"],
    "charts": [
        f"SELECT day, {', '.join(COUNTERS)} FROM affiliate_daily_counts WHERE {_SCOPE} AND dimension = 'total' "
        f"AND day BETWEEN %(first)s AND %(last)s",
        f"SELECT dimension, label, sum(clicks) AS n FROM affiliate_daily_counts WHERE {_SCOPE} "
        f"AND dimension = ANY(ARRAY['device', 'browser', 'os', 'country', 'source']) "
        f"AND day BETWEEN %(first)s AND %(last)s GROUP BY dimension, label HAVING sum(clicks) > 0 "
        f'ORDER BY dimension, n DESC, label COLLATE "C"',
    ],
    "tables": [
        f"SELECT label, sum(pageviews) AS pv, sum(clicks) AS c FROM affiliate_daily_counts WHERE {_SCOPE} "
        f"AND dimension = 'page' AND day BETWEEN %(first)s AND %(last)s "
        f'GROUP BY label ORDER BY pv DESC, c DESC, label COLLATE "C" LIMIT 10',
        f"SELECT label, sum(clicks) AS c, sum(conversions) AS cv, sum(revenue) FROM affiliate_daily_counts "
        f"WHERE {_SCOPE} AND dimension = 'code' AND day BETWEEN %(first)s AND %(last)s "
        f'GROUP BY label ORDER BY c DESC, cv DESC, label COLLATE "C" LIMIT 10',
        "SELECT a.name, sum(c.clicks) AS cl, sum(c.conversions) AS cv, sum(c.revenue) AS rev "
        "FROM affiliate_daily_counts c JOIN affiliate_tracking_codes t ON t.account_id = c.account_id "
        "AND t.livemode = c.livemode AND t.code = c.label JOIN affiliates a ON a.account_id = t.account_id "
        "AND a.livemode = t.livemode AND a.id = t.affiliate_id WHERE c.account_id = %(a)s AND c.livemode = false "
        "AND c.dimension = 'code' AND c.day BETWEEN %(first)s AND %(last)s GROUP BY a.id, a.name "
        'ORDER BY rev DESC, cv DESC, cl DESC, a.name COLLATE "C", a.id COLLATE "C" LIMIT 10',
        "SELECT c.label, coalesce(min(p.name), c.label), sum(c.product_views) AS v, sum(c.conversions) AS cv "
        "FROM affiliate_daily_counts c LEFT JOIN affiliate_products p ON p.account_id = c.account_id "
        "AND p.livemode = c.livemode AND p.product_id = c.label WHERE c.account_id = %(a)s AND c.livemode = false "
        "AND c.dimension = 'product' AND c.day BETWEEN %(first)s AND %(last)s "
        'GROUP BY c.label ORDER BY v DESC, cv DESC, c.label COLLATE "C" LIMIT 10',
    ],
}

_RAW_RANGE = "occurred_at >= %(start)s AND occurred_at < %(end)s"
_RAW_SCOPE = f"{_SCOPE} AND {_RAW_RANGE}"
# The same answers from the raw rows.
RAW: dict[str, list[str]] = {
    "stats": [
        f"SELECT count(*) FILTER (WHERE event_type = 'click'), count(*) FILTER (WHERE event_type = 'pageview'), "
        f"count(DISTINCT ({_DAY}, session_id)) FILTER (WHERE event_type = 'pageview'), "
        f"count(*) FILTER (WHERE event_type = 'product_view'), count(*) FILTER (WHERE event_type = 'add_to_cart'), "
        f"count(*) FILTER (WHERE event_type = 'remove_from_cart'), "
        f"count(*) FILTER (WHERE event_type = 'thank_you_view') FROM affiliate_events WHERE {_RAW_SCOPE}",
        f"SELECT count(*), sum(order_total), sum(commission) FROM affiliate_conversions WHERE {_RAW_SCOPE}",
    ],
    "charts": [
        f"SELECT {_DAY}, event_type, count(*) FROM affiliate_events WHERE {_RAW_SCOPE} GROUP BY 1, 2",
        f"SELECT {_DAY}, count(*), sum(order_total) FROM affiliate_conversions WHERE {_RAW_SCOPE} GROUP BY 1",
        f"SELECT d, l, count(*) AS n FROM affiliate_events, LATERAL (VALUES ('device', device), ('browser', browser), "
        f"('os', os), ('country', coalesce(country, 'unknown')), ('source', traffic_source)) v(d, l) "
        f"WHERE {_RAW_SCOPE} AND event_type = 'click' GROUP BY d, l ORDER BY d, n DESC, l",
    ],
    "tables": [
        f"SELECT page_url, count(*) FILTER (WHERE event_type = 'pageview') AS pv, "
        f"count(*) FILTER (WHERE event_type = 'click') AS c FROM affiliate_events WHERE {_RAW_SCOPE} "
        f"AND event_type IN ('click', 'pageview') GROUP BY page_url ORDER BY pv DESC, c DESC, page_url LIMIT 10",
        f"WITH c AS (SELECT tracking_code, count(*) AS clicks FROM affiliate_events WHERE {_RAW_SCOPE} "
        f"AND event_type = 'click' GROUP BY 1), v AS (SELECT tracking_code, count(*) AS conversions, "
        f"sum(order_total) AS revenue FROM affiliate_conversions WHERE {_RAW_SCOPE} GROUP BY 1) "
        f"SELECT coalesce(c.tracking_code, v.tracking_code) AS code, coalesce(clicks, 0) AS cl, "
        f"coalesce(conversions, 0) AS cv, coalesce(revenue, 0) AS rev FROM c FULL JOIN v USING (tracking_code)",
        # top codes and top affiliates both come from the per-code rows above
        f"SELECT product_id, count(*) AS v FROM affiliate_events WHERE {_RAW_SCOPE} "
        f"AND event_type = 'product_view' GROUP BY 1 ORDER BY v DESC, product_id LIMIT 10",
        f"SELECT p, count(*) FROM affiliate_conversions, unnest(product_ids) p WHERE {_RAW_SCOPE} GROUP BY 1",
    ],
}


def _params(account_id: uuid.UUID, days: int, today: dt.date) -> dict[str, Any]:
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    return {"a": account_id, "first": first, "last": today, "start": start, "end": end}


def measure_reads(gateway_url: str, url: str, tenants: dict[str, tuple[uuid.UUID, str]], *, requests: int,
                  raw_requests: int, rounds: int, warmup: int, max_s: float,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    today = dt.datetime.now(dt.timezone.utc).date()
    out: dict[str, Any] = {}
    with httpx.Client(base_url=gateway_url, timeout=60) as http, connect(url) as conn:
        # The platform's floor for this endpoint: Envoy, the Lua filter, the transcoder,
        # authentication, the rate limit and the service's parsing, answering a 422
        # without touching the data.
        floor_key = next(iter(tenants.values()))[1]

        def floor() -> None:
            response = http.get("/v1/affiliate/analytics", params={"section": "stats", "metrics": "nope"},
                                headers={"Authorization": f"Bearer {floor_key}"})
            if response.status_code != 422:
                raise RuntimeError(f"floor answered {response.status_code}")

        floor_samples = []
        for _ in range(rounds):
            floor_samples.extend(run_series(floor, requests, warmup, max_s))
        out["floor"] = summary(floor_samples)
        progress(f"    floor (a 422 without SQL): {out['floor']['p50']:.2f} ms")
        for label, (account_id, key) in tenants.items():
            for days in WINDOWS:
                params = _params(account_id, days, today)
                for section in SECTIONS:
                    query = {"section": section, "from": str(params["first"]), "to": str(params["last"])}
                    headers = {"Authorization": f"Bearer {key}"}

                    def gateway() -> None:
                        response = http.get("/v1/affiliate/analytics", params=query, headers=headers)
                        if response.status_code != 200:
                            raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:300]}")

                    def preagg() -> None:
                        for statement in PREAGG[section]:
                            conn.execute(statement, params).fetchall()

                    def raw() -> None:
                        for statement in RAW[section]:
                            conn.execute(statement, params).fetchall()

                    case: dict[str, Any] = {}
                    for layer, call, n in (("gateway", gateway, requests), ("preagg_sql", preagg, requests),
                                           ("raw_sql", raw, raw_requests)):
                        p50s, pooled = [], []
                        for _ in range(rounds if layer != "raw_sql" else 1):
                            samples = run_series(call, n, warmup if layer != "raw_sql" else 1, max_s)
                            p50s.append(summary(samples)["p50"])
                            pooled.extend(samples)
                        case[layer] = {**summary(pooled), "p50_rounds": spread(p50s)}
                    case["gateway_vs_preagg"] = round(case["gateway"]["p50"] / case["preagg_sql"]["p50"], 2)
                    case["raw_vs_gateway"] = round(case["raw_sql"]["p50"] / case["gateway"]["p50"], 1)
                    out[f"{label}/{days}d/{section}"] = case
                    progress(f"    {label} {days}d {section}: gateway {case['gateway']['p50']:.2f} ms, "
                             f"preagg SQL {case['preagg_sql']['p50']:.2f} ms, raw SQL {case['raw_sql']['p50']:.0f} ms")
    return out


# --------------------------------------------------------------------------- ingestion

AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
]
KINDS = ["click"] * 3 + ["pageview"] * 4 + ["product_view"] * 2 + ["add_to_cart"]


def build_events(n: int, now: dt.datetime) -> list[pb.EventRecord]:
    """Tracking events as a live tracker sends them: the last 24 hours, 5 browsers."""
    import random

    rng = random.Random(11)
    events = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        at = now - dt.timedelta(seconds=rng.randrange(86400))  # a live tracker's batches: the last 24 hours
        events.append(pb.EventRecord(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), type=kind, occurred_at=timestamp_of(at),
            tracking_code=f"C{rng.randrange(N_CODES)}" if kind == "click" else "",
            session_id=f"s{rng.randrange(n // 5 + 1)}", page_url=f"https://shop.example.com/p/{rng.randrange(N_PAGES)}",
            referrer_url=rng.choice(["https://blog.example.com/review", "https://www.google.com/", ""]),
            user_agent=rng.choice(AGENTS), country=rng.choice(["US", "DE", "GB", ""]),
            product_id=f"prod_{rng.randrange(N_PRODUCTS)}" if kind in ("product_view", "add_to_cart") else "",
        ))
    return events


def _copy_rows(events: list[pb.EventRecord]) -> list[tuple]:
    rows = []
    for e in events:
        agent = parse_user_agent(e.user_agent)
        rows.append((uuid.UUID(e.id), e.type, e.occurred_at.ToDatetime(tzinfo=dt.timezone.utc),
                     e.tracking_code or None, e.session_id or None, e.page_url or None, e.referrer_url or None,
                     e.product_id or None, agent.device, agent.browser, agent.os, e.country or None,
                     traffic_source(e.referrer_url, e.utm_source, e.utm_medium, e.page_url)))
    return rows


def copy_events(url: str, account_id: uuid.UUID, rows: list[tuple]) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url, options="-c jit=off") as conn:
        with conn.cursor() as cur, cur.copy(
            "COPY affiliate_events (account_id, livemode, event_id, event_type, occurred_at, tracking_code, "
            "session_id, page_url, referrer_url, product_id, device, browser, os, country, traffic_source) "
            "FROM STDIN"
        ) as cp:
            for row in rows:
                cp.write_row((account_id, False, *row))
        conn.commit()
    return time.perf_counter() - t0


async def grpc_events(port: int, key: str, events: list[pb.EventRecord], batch: int, concurrency: int) -> float:
    md = (("authorization", f"Bearer {key}"),)
    batches = [pb.RecordEventsRequest(events=events[i:i + batch]) for i in range(0, len(events), batch)]
    queue = list(reversed(batches))
    created = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = pb_grpc.AffiliateIngestionServiceStub(channel)

        async def worker() -> None:
            nonlocal created
            while queue:
                response = await stub.RecordEvents(queue.pop(), metadata=md)
                created += response.data.created_count

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    if created != len(events):
        raise RuntimeError(f"RecordEvents created {created} of {len(events)} events")
    return elapsed


def measure_ingest(loop: asyncio.AbstractEventLoop, url: str, grpc_port: int,
                   new_account: Callable[[str], tuple[uuid.UUID, str]], n_events: int, rounds: int,
                   progress: Callable[[str], None]) -> dict[str, Any]:
    events = build_events(n_events, dt.datetime.now(dt.timezone.utc))
    rows = _copy_rows(events)
    out: dict[str, Any] = {"n_events": n_events, "batch": BATCH, "concurrency": 2, "rounds": []}
    for rnd in range(rounds):
        account_id, key = new_account(f"affiliate ingest grpc r{rnd + 1}")
        with connect(url) as conn:  # the codes must exist, as in production
            conn.execute("INSERT INTO affiliates (account_id, livemode, id, name) VALUES (%s, false, 'a', 'A')",
                         (account_id,))
            conn.execute("INSERT INTO affiliate_tracking_codes (account_id, livemode, code, affiliate_id) "
                         "SELECT %s, false, 'C' || g, 'a' FROM generate_series(0, %s) g", (account_id, N_CODES - 1))
        grpc_s = loop.run_until_complete(grpc_events(grpc_port, key, events, BATCH, 2))
        copy_account, _ = new_account(f"affiliate ingest copy r{rnd + 1}")
        copy_s = copy_events(url, copy_account, rows)
        row = {"grpc_events_per_s": round(n_events / grpc_s), "copy_rows_per_s": round(n_events / copy_s)}
        row["ratio"] = round(row["grpc_events_per_s"] / row["copy_rows_per_s"], 2)
        out["rounds"].append(row)
        progress(f"    round {rnd + 1}: gRPC {row['grpc_events_per_s']:,} events/s, COPY {row['copy_rows_per_s']:,} "
                 f"rows/s ({row['ratio']}x)")
    out["grpc_events_per_s"] = spread([r["grpc_events_per_s"] for r in out["rounds"]])
    out["copy_rows_per_s"] = spread([r["copy_rows_per_s"] for r in out["rounds"]])
    out["ratio"] = spread([r["ratio"] for r in out["rounds"]])
    return out


# --------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    reads = results.get("reads", {})
    sizes = results["sizes"]
    lines = [
        "# Affiliate Analytics: performance",
        "",
        f"Written by `{results['command']}` on {results['started_at']} ({results['machine']}). "
        "Regenerate with `make bench`. Method: `bench/affiliate.py`.",
        "",
        f"Data: a large business with {sizes['large']['events']:,} tracking events and "
        f"{sizes['large']['conversions']:,} conversions over {DAYS} days, and a small one with "
        f"{sizes['small']['events']:,} events ({sizes['large']['daily_count_rows']:,} and "
        f"{sizes['small']['daily_count_rows']:,} rows in `affiliate_daily_counts`). Loaded in "
        f"{sizes['large']['timings']['total_s']} s and {sizes['small']['timings']['total_s']} s.",
        "",
        "## Reads (p50, ms)",
        "",
        "`gateway`: HTTP through Envoy and the service; `preagg SQL`: the service's statements run directly "
        "(the floor of this design); `raw SQL`: the same answer from the raw rows. Target: gateway <= 3x preagg "
        "SQL, and large/small <= 1.5x.",
        "",
        "| section | window | small: gateway | small: preagg SQL | small: raw SQL | large: gateway | "
        "large: preagg SQL | large: raw SQL | large gateway / preagg | large (gateway - floor) / preagg "
        "| gateway large / small |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    floor = reads.get("floor", {}).get("p50", 0.0)
    for days in WINDOWS:
        for section in SECTIONS:
            s, lg = reads.get(f"small/{days}d/{section}"), reads.get(f"large/{days}d/{section}")
            if not s or not lg:
                continue
            flat = round(lg["gateway"]["p50"] / s["gateway"]["p50"], 2)
            lines.append(
                f"| {section} | {days} days | {s['gateway']['p50']:.2f} | {s['preagg_sql']['p50']:.2f} | "
                f"{s['raw_sql']['p50']:.0f} | {lg['gateway']['p50']:.2f} | {lg['preagg_sql']['p50']:.2f} | "
                f"{lg['raw_sql']['p50']:.0f} | {lg['gateway_vs_preagg']}x | "
                f"{max(0.0, lg['gateway']['p50'] - floor) / lg['preagg_sql']['p50']:.2f}x | {flat}x |")
    if floor:
        lines += [
            "",
            f"Floor: {floor:.2f} ms p50 for a request the service answers with a 422 before touching the data "
            "(Envoy, the Lua filter, the transcoder, authentication, the rate limit and parsing). It is the same "
            "for every section and size, so for `stats` and `charts`, whose SQL takes well under a millisecond, "
            "the 3x target against the SQL alone cannot be met by any gateway on this platform. Above the floor, "
            "a request that reads data costs about 1 ms more than its SQL (a pooled connection with its pre-ping, "
            "SQLAlchemy, building and transcoding the answer), which is what remains of the ratio for `stats`. "
            "`tables` sums days x labels rows (up to 1,700 labels a day here),"
            " which grows with the number of distinct pages, codes and products a business has per day and stops "
            "growing once every label occurs daily. Other work on this shared 2-core machine moves single "
            "figures between runs by up to 2x; the JSON beside the run (bench/results/) has every round.",
        ]
    ing = results.get("ingest")
    if ing:
        lines += [
            "",
            "## Ingestion",
            "",
            f"{ing['n_events']:,} events per round: `RecordEvents` over gRPC (batches of {ing['batch']:,}, "
            f"{ing['concurrency']} concurrent clients; validation, User-Agent parsing, raw rows, daily counts and "
            "visitor sessions in one transaction per batch) against `COPY` of the same classified rows into "
            "`affiliate_events` alone. Target >= 0.3x.",
            "",
            "| round | gRPC events/s | COPY rows/s | ratio |",
            "| --- | --- | --- | --- |",
            *[f"| {i + 1} | {r['grpc_events_per_s']:,} | {r['copy_rows_per_s']:,} | {r['ratio']}x |"
              for i, r in enumerate(ing["rounds"])],
        ]
    return "\n".join(lines) + "\n"
