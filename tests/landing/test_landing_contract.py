"""Landing Analytics through the real Envoy gateway, over HTTP, against the document.

The track endpoint (validation, 404, bots, privacy, CORS, the per-tenant limit and the
per-source sub-limit), the two dashboard endpoints with expectations computed in Python
from the rows the test wrote (time zones, the 23:30 local edge, zero-filled days), the
tracker script, and the family's gateway replies. The test is the one trusted proxy in
front of the gateway, so `X-Forwarded-For` names the visitor's address.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import ipaddress
import json
import pathlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from partnerlytics.landing.v1 import landing_analytics_pb2 as api
from platform_core.distribution import CROSS_ACCOUNT
from services.landing.store import EventRow, store_events
from tests.support.contract import UUID_RE
from tests.landing.test_landing_grpc import CHROME, create_tenant

TRACK = "/api/analytics/track"
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
EVENT_NUMBERS = {name.removeprefix("EVENT_TYPE_").lower(): n for name, n in api.EventType.items() if n}


@pytest_asyncio.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10, headers={"user-agent": CHROME}) as client:
        yield client


@dataclass
class Landing:
    key: str
    tenant_id: int
    time_zone: str
    account: object


@pytest_asyncio.fixture
async def landing_tenant(landing_channel, make_tenant):
    async def make(time_zone: str = "America/Mexico_City") -> Landing:
        account = await make_tenant()
        tenant = await create_tenant(landing_channel, account.test_key, time_zone=time_zone)
        return Landing(account.test_key, tenant.id, time_zone, account)

    return make


def ip_of(n: int) -> str:
    return str(ipaddress.ip_address("198.18.0.0") + n)


async def track(http, tenant_id, event_type="pageview", metadata=None, ip="198.51.100.7", **headers):
    body = {"tenant_id": tenant_id, "event_type": event_type}
    if metadata is not None:
        body["metadata"] = metadata
    return await http.post(TRACK, json=body, headers={"x-forwarded-for": ip, **headers})


def error_body(response: httpx.Response) -> dict:
    """The family's error shape, with the request id checked against the header."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body.pop("request_id") == response.headers["x-request-id"]
    assert UUID_RE.match(response.headers["x-request-id"])
    return body


def invalid(*fields: tuple[str, str, str]) -> dict:
    return {
        "success": False,
        "error": f"Validation failed for {len(fields)} fields",
        "code": "INVALID_REQUEST",
        "fields": [{"field": f, "message": m, "code": c} for f, m, c in fields],
    }


EVENT_TYPE_MESSAGE = (
    "event_type must be one of: pageview, click_whatsapp, click_call, click_toggle_currency, time_on_page, "
    "qr_scan, product_click"
)
TENANT_NOT_FOUND = {"success": False, "error": "Tenant not found", "code": "TENANT_NOT_FOUND"}


async def stored_events(deps, tenant_id: int) -> list:
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # the test looks by tenant alone: every shard on Citus
        return (
            await conn.execute(
                text(
                    "SELECT event_type, visitor_hash, duration_ms, user_agent, referrer, metadata, occurred_at "
                    "FROM landing_events WHERE tenant_id = :t ORDER BY id"
                ),
                {"t": tenant_id},
            )
        ).all()


async def salt_of_today(deps, time_zone: str) -> bytes:
    async with deps.engine.connect() as conn:
        day = dt.datetime.now(ZoneInfo(time_zone)).date()
        return (
            await conn.execute(
                text("SELECT salt FROM landing_salts WHERE time_zone = :z AND day = :d"), {"z": time_zone, "d": day}
            )
        ).scalar_one()


# ------------------------------------------------------------------------------- track


async def test_track_stores_the_event_with_a_salted_ip_hash(http, landing_tenant, deps):
    tenant = await landing_tenant()
    response = await track(
        http, tenant.tenant_id, "click_whatsapp", {"button_location": "hero"}, ip="203.0.113.77",
        referer="https://casa-azul.example/menu",
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    # The headers name the limit that refuses this visitor first: its source's 20, not the tenant's 100.
    assert response.headers["x-ratelimit-limit"] == "20"
    assert response.headers["x-ratelimit-remaining"] == "19"
    [row] = await stored_events(deps, tenant.tenant_id)
    salt = await salt_of_today(deps, tenant.time_zone)
    address = ipaddress.ip_address("203.0.113.77").packed
    expected = hashlib.sha256(salt + tenant.tenant_id.to_bytes(8, "big") + address).hexdigest()[:45]
    assert row.visitor_hash == expected
    # Not a bare SHA-256 of the address (reversible by trying every IPv4 address).
    assert row.visitor_hash not in (hashlib.sha256(b"203.0.113.77").hexdigest()[:45],
                                    hashlib.sha256(address).hexdigest()[:45])
    assert (row.event_type, row.user_agent, row.referrer) == (
        api.EVENT_TYPE_CLICK_WHATSAPP, CHROME, "https://casa-azul.example/menu"
    )
    assert row.metadata == {"button_location": "hero"}


async def test_metadata_is_stored_as_sent(http, landing_tenant, deps):
    tenant = await landing_tenant()
    metadata = {"product_id": "tacos", "qty": 2, "price": 7.5, "tags": ["a", 1], "nested": {"ok": True, "none": None}}
    assert (await track(http, tenant.tenant_id, "product_click", metadata)).status_code == 200
    [row] = await stored_events(deps, tenant.tenant_id)
    assert row.metadata == metadata
    assert json.dumps(row.metadata["qty"]) == "2"  # an integer stays an integer


async def test_the_client_ip_is_the_one_the_gateway_derives_not_a_header_the_client_sends(
    http, landing_tenant, deps
):
    tenant = await landing_tenant()
    # One trusted proxy: the client is the last X-Forwarded-For entry; an entry the
    # client wrote itself (the first) and a spoofed internal header are both ignored.
    await track(http, tenant.tenant_id, ip="192.0.2.1, 203.0.113.5", **{"x-landing-client-ip": "192.0.2.99"})
    [row] = await stored_events(deps, tenant.tenant_id)
    salt = await salt_of_today(deps, tenant.time_zone)
    digest = hashlib.sha256(salt + tenant.tenant_id.to_bytes(8, "big") + ipaddress.ip_address("203.0.113.5").packed)
    assert row.visitor_hash == digest.hexdigest()[:45]


async def test_without_forwarded_for_the_client_is_the_connections_peer(http, landing_tenant, deps):
    tenant = await landing_tenant()
    response = await http.post(TRACK, json={"tenant_id": tenant.tenant_id, "event_type": "pageview"})
    assert response.status_code == 200
    [row] = await stored_events(deps, tenant.tenant_id)
    salt = await salt_of_today(deps, tenant.time_zone)
    digest = hashlib.sha256(salt + tenant.tenant_id.to_bytes(8, "big") + ipaddress.ip_address("127.0.0.1").packed)
    assert row.visitor_hash == digest.hexdigest()[:45]


async def test_a_request_without_user_agent_or_referer_is_not_counted(gateway, landing_tenant, deps):
    """http.client sends neither header (Envoy must not turn a missing one into "-")."""
    import http.client

    tenant = await landing_tenant()
    host, port = gateway.gateway_url.removeprefix("http://").split(":")
    body = json.dumps({"tenant_id": tenant.tenant_id, "event_type": "pageview"})

    def post(headers):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", TRACK, body=body, headers={"content-type": "application/json", **headers})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    assert post({}) == (200, {"success": True})
    assert await stored_events(deps, tenant.tenant_id) == []  # no user agent: not a browser
    assert post({"user-agent": CHROME}) == (200, {"success": True})
    [row] = await stored_events(deps, tenant.tenant_id)
    assert (row.user_agent, row.referrer) == (CHROME, "")


async def test_time_on_page_stores_its_seconds(http, landing_tenant, deps):
    tenant = await landing_tenant()
    assert (await track(http, tenant.tenant_id, "time_on_page", {"seconds": 42.5})).status_code == 200
    [row] = await stored_events(deps, tenant.tenant_id)
    assert row.duration_ms == 42_500
    assert row.metadata == {"seconds": 42.5}


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, [("tenant_id", "tenant_id is required", "required"), ("event_type", "event_type is required", "required")]),
        ({"tenant_id": None, "event_type": None},
         [("tenant_id", "tenant_id is required", "required"), ("event_type", "event_type is required", "required")]),
        ({"tenant_id": "1", "event_type": "pageview"},
         [("tenant_id", "tenant_id must be a positive integer", "invalid_integer")]),
        ({"tenant_id": 1.5, "event_type": "PageView"},
         [("tenant_id", "tenant_id must be a positive integer", "invalid_integer"),
          ("event_type", EVENT_TYPE_MESSAGE, "invalid_enum")]),
        ({"tenant_id": 0, "event_type": "click"},
         [("tenant_id", "tenant_id must be a positive integer", "invalid_integer"),
          ("event_type", EVENT_TYPE_MESSAGE, "invalid_enum")]),
        ({"tenant_id": -3, "event_type": "pageview", "metadata": "hero"},
         [("tenant_id", "tenant_id must be a positive integer", "invalid_integer"),
          ("metadata", "metadata must be a JSON object", "invalid_type")]),
        ({"tenant_id": 1, "event_type": ["pageview"], "metadata": [1]},
         [("event_type", EVENT_TYPE_MESSAGE, "invalid_enum"), ("metadata", "metadata must be a JSON object", "invalid_type")]),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": {f"k{i}": i for i in range(51)}},
         [("metadata", "metadata may hold at most 50 keys", "too_large")]),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": {"note": "x" * 5000}},
         [("metadata", "metadata may be at most 4096 bytes of JSON", "too_large")]),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": {"a": [{"b": [[[1]]]}]}},
         [("metadata", "metadata may nest at most 5 levels of objects and arrays", "too_deep")]),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": {"a": [{"b": ["x\u0000"]}]}},
         [("metadata", "metadata must not contain NUL characters", "invalid_value")]),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": {"a": {"k\u0000": 1}}},
         [("metadata", "metadata must not contain NUL characters", "invalid_value")]),
        ({"tenant_id": 1, "event_type": "time_on_page"},
         [("metadata.seconds", "a time_on_page event needs metadata.seconds, a number from 0 to 86400", "required")]),
        ({"tenant_id": 1, "event_type": "time_on_page", "metadata": {"seconds": -1}},
         [("metadata.seconds", "a time_on_page event needs metadata.seconds, a number from 0 to 86400",
           "out_of_range")]),
        ({"tenant_id": 1, "event_type": "time_on_page", "metadata": {"seconds": "12"}},
         [("metadata.seconds", "a time_on_page event needs metadata.seconds, a number from 0 to 86400",
           "out_of_range")]),
    ],
)
async def test_invalid_bodies_name_every_bad_field(http, body, fields):
    response = await http.post(TRACK, json=body)
    assert response.status_code == 400
    assert error_body(response) == invalid(*fields)


async def test_metadata_nested_five_levels_is_stored_as_sent(http, landing_tenant, deps):
    tenant = await landing_tenant()
    metadata = {"a": [{"b": [[1, "two", None, True]]}], "c": {}}
    response = await track(http, tenant.tenant_id, metadata=metadata)
    assert response.json() == {"success": True}
    [row] = await stored_events(deps, tenant.tenant_id)
    assert row.metadata == metadata


@pytest.mark.parametrize("raw", [b'{"tenant_id": 1,', b"[1]", b'"pageview"', b"null", b"tenant_id=1"])
async def test_a_body_that_is_not_a_json_object_is_400(http, raw):
    response = await http.post(TRACK, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_body(response) == invalid(("body", "Request body must be a valid JSON object", "invalid_json"))


async def test_unknown_tenant_is_404(http):
    response = await track(http, 2**53 - 1)
    assert response.status_code == 404
    assert error_body(response) == TENANT_NOT_FOUND


async def test_a_text_plain_body_is_accepted_like_json(http, landing_tenant, deps):
    """What navigator.sendBeacon sends for a string: a CORS-safelisted content type."""
    tenant = await landing_tenant()
    response = await http.post(
        TRACK, content=json.dumps({"tenant_id": tenant.tenant_id, "event_type": "qr_scan"}),
        headers={"content-type": "text/plain;charset=UTF-8", "x-forwarded-for": "198.51.100.8"},
    )
    assert response.json() == {"success": True}
    assert [r.event_type for r in await stored_events(deps, tenant.tenant_id)] == [api.EVENT_TYPE_QR_SCAN]


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        "python-requests/2.32.3",
        "",
    ],
)
async def test_known_bots_are_acknowledged_but_not_stored(http, landing_tenant, deps, user_agent):
    tenant = await landing_tenant()
    response = await track(http, tenant.tenant_id, **{"user-agent": user_agent})
    assert response.status_code == 200 and response.json() == {"success": True}
    assert await stored_events(deps, tenant.tenant_id) == []


async def test_a_bot_gets_the_status_body_and_headers_of_a_counted_event(http, landing_tenant, deps):
    """Nothing tells a crawler it was filtered: it is counted against the limits like a visitor."""
    tenant = await landing_tenant()
    bot_agent = {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
    human = await track(http, tenant.tenant_id, ip="203.0.113.90")
    bot = await track(http, tenant.tenant_id, ip="203.0.113.91", **bot_agent)
    assert (bot.status_code, bot.json()) == (human.status_code, human.json()) == (200, {"success": True})
    limit_headers = {k for k in human.headers if k.startswith("x-ratelimit-") or k == "retry-after"}
    assert limit_headers == {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}
    assert {k for k in bot.headers if k.startswith("x-ratelimit-") or k == "retry-after"} == limit_headers
    assert [bot.headers[k] for k in ("x-ratelimit-limit", "x-ratelimit-remaining")] == ["20", "19"]
    flood = [await track(http, tenant.tenant_id, ip="203.0.113.91", **bot_agent) for _ in range(20)]
    assert [r.status_code for r in flood] == [200] * 19 + [429]
    assert flood[-1].headers["x-ratelimit-remaining"] == "0" and "retry-after" in flood[-1].headers
    assert len(await stored_events(deps, tenant.tenant_id)) == 1  # the visitor's event only


# ------------------------------------------------------------------------------- CORS


async def test_preflight_is_answered_by_the_gateway(http):
    response = await http.options(
        TRACK,
        headers={
            "origin": "https://casa-azul.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://casa-azul.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "86400"
    assert "access-control-allow-credentials" not in response.headers
    assert response.content == b""


async def test_cross_origin_answers_and_errors_carry_cors_headers(http, landing_tenant):
    tenant = await landing_tenant()
    origin = {"origin": "https://another-shop.example"}
    ok = await track(http, tenant.tenant_id, **origin)
    missing = await track(http, 2**53 - 1, **origin)
    bad = await http.post(TRACK, json={}, headers=origin)
    for response in (ok, missing, bad):
        assert response.headers["access-control-allow-origin"] == "https://another-shop.example"
        exposed = response.headers["access-control-expose-headers"]
        assert "x-ratelimit-remaining" in exposed and "retry-after" in exposed
    assert (ok.status_code, missing.status_code, bad.status_code) == (200, 404, 400)


async def test_options_without_a_preflight_is_405(http):
    response = await http.options(TRACK)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_body(response) == {
        "success": False, "error": "Method OPTIONS is not allowed on this path", "code": "METHOD_NOT_ALLOWED",
    }


# ------------------------------------------------------------------------------- limits


async def test_one_flooding_source_is_limited_without_crowding_out_other_visitors(http, landing_tenant, deps):
    tenant = await landing_tenant()
    flood = [await track(http, tenant.tenant_id, ip="203.0.113.66") for _ in range(21)]
    assert [r.status_code for r in flood] == [200] * 20 + [429]
    refused = flood[-1]
    assert error_body(refused) == {
        "success": False, "error": "Too many events from this visitor. Please slow down", "code": "RATE_LIMITED",
        "retry_after": int(refused.headers["retry-after"]),
    }
    # At the latest 60/20 s into the next window (the sliding-window counter).
    assert 1 <= int(refused.headers["retry-after"]) <= 63
    assert refused.headers["x-ratelimit-limit"] == "20"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    # Another visitor of the same tenant still gets through, and the refused event did
    # not spend the tenant's quota.
    other = await track(http, tenant.tenant_id, ip="203.0.113.67")
    assert other.status_code == 200
    assert (other.headers["x-ratelimit-limit"], other.headers["x-ratelimit-remaining"]) == ("20", "19")
    assert len(await stored_events(deps, tenant.tenant_id)) == 21
    # 79 more from fresh sources fill the tenant's 100; once the tenant has fewer left than
    # the source, the headers name the tenant's limit.
    more = [await track(http, tenant.tenant_id, ip=ip_of(i // 10)) for i in range(79)]
    assert [r.status_code for r in more] == [200] * 79
    assert [(r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) for r in more[-2:]] == [
        ("100", "1"), ("100", "0")]
    assert (await track(http, tenant.tenant_id, ip=ip_of(500))).status_code == 429


async def test_over_100_events_a_minute_for_a_tenant_is_429(http, landing_tenant, deps):
    tenant, neighbour = await landing_tenant(), await landing_tenant()
    statuses = [(await track(http, tenant.tenant_id, ip=ip_of(i // 10))).status_code for i in range(100)]
    assert statuses == [200] * 100
    refused = await track(http, tenant.tenant_id, ip=ip_of(999))
    assert refused.status_code == 429
    assert error_body(refused) == {
        "success": False, "error": "Rate limit exceeded: at most 100 events per minute per tenant",
        "code": "RATE_LIMITED", "retry_after": int(refused.headers["retry-after"]),
    }
    assert refused.headers["x-ratelimit-limit"] == "100"
    assert len(await stored_events(deps, tenant.tenant_id)) == 100
    # Another tenant is not affected.
    assert (await track(http, neighbour.tenant_id, ip=ip_of(999))).status_code == 200


# ------------------------------------------------------------------------------- dashboards


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    event_type: str
    visitor: str
    duration_ms: int | None = None


async def insert_events(deps, tenant_id: int, zone: str, events: list[Event]) -> None:
    """Rows written as the service writes them (with the daily rollups), at chosen times;
    a visitor's hash changes with the local day, as the daily salt makes it."""
    tz = ZoneInfo(zone)
    rows = [
        EventRow(tenant_id, zone, e.at, EVENT_NUMBERS[e.event_type],
                 hashlib.sha256(f"{e.visitor}@{e.at.astimezone(tz).date()}".encode()).hexdigest()[:45],
                 e.duration_ms, CHROME, "", None)
        for e in events
    ]
    async with deps.engine.begin() as conn:
        await store_events(conn, rows)


def expected_dashboard(events: list[Event], zone: str, now: dt.datetime) -> dict:
    """The document's figures, from the events' local dates (no SQL, no day boundaries)."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    days = [today - dt.timedelta(days=6 - i) for i in range(7)]
    week = [e for e in events if e.at.astimezone(tz).date() in days]

    def visitors(day):
        return len({e.visitor for e in week if e.at.astimezone(tz).date() == day})

    def count(kind):
        return sum(1 for e in week if e.event_type == kind)

    timed = [e.duration_ms for e in week if e.event_type == "time_on_page"]
    average = decimal.Decimal(sum(timed)) / len(timed) / 1000 if timed else decimal.Decimal(0)
    return {
        "success": True,
        "data": {
            "visitors_today": visitors(today),
            # Hashes rotate daily: a visitor of two days is two hashes, i.e. unique per day.
            "visitors_week": len({(e.visitor, e.at.astimezone(tz).date()) for e in week}),
            "whatsapp_clicks": count("click_whatsapp"),
            "call_clicks": count("click_call"),
            "currency_toggles": count("click_toggle_currency"),
            "qr_scans": count("qr_scan"),
            "avg_time_on_page": int(average.quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP)),
            "last_7_days": [{"date": d.isoformat(), "visitors": visitors(d)} for d in days],
        },
    }


def expected_today(events: list[Event], zone: str, now: dt.datetime) -> dict:
    tz = ZoneInfo(zone)
    today = [e for e in events if e.at.astimezone(tz).date() == now.astimezone(tz).date()]
    return {
        "success": True,
        "visitors_today": len({e.visitor for e in today}),
        "whatsapp_clicks": sum(1 for e in today if e.event_type == "click_whatsapp"),
        "qr_scans": sum(1 for e in today if e.event_type == "qr_scan"),
        "products_viewed": sum(1 for e in today if e.event_type == "product_click"),
    }


def local(zone: str, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(dt.timezone.utc)


def edge_events(zone: str, now: dt.datetime) -> list[Event]:
    """Events at 23:30 and 00:00 local around every day of the window, and outside it."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    midnight = local(zone, today, 0)
    day = dt.timedelta(days=1)
    events = [
        Event(local(zone, today - day, 23, 30), "click_whatsapp", "ana"),  # yesterday, 30 min before today
        Event(local(zone, today - 3 * day, 23, 30), "click_call", "ana"),
        Event(local(zone, today - 3 * day, 23, 30), "click_call", "ana"),  # same visitor, same day
        Event(local(zone, today - 3 * day, 0, 0), "time_on_page", "bea", 1_000),
        Event(local(zone, today - 2 * day, 12, 0), "time_on_page", "bea", 2_000),  # avg 1.5 s -> 2
        Event(local(zone, today - 6 * day, 0, 0), "qr_scan", "cai"),  # the window's first instant
        Event(local(zone, today - 7 * day, 23, 30), "click_toggle_currency", "dan"),  # just before it
        Event(local(zone, today - 5 * day, 10, 0), "click_toggle_currency", "eli"),
        Event(local(zone, today - 4 * day, 23, 59), "product_click", "eli"),
    ]
    # Today: the first instant, and between it and now (both in the past).
    events.append(Event(midnight, "pageview", "fay"))
    half = midnight + (now - midnight) / 2
    events += [Event(half, "click_whatsapp", "ana"), Event(half, "qr_scan", "gus"), Event(half, "product_click", "gus")]
    return events


async def get_json(http, path: str, key: str) -> httpx.Response:
    return await http.get(path, headers={"authorization": f"Bearer {key}"})


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Mexico_City", "Asia/Kathmandu"])
async def test_dashboard_counts_local_days_of_the_tenants_zone(http, landing_tenant, deps, zone):
    tenant = await landing_tenant(zone)
    now = dt.datetime.now(dt.timezone.utc)
    events = edge_events(zone, now)
    await insert_events(deps, tenant.tenant_id, zone, events)
    response = await get_json(http, f"/api/analytics/{tenant.tenant_id}", tenant.key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == expected_dashboard(events, zone, now)
    # The 23:30 event counts for its own local day, whatever day it is in UTC.
    yesterday = (now.astimezone(ZoneInfo(zone)) - dt.timedelta(days=1)).date().isoformat()
    assert {"date": yesterday, "visitors": 1} in body["data"]["last_7_days"]
    assert len(body["data"]["last_7_days"]) == 7


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_today_is_the_tenants_local_day(http, landing_tenant, deps, zone):
    tenant = await landing_tenant(zone)
    now = dt.datetime.now(dt.timezone.utc)
    events = edge_events(zone, now)
    await insert_events(deps, tenant.tenant_id, zone, events)
    response = await get_json(http, f"/api/analytics/{tenant.tenant_id}/today", tenant.key)
    assert response.status_code == 200
    assert response.json() == expected_today(events, zone, now)
    # Yesterday's 23:30 WhatsApp click is not today's.
    assert response.json()["whatsapp_clicks"] == 1


async def test_a_tenant_without_events_has_seven_zero_days(http, landing_tenant):
    tenant = await landing_tenant("Europe/Berlin")
    response = await get_json(http, f"/api/analytics/{tenant.tenant_id}", tenant.key)
    now = dt.datetime.now(dt.timezone.utc)
    assert response.json() == expected_dashboard([], "Europe/Berlin", now)
    assert [d["visitors"] for d in response.json()["data"]["last_7_days"]] == [0] * 7
    today = await get_json(http, f"/api/analytics/{tenant.tenant_id}/today", tenant.key)
    assert today.json() == {"success": True, "visitors_today": 0, "whatsapp_clicks": 0, "qr_scans": 0,
                            "products_viewed": 0}


async def test_tracked_events_show_on_the_dashboard(http, landing_tenant):
    tenant = await landing_tenant("UTC")
    for ip, kind in [("203.0.113.1", "pageview"), ("203.0.113.1", "click_whatsapp"), ("203.0.113.2", "pageview"),
                     ("203.0.113.2", "product_click"), ("203.0.113.2", "time_on_page")]:
        metadata = {"seconds": 31} if kind == "time_on_page" else None
        assert (await track(http, tenant.tenant_id, kind, metadata, ip=ip)).status_code == 200
    data = (await get_json(http, f"/api/analytics/{tenant.tenant_id}", tenant.key)).json()["data"]
    assert (data["visitors_today"], data["visitors_week"], data["whatsapp_clicks"], data["avg_time_on_page"]) == (
        2, 2, 1, 31
    )
    today = (await get_json(http, f"/api/analytics/{tenant.tenant_id}/today", tenant.key)).json()
    assert today == {"success": True, "visitors_today": 2, "whatsapp_clicks": 1, "qr_scans": 0, "products_viewed": 1}


@pytest.mark.parametrize("suffix", ["", "/today"])
async def test_dashboard_errors(http, landing_tenant, make_tenant, suffix):
    tenant = await landing_tenant()
    stranger = await make_tenant()
    path = f"/api/analytics/{tenant.tenant_id}{suffix}"
    unauthorized = {"success": False, "error": "Invalid or missing secret key", "code": "UNAUTHORIZED"}
    for headers in ({}, {"authorization": "Bearer sk_test_short"}, {"authorization": "Basic abc"}):
        response = await http.get(path, headers=headers)
        assert (response.status_code, error_body(response)) == (401, unauthorized)
    forbidden = await get_json(http, path, tenant.account.write_only_key)
    assert (forbidden.status_code, error_body(forbidden)) == (403, {
        "success": False, "error": "Insufficient permissions for this endpoint", "code": "FORBIDDEN",
    })
    # Another account's tenant, the same account's other mode, a missing one: all alike.
    for key, tenant_id in ((stranger.test_key, tenant.tenant_id), (tenant.account.live_key, tenant.tenant_id),
                           (tenant.key, 2**53 - 1)):
        response = await get_json(http, f"/api/analytics/{tenant_id}{suffix}", key)
        assert (response.status_code, error_body(response)) == (404, TENANT_NOT_FOUND)
    for raw in ("abc", "0", "-1", "1.5", "9007199254740992", "%20"):
        response = await get_json(http, f"/api/analytics/{raw}{suffix}", tenant.key)
        assert response.status_code == 400, raw
        assert error_body(response) == invalid(("tenantId", "tenantId must be a positive integer", "invalid_integer"))


# ------------------------------------------------------------------------------- gateway replies


async def test_tracker_script_is_served_by_the_gateway(http):
    response = await http.get("/api/analytics/tracker.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == (ROOT / "gateway" / "tracker.js").read_text(encoding="utf-8")
    head = await http.head("/api/analytics/tracker.js")
    assert head.status_code == 200 and head.content == b""
    refused = await http.post("/api/analytics/tracker.js", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "method, path, allow",
    [("GET", TRACK, "POST"), ("PUT", TRACK, "POST"), ("POST", "/api/analytics/7", "GET"),
     ("DELETE", "/api/analytics/7/today", "GET")],
)
async def test_wrong_method_is_405_in_the_family_shape(http, method, path, allow):
    response = await http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert error_body(response) == {
        "success": False, "error": f"Method {method} is not allowed on this path", "code": "METHOD_NOT_ALLOWED",
    }


@pytest.mark.parametrize("path", ["/api/analytics/", "/api/analytics/7/week", "/api/analytics/track/x"])
async def test_unknown_path_under_the_family_is_404_in_its_shape(http, path):
    response = await http.get(path)
    assert response.status_code == 404
    assert error_body(response) == {
        "success": False, "error": "The requested resource was not found", "code": "NOT_FOUND",
    }


async def test_too_large_and_grpc_bodies_are_refused_in_the_family_shape(http):
    large = await http.post(TRACK, content=b"{" + b" " * (300 * 1024) + b"}",
                            headers={"content-type": "application/json"})
    assert (large.status_code, error_body(large)) == (413, {
        "success": False, "error": "The request body is too large", "code": "PAYLOAD_TOO_LARGE",
    })
    grpc_body = await http.post(TRACK, content=b"\x00", headers={"content-type": "application/grpc"})
    assert (grpc_body.status_code, error_body(grpc_body)) == (415, {
        "success": False, "error": "This API accepts JSON; gRPC clients must call the service directly",
        "code": "UNSUPPORTED_MEDIA_TYPE",
    })


async def test_a_valid_request_id_is_kept(http, landing_tenant):
    tenant = await landing_tenant()
    request_id = str(uuid.uuid4())
    response = await track(http, 2**53 - 1, **{"x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id
    ok = await track(http, tenant.tenant_id, **{"x-request-id": request_id})
    assert ok.headers["x-request-id"] == request_id
