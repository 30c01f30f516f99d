"""The export service end to end through the real gateway (docs/exports.md): every
family's source in every format, built by the in-service worker, downloaded over HTTP
and parsed back (csv, json, openpyxl, pyarrow) row by row against the seeded rows;
another account's export is a missing one; Range downloads; the error envelope."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import re
import uuid

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from platform_core import accounts, db
from platform_core.export_files import utc_text
from services.exports.sources import SOURCES
from tests.support.exports import auth, read_rows, stack_of_its_own, wait_for_export

FORMATS = ("csv", "jsonl", "xlsx", "parquet")
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=123456)
START = (NOW - dt.timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)


def at(days: float, micro: int = 0) -> dt.datetime:
    return (NOW - dt.timedelta(days=days)).replace(microsecond=micro)


# --------------------------------------------------------------------------- the data

CAMPAIGN = uuid.UUID("5a1c0000-0000-4000-8000-000000000001")
OTHER_CAMPAIGN = uuid.UUID("5a1c0000-0000-4000-8000-000000000002")


def _instances():
    """(id, campaign, insider, started_at, is_purchase, purchased_insider): five in the
    campaign over the range, one of another campaign, one before the range."""
    rows = []
    for i in range(7):
        campaign = OTHER_CAMPAIGN if i == 5 else CAMPAIGN
        started = at(40) if i == 6 else at(4 - i * 0.5, 1000 + i)
        purchase = i in (1, 3)
        insider = uuid.UUID(int=0x1000 + i)
        rows.append((uuid.UUID(int=0xA000 + i), campaign, insider, started, purchase,
                     uuid.UUID(int=0x2000 + i) if purchase else None))
    return rows


INSTANCES = _instances()


async def seed(conn, a, b) -> dict:
    """Rows of account `a` (and a few of `b`, which `a`'s exports must never show)."""
    for account, offset in ((a, 0), (b, 0x100000)):
        for iid, campaign, insider, started, purchase, buyer in INSTANCES:
            await conn.execute(text(
                "INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at, is_purchase, "
                "purchased_insider_id) VALUES (:a, false, :id, :c, :ins, :s, :p, :buyer)"),
                {"a": account, "id": uuid.UUID(int=iid.int + offset), "c": campaign, "ins": insider, "s": started,
                 "p": purchase, "buyer": buyer})
    first = INSTANCES[0][0]
    events = [(uuid.UUID(int=0xE000 + n), first, f"step {n}", "page_view", f"ref-{n}" if n else None,
               INSTANCES[0][3] + dt.timedelta(minutes=n), {"url": f"https://shop.example.com/{n}"}) for n in range(2)]
    for eid, iid, name, tracker, ref, created, meta in events:
        await conn.execute(text(
            "INSERT INTO events (account_id, livemode, id, instance_id, name, tracker_type, reference_id, created_at, "
            "updated_at, metadata) VALUES (:a, false, :id, :i, :n, :t, :r, :c, :c, CAST(:m AS jsonb))"),
            {"a": a, "id": eid, "i": iid, "n": name, "t": tracker, "r": ref, "c": created, "m": json.dumps(meta)})
    buyer_instance = INSTANCES[1]
    order_id = uuid.UUID(int=0x0D00)
    ordered = buyer_instance[3] + dt.timedelta(minutes=3)
    await conn.execute(text(
        "INSERT INTO orders (account_id, livemode, id, instance_id, purchased_insider_id, total, currency, status, "
        "discounted_price, cashfunds_used, credits_used, created_at) "
        "VALUES (:a, false, :id, :i, :b, 59.98, 'USD', 'completed', NULL, 0, 5.5, :c)"),
        {"a": a, "id": order_id, "i": buyer_instance[0], "b": buyer_instance[5], "c": ordered})
    for line, (product, quantity, price) in enumerate((("prod_1", 1, "19.99"), ("=HYPERLINK(1)", 2, "19.99"))):
        await conn.execute(text(
            "INSERT INTO order_items (account_id, livemode, order_id, line, product_id, quantity, price) "
            "VALUES (:a, false, :o, :l, :p, :q, CAST(:pr AS numeric))"),
            {"a": a, "o": order_id, "l": line, "p": product, "q": quantity, "pr": price})
    await conn.execute(text(
        "INSERT INTO insider_rewards (account_id, livemode, id, instance_id, insider_id, type, amount, currency, "
        "status, created_at) VALUES (:a, false, :id, :i, :ins, 'commission', 14.99, 'USD', 'pending', :c)"),
        {"a": a, "id": uuid.UUID(int=0x0F00), "i": buyer_instance[0], "ins": buyer_instance[2], "c": ordered})

    await conn.execute(text("INSERT INTO affiliates (account_id, livemode, id, name) "
                            "VALUES (:a, false, 'aff_1', 'Jane')"), {"a": a})
    await conn.execute(text("INSERT INTO affiliate_tracking_codes (account_id, livemode, code, affiliate_id) "
                            "VALUES (:a, false, 'AFF-1', 'aff_1')"), {"a": a})
    kinds = ["click", "pageview", "product_view", "add_to_cart", "thank_you_view"]
    for n, kind in enumerate(kinds):
        await conn.execute(text(
            "INSERT INTO affiliate_events (account_id, livemode, event_id, event_type, occurred_at, tracking_code, "
            "session_id, page_url, referrer_url, product_id, device, browser, os, country, traffic_source) "
            "VALUES (:a, false, :e, :k, :o, :code, 's1', 'https://shop.example.com/p', NULL, :prod, 'mobile', "
            "'Safari', 'iOS', 'DE', 'direct')"),
            {"a": a, "e": uuid.UUID(int=0xAE00 + n), "k": kind, "o": at(3 - n * 0.25, n),
             "code": "AFF-1" if n % 2 == 0 else None,
             "prod": "prod_1" if kind in ("product_view", "add_to_cart") else None})
    for n in range(2):
        await conn.execute(text(
            "INSERT INTO affiliate_conversions (account_id, livemode, order_id, tracking_code, order_total, "
            "commission, currency, occurred_at, product_ids) "
            "VALUES (:a, false, :o, 'AFF-1', 100.5, 10.05, 'EUR', :t, :p)"),
            {"a": a, "o": f"order-{n}", "t": at(2 - n, 7), "p": ["prod_1", "prod_2"][: n + 1]})

    await conn.execute(text("INSERT INTO vouchers (account_id, livemode, id, code, currency, created_at) "
                            "VALUES (:a, false, 'v_00000000000000e1', '=SUM(A1)', 'EUR', :c)"), {"a": a, "c": at(30)})
    await conn.execute(text("INSERT INTO voucher_customers (account_id, livemode, id, segment, region) "
                            "VALUES (:a, false, 'cus_1', 'vip', 'EU')"), {"a": a})
    for n in range(3):
        await conn.execute(text(
            "INSERT INTO voucher_redemptions (account_id, livemode, id, voucher_id, customer_id, order_total, "
            "discount, redeemed_at) VALUES (:a, false, :id, 'v_00000000000000e1', 'cus_1', :t, 500, :r)"),
            {"a": a, "id": f"red_{n}", "t": 4900 + n, "r": at(2.5 - n * 0.5, 11 + n)})
    # A webhook endpoint of A (the stack runs no delivery worker: the events stay queued).
    await conn.execute(text(
        "INSERT INTO webhook_endpoints (account_id, livemode, id, url, secret) "
        "VALUES (:a, false, 'we_00000000000000e1', 'https://hooks.example.com/in', 'whsec_test')"), {"a": a})
    tenant = (await conn.execute(text(
        "INSERT INTO landing_tenants (account_id, livemode, name, time_zone) VALUES (:a, false, 'Shop', 'UTC') "
        "RETURNING id"), {"a": a})).scalar_one()
    for n in range(4):
        await conn.execute(text(
            "INSERT INTO landing_events (account_id, tenant_id, occurred_at, event_type, visitor_hash, duration_ms, "
            "user_agent, referrer, metadata) VALUES (:a, :t, :o, :k, :h, :d, 'Mozilla/5.0', '', CAST(:m AS jsonb))"),
            {"a": a, "t": tenant, "o": at(1 - n * 0.1, n), "k": 1 if n < 3 else 5, "h": f"{n:045d}",
             "d": 1500 if n == 3 else None, "m": json.dumps({"seconds": 1.5}) if n == 3 else None})
    await conn.commit()
    return {"tenant": tenant, "order_id": order_id, "events": events, "ordered": ordered}


def expected(source: str, seeded: dict) -> list[dict]:
    """The rows of account a, in the source's order, in canonical form (see `canon`)."""
    if source == "instance_journeys":
        rows = []
        for iid, campaign, insider, started, purchase, buyer in sorted(
                (r for r in INSTANCES if r[3] >= START and r[1] == CAMPAIGN), key=lambda r: (r[3], r[0])):
            events = [{"id": str(e[0]), "name": e[2], "tracker_type": e[3], "reference_id": e[4],
                       "created_at": utc_text(e[5]), "metadata": e[6]} for e in seeded["events"] if e[1] == iid]
            orders, rewards = [], []
            if iid == INSTANCES[1][0]:
                orders = [{"id": str(seeded["order_id"]), "purchased_insider_id": str(buyer), "total": "59.98",
                           "currency": "USD", "status": "completed", "discounted_price": None,
                           "cashfunds_used": "0.00", "credits_used": "5.50", "created_at": utc_text(seeded["ordered"]),
                           "items": [{"product_id": "prod_1", "quantity": 1, "price": "19.99"},
                                     {"product_id": "=HYPERLINK(1)", "quantity": 2, "price": "19.99"}]}]
                rewards = [{"id": str(uuid.UUID(int=0x0F00)), "insider_id": str(insider), "type": "commission",
                            "amount": "14.99", "currency": "USD", "status": "pending",
                            "created_at": utc_text(seeded["ordered"])}]
            rows.append({"instance_id": str(iid), "campaign_id": str(campaign), "insider_id": str(insider),
                         "started_at": utc_text(started), "is_purchase": purchase,
                         "purchased_insider_id": str(buyer) if buyer else None,
                         "events": events, "orders": orders, "rewards": rewards})
        return rows
    if source == "campaign_instances":
        chosen = sorted((r for r in INSTANCES if r[3] >= START and r[1] == CAMPAIGN and r[4]),
                        key=lambda r: (-r[3].timestamp(), r[0]))
        return [{"timestamp": utc_text(r[3]), "instance_id": str(r[0]), "is_purchase": r[4],
                 "insider_id": str(r[2]), "purchased_insider_id": str(r[5]),
                 "revenue": decimal.Decimal("59.98") if r[0] == INSTANCES[1][0] else decimal.Decimal("0")}
                for r in chosen]
    if source == "voucher_redemptions":
        return [{"redemption_id": f"red_{n}", "voucher_id": "v_00000000000000e1", "code": "=SUM(A1)",
                 "customer_id": "cus_1", "segment": "vip", "region": "EU", "order_total": 4900 + n, "discount": 500,
                 "currency": "EUR", "redeemed_at": utc_text(at(2.5 - n * 0.5, 11 + n))} for n in range(3)]
    if source == "affiliate_events":
        kinds = ["click", "pageview", "product_view", "add_to_cart", "thank_you_view"]
        return [{"event_id": str(uuid.UUID(int=0xAE00 + n)), "event_type": kind,
                 "occurred_at": utc_text(at(3 - n * 0.25, n)),
                 "tracking_code": "AFF-1" if n % 2 == 0 else None, "affiliate_id": "aff_1" if n % 2 == 0 else None,
                 "session_id": "s1", "page_url": "https://shop.example.com/p", "referrer_url": None,
                 "product_id": "prod_1" if kind in ("product_view", "add_to_cart") else None, "device": "mobile",
                 "browser": "Safari", "os": "iOS", "country": "DE", "traffic_source": "direct"}
                for n, kind in enumerate(kinds)]
    if source == "affiliate_conversions":
        return [{"order_id": f"order-{n}", "occurred_at": utc_text(at(2 - n, 7)), "tracking_code": "AFF-1",
                 "affiliate_id": "aff_1", "order_total": decimal.Decimal("100.50"),
                 "commission": decimal.Decimal("10.05"),
                 "currency": "EUR", "product_ids": ["prod_1", "prod_2"][: n + 1]} for n in range(2)]
    # landing_events, time_on_page only
    return [{"event_id": None, "occurred_at": utc_text(at(1 - 3 * 0.1, 3)), "event_type": "time_on_page",
             "visitor_hash": f"{3:045d}", "duration_ms": 1500, "referrer": None, "metadata": {"seconds": 1.5}}]


REQUESTS = {
    "instance_journeys": {"campaign_id": str(CAMPAIGN)},
    "campaign_instances": {"campaign_id": str(CAMPAIGN), "is_purchase": "true"},
    "voucher_redemptions": {"voucher_id": "v_00000000000000e1"},
    "affiliate_events": {},
    "affiliate_conversions": {"tracking_code": "AFF-1"},
    "landing_events": {"event_type": "time_on_page"},  # + tenant_id
}


def comparable(rows: list[dict]) -> list[dict]:
    """Nested JSON (events...) keeps the file's order; sequence ids are not compared."""
    return [{k: v for k, v in row.items() if k != "event_id" or isinstance(v, str)} for row in rows]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def export_stack(database_server, tmp_path_factory):
    """The whole stack on a database of its own: the rows are seeded straight into the raw
    tables (exact values to compare with), which the session database's other tests
    would see as projections lagging behind."""
    # At most 6 rows an export: account A's seven instances are one too many.
    with stack_of_its_own(database_server, tmp_path_factory.mktemp("exports-stack"), "exports",
                          EXPORTS_MAX_RECORDS="6") as pair:
        yield pair


@pytest_asyncio.fixture(scope="module")
async def world(export_stack):
    urls, stack = export_stack
    engine = db.create_engine(urls.app, pool_size=2)
    try:
        async with db.sessionmaker(engine)() as session:
            a = await accounts.create_account(session, "exporter")
            b = await accounts.create_account(session, "other exporter")
            _, key_a = await accounts.create_key(session, a.id, "test")
            _, key_b = await accounts.create_key(session, b.id, "test")
            _, analytics_only = await accounts.create_key(session, a.id, "test", ["analytics:read"])
            await session.commit()
        async with engine.connect() as conn:
            seeded = await seed(conn, a.id, b.id)
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        yield {"http": http, "a": key_a, "b": key_b, "analytics_only": analytics_only, "app_url": urls.app,
               "account_a": a.id, **seeded}


async def create(world, source: str, fmt: str, key: str | None = None, **extra) -> dict:
    filters = dict(REQUESTS[source])
    if source == "landing_events":
        filters["tenant_id"] = str(world["tenant"])
    body = {"source": source, "format": fmt, "start": START.isoformat().replace("+00:00", "Z"), "filters": filters,
            **extra}
    response = await world["http"].post("/v1/exports", json=body, headers=auth(key or world["a"]))
    assert response.status_code == 200, response.text
    return response.json()["export"]


async def completed(world, export_id: str, key: str | None = None) -> dict:
    return await wait_for_export(world["http"], key or world["a"], export_id)


# --------------------------------------------------------------------------- tests


async def test_every_source_in_every_format_holds_exactly_the_accounts_rows(world):
    queued = {(s, f): await create(world, s, f) for s in SOURCES for f in FORMATS}
    for (source, fmt), job in queued.items():
        assert re.fullmatch(r"exp_[0-9a-f]{20}", job["export_id"])
        assert job["status"] == "queued" and job["source"] == source and job["format"] == fmt
    for (source, fmt), job in queued.items():
        done = await completed(world, job["export_id"])
        assert done["status"] == "completed", done
        want = expected(source, world)
        assert (done["records_written"], done["records_total"], done["percent"]) == (len(want), len(want), 100)
        assert done["download_url"].endswith(f"/v1/exports/{job['export_id']}/download")
        response = await world["http"].get(f"/v1/exports/{job['export_id']}/download", headers=auth(world["a"]))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == done["content_type"]
        assert response.headers["accept-ranges"] == "bytes"
        assert f'filename="{done["file_name"]}"' in response.headers["content-disposition"]
        assert len(response.content) == int(done["file_size"])
        assert comparable(read_rows(fmt, response.content, source)) == comparable(want), (source, fmt)


async def test_a_range_download_resumes_with_206_and_the_right_bytes(world):
    job = await completed(world, (await create(world, "affiliate_events", "csv"))["export_id"])
    url = f"/v1/exports/{job['export_id']}/download"
    whole = (await world["http"].get(url, headers=auth(world["a"]))).content
    size = len(whole)
    for header, first, last in (("bytes=10-99", 10, 99), (f"bytes={size - 5}-", size - 5, size - 1),
                                ("bytes=-20", size - 20, size - 1), (f"bytes=100-{size * 2}", 100, size - 1)):
        part = await world["http"].get(url, headers={**auth(world["a"]), "Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == whole[first:last + 1]
    beyond = await world["http"].get(url, headers={**auth(world["a"]), "Range": f"bytes={size}-"})
    assert beyond.status_code == 416, (beyond.headers, beyond.content[:300])
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    # Not a single byte range: the whole file, 200 (RFC 9110).
    several = await world["http"].get(url, headers={**auth(world["a"]), "Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == whole


async def test_another_accounts_export_looks_exactly_like_a_missing_one(world):
    job = await completed(world, (await create(world, "affiliate_conversions", "jsonl"))["export_id"])
    missing = "exp_" + "0" * 20
    for path in ("/v1/exports/{}", "/v1/exports/{}/download"):
        theirs = await world["http"].get(path.format(job["export_id"]), headers=auth(world["b"]))
        nothing = await world["http"].get(path.format(missing), headers=auth(world["b"]))
        assert theirs.status_code == nothing.status_code == 404
        bodies = [theirs.json(), nothing.json()]
        for body in bodies:
            assert body["error"].pop("request_id")
        assert bodies[0] == bodies[1] == {"error": {"code": "EXPORT_NOT_FOUND", "message": "Export not found"}}
        assert theirs.headers.keys() == nothing.headers.keys()
    listed = (await world["http"].get("/v1/exports", headers=auth(world["b"]))).json()
    assert listed == {"exports": [], "next_page_token": ""} or all(
        e["export_id"] != job["export_id"] for e in listed.get("exports", []))


async def test_a_job_naming_another_accounts_campaign_or_tenant_holds_no_row(world):
    """B's exports with A's campaign id and A's landing tenant: only B's own rows."""
    for source, filters in (("campaign_instances", {"campaign_id": str(CAMPAIGN)}),
                            ("instance_journeys", {}), ("affiliate_events", {}),
                            ("landing_events", {"tenant_id": str(world["tenant"])})):
        response = await world["http"].post("/v1/exports", json={"source": source, "format": "jsonl",
                                                                 "filters": filters}, headers=auth(world["b"]))
        assert response.status_code == 200, response.text
        export_id = response.json()["export"]["export_id"]
        done = await completed(world, export_id, world["b"])
        file = await world["http"].get(f"/v1/exports/{export_id}/download", headers=auth(world["b"]))
        if source in ("instance_journeys", "campaign_instances"):  # B's own instances (B has its own), never A's
            rows = read_rows("jsonl", file.content, source)
            assert rows and {r["instance_id"] for r in rows}.isdisjoint(str(i[0]) for i in INSTANCES)
        else:
            assert (done["records_written"], file.content) == (0, b""), source


async def test_a_finished_job_writes_its_webhook_event_and_one_over_the_limit_fails(world):
    done = await completed(world, (await create(world, "affiliate_conversions", "parquet"))["export_id"])
    too_big = await world["http"].post("/v1/exports", json={
        "source": "instance_journeys", "start": (NOW - dt.timedelta(days=60)).date().isoformat()},
        headers=auth(world["a"]))
    failed = await completed(world, too_big.json()["export"]["export_id"])
    assert failed["status"] == "failed" and failed["failed_at"]
    assert failed["failure_reason"].startswith("The export would hold 7 records, more than the 6 allowed")
    gone = await world["http"].get(f"/v1/exports/{failed['export_id']}/download", headers=auth(world["a"]))
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "EXPORT_NOT_READY"
    engine = db.create_engine(world["app_url"], pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT e.type, e.body FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id "
                "AND d.account_id = e.account_id WHERE e.account_id = :a AND e.type LIKE 'export.%'"),
                {"a": world["account_a"]})).all()
    finally:
        await engine.dispose()
    events = {json.loads(body)["data"]["exportJob"]["exportId"]: (kind, json.loads(body)["data"]["exportJob"])
              for kind, body in rows}
    kind, event = events[done["export_id"]]
    assert kind == "export.completed"
    assert (event["status"], event["records"], event["fileSize"], event["format"]) == (
        "completed", 2, done["file_size"], "parquet")
    kind, event = events[failed["export_id"]]
    assert (kind, event["status"], event["failureReason"]) == ("export.failed", "failed", failed["failure_reason"])


async def test_listing_pages_newest_first(world):
    for _ in range(3):
        await create(world, "landing_events", "csv")
    first = await world["http"].get("/v1/exports", params={"limit": "2", "source": "landing_events"},
                                    headers=auth(world["a"]))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["exports"]) == 2 and page["next_page_token"]
    second = (await world["http"].get("/v1/exports", params={"limit": "2", "source": "landing_events",
                                                             "page_token": page["next_page_token"]},
                                      headers=auth(world["a"]))).json()
    ids = [e["export_id"] for e in page["exports"] + second["exports"]]
    assert len(ids) == len(set(ids)) >= 3
    created = [e["created_at"] for e in page["exports"] + second["exports"]]
    assert created == sorted(created, reverse=True)


async def test_bad_input_gets_every_field_in_the_envelope(world):
    http = world["http"]
    response = await http.post("/v1/exports", json={"source": "nope", "format": "pdf", "start": "yesterday"},
                               headers=auth(world["a"]))
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "INVALID_ARGUMENT" and body["request_id"]
    assert {f["field"]: f["code"] for f in body["fields"]} == {
        "source": "invalid_enum", "format": "invalid_enum", "start": "invalid_date"}
    response = await http.post("/v1/exports", json={"source": "campaign_instances", "filters": {"colour": "red"}},
                               headers=auth(world["a"]))
    assert {f["field"]: f["code"] for f in response.json()["error"]["fields"]} == {
        "filters.colour": "unknown_filter", "filters.campaign_id": "required"}
    response = await http.post("/v1/exports", json={"source": "instance_journeys", "start": "2026-01-10",
                                                    "end": "2026-01-01", "filters": {"is_purchase": "yes"}},
                               headers=auth(world["a"]))
    assert {f["field"]: f["code"] for f in response.json()["error"]["fields"]} == {
        "filters.is_purchase": "invalid_filter"}
    response = await http.post("/v1/exports", json={"source": "instance_journeys", "start": "2026-01-10",
                                                    "end": "2026-01-01"}, headers=auth(world["a"]))
    assert {f["field"]: f["code"] for f in response.json()["error"]["fields"]} == {"start": "invalid_range"}
    for value in ({}, 5, None, [], True):  # a filter is a string
        response = await http.post("/v1/exports", json={"source": "campaign_instances",
                                                        "filters": {"campaign_id": value}}, headers=auth(world["a"]))
        assert response.status_code == 400, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == ["filters.campaign_id"], value
    # The affiliate rows need reports:read too.
    response = await http.post("/v1/exports", json={"source": "affiliate_events"},
                               headers=auth(world["analytics_only"]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "PERMISSION_DENIED"
    # The gateway's own replies under /v1/exports: the same envelope.
    response = await http.get("/v1/exports/a/b/c", headers=auth(world["a"]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    response = await http.post("/v1/exports", content=b"{not json", headers={**auth(world["a"]),
                                                                          "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["fields"][0]["code"] == "invalid_json"
    unready = await create(world, "instance_journeys", "parquet")
    early = await http.get(f"/v1/exports/{unready['export_id']}/download", headers=auth(world["a"]))
    assert early.status_code in (200, 409)  # the worker may already be done
    if early.status_code == 409:
        assert early.json()["error"]["code"] == "EXPORT_NOT_READY"


async def test_without_a_key_the_answer_is_401(world):
    response = await world["http"].get("/v1/exports")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_progress_is_visible_while_a_worker_writes(export_stack, tmp_path):
    """A worker of its own on a slow source (a row per millisecond, 100 per fetch): the
    job shows records_total at once and records_written growing while it runs."""
    from platform_core.export_sources import Column, ExportSource
    from services.exports import jobs
    from services.exports.config import ExportSettings

    urls, _stack = export_stack
    slow = ExportSource(
        name="slow_numbers", family="test", description="numbers", scope="analytics:read",
        columns=(Column("n", "integer", "a number"),), filters=(),
        query="SELECT g FROM generate_series(1, 1500) AS g WHERE pg_sleep(0.001 * sign(g)) IS NOT NULL AND "
              " %(account_id)s::uuid IS NOT NULL AND %(livemode)s IS NOT NULL AND %(start)s < %(end)s",
        count_query="SELECT 1500 WHERE %(account_id)s::uuid IS NOT NULL AND %(livemode)s IS NOT NULL "
                    "AND %(start)s < %(end)s")
    engine = db.create_engine(urls.app, pool_size=3)
    try:
        async with db.sessionmaker(engine)() as session:
            account = await accounts.create_account(session, "slow exporter")
            await session.commit()
        who = accounts.Principal(account_id=account.id, key_id=uuid.uuid4(), mode="test", scopes=frozenset())
        async with engine.connect() as conn:
            # Leased to this test's worker from the start, so that the stack's workers leave it alone.
            await conn.execute(text(
                "INSERT INTO export_jobs (account_id, livemode, id, source, format, range_start, range_end, status, "
                "created_at, attempts, lease_owner, lease_expires_at) VALUES (:a, false, 'exp_00000000000000000510', "
                "'slow_numbers', 'csv', :s, :e, 'processing', now(), 1, 'progress-test', now() + interval '1 hour')"),
                {"a": account.id, "s": START, "e": NOW})
            await conn.commit()
            job = await jobs.get_job(conn, who, "exp_00000000000000000510")
        assert job.lease_owner == "progress-test"
        settings = ExportSettings(export_dir=tmp_path, lease_seconds=0.6, batch_rows=100)
        worker = jobs.ExportWorker(engine, urls.app, settings, {"slow_numbers": slow}, worker_id="progress-test")
        running = asyncio.create_task(worker.process(job))
        seen = []
        while not running.done():
            async with engine.connect() as conn:
                seen.append(tuple((await conn.execute(text(
                    "SELECT status, records_written, records_total FROM export_jobs "
                    "WHERE account_id = :a AND id = :id"),
                    {"a": account.id, "id": job.id})).one()))
            await asyncio.sleep(0.2)
        assert await running
        between = [s for s in seen if s[0] == "processing" and 0 < s[1] < 1500]
        assert between and all(s[2] == 1500 for s in between), seen
        assert [s[1] for s in between] == sorted(s[1] for s in between)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT status, records_written FROM export_jobs "
                                            "WHERE account_id = :a AND id = :id"),
                                       {"a": account.id, "id": job.id})).one() == ("completed", 1500)
    finally:
        await engine.dispose()


async def test_the_python_sdk_creates_waits_and_resumes_a_download(world, export_stack):
    from partnerlytics_client import Client
    from partnerlytics_client.errors import ExportsApiError

    _urls, stack = export_stack

    def run():
        with Client(world["a"], base_url=stack.gateway_url) as api:
            job = api.create_export_job("voucher_redemptions", format="csv",
                                        start=START, filters={"voucher_id": "v_00000000000000e1"}).export
            done = api.wait_for_export_job(job.export_id, interval=0.1).export
            whole = api.download_export_job(job.export_id)
            rest = api.download_export_job(job.export_id, offset=100)
            listed = api.list_export_jobs(source="voucher_redemptions", limit=1)
            try:
                api.create_export_job("campaign_instances")
            except ExportsApiError as error:
                refused = (error.status, error.code, [f["field"] for f in error.fields])
            return done, whole, rest, listed, refused

    done, whole, rest, listed, refused = await asyncio.to_thread(run)
    assert done.status == "completed" and done.records_written == 3 and done.percent == 100
    assert whole.filename == done.file_name and len(whole.content) == int(done.file_size)
    assert rest.content == whole.content[100:]
    assert listed.exports[0].export_id == done.export_id
    assert refused == (400, "INVALID_ARGUMENT", ["filters.campaign_id"])
