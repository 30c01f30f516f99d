"""Instance Analytics through the real Envoy gateway, over HTTP, against the document.

Every documented example and error case; whole bodies compared with expectations
computed independently from the records the test ingested.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio

from tests.support import factories as f
from tests.support.contract import (
    NOT_FOUND_IDS,
    TOO_MANY,
    UNAUTHORIZED,
    bad_request,
    new_request_id,
    rfc3339,
    split_meta,
)

PATH = "/partner/v1/instances/analytics"


@dataclass
class Seeded:
    """What a tenant's data is, kept on the test side to compute expectations."""

    instances: list = field(default_factory=list)
    orders: dict = field(default_factory=dict)  # instance id -> order record
    events: dict = field(default_factory=dict)  # instance id -> [event records]
    rewards: dict = field(default_factory=dict)  # instance id -> [reward records]


@pytest_asyncio.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10) as client:
        yield client


async def seed(channel, tenant, now: dt.datetime, n: int = 120) -> Seeded:
    """n instances over the last 48 hours (so windows cut through them), a third purchased."""
    ingest = f.Ingest(channel, tenant.test_key)
    data = Seeded()
    moments = f.spread(n, now - dt.timedelta(hours=48), now - dt.timedelta(seconds=30), seed=n)
    data.instances = [f.instance(m) for m in moments]
    await ingest.instances(data.instances)
    for i, inst in enumerate(data.instances):
        at = inst.timestamp.ToDatetime(tzinfo=dt.timezone.utc)
        if i % 3 == 0:
            data.orders[inst.id] = f.order(inst.id, inst.insider_id, at + dt.timedelta(seconds=5),
                                           total=f"{10 + i}.99", discounted_price=f"{9 + i}.49" if i % 2 else "")
            data.rewards[inst.id] = [f.reward(inst.id, inst.insider_id, at + dt.timedelta(seconds=6), amount=f"{i}.50")]
        if i % 4 != 1:
            data.events[inst.id] = [f.page_view(inst.id, at + dt.timedelta(seconds=k), name=f"view {k}") for k in (3, 1, 2)]
    await ingest.orders(list(data.orders.values()))
    await ingest.rewards([r for rs in data.rewards.values() for r in rs])
    await ingest.events([e for es in data.events.values() for e in es])
    return data


def expected_list(data: Seeded, start, end, is_purchase, page, limit, time_frame) -> dict:
    rows = []
    for inst in data.instances:
        at = inst.timestamp.ToDatetime(tzinfo=dt.timezone.utc)
        purchased = inst.id in data.orders
        if start <= at < end and (is_purchase is None or purchased == is_purchase):
            rows.append((at, inst, purchased))
    rows.sort(key=lambda r: (-r[0].timestamp(), r[1].id))
    total = len(rows)
    pages = math.ceil(total / limit)
    chosen = rows[(page - 1) * limit: page * limit]
    return {
        "success": True,
        "time_frame": time_frame,
        "message": "Instance analytics retrieved successfully",
        "data": [
            {
                "timestamp": rfc3339(at),
                "instance_id": inst.id,
                "is_purchase": purchased,
                "insider_id": inst.insider_id,
                "purchased_insider_id": data.orders[inst.id].purchased_insider_id if purchased else None,
            }
            for at, inst, purchased in chosen
        ],
        "pagination": {
            "page": page, "limit": limit, "total": total, "totalPages": pages,
            "hasNext": page < pages, "hasPrevious": page > 1,
        },
    }


def _ts(t) -> str:
    return rfc3339(t.ToDatetime(tzinfo=dt.timezone.utc))


def expected_details(data: Seeded, ids: list[str], events: str = "all") -> dict:
    out = []
    for iid in dict.fromkeys(ids):
        inst = next(i for i in data.instances if i.id == iid)
        evs = sorted(data.events.get(iid, []), key=lambda e: (e.created_at.ToDatetime(), e.id))
        if events == "first":
            evs = evs[:1]
        elif events == "last":
            evs = evs[-1:]
        order = data.orders.get(iid)
        out.append({
            "instance_id": iid,
            "insider_id": inst.insider_id,
            "purchased_insider_id": order.purchased_insider_id if order else None,
            "campaign_id": inst.campaign_id,
            "is_purchase": order is not None,
            "events": [
                {"id": e.id, "name": e.name, "tracker_type": "page_view", "created_at": _ts(e.created_at),
                 "updated_at": _ts(e.created_at), "metadata": {"url": e.metadata["url"], "user_agent": "Mozilla/5.0"}}
                for e in evs
            ],
            "order": None if order is None else {
                "id": order.id, "total": float(order.total), "currency": "USD", "status": "completed",
                "items": [{"product_id": it.product_id, "quantity": it.quantity, "price": float(it.price)} for it in order.items],
                "created_at": _ts(order.created_at),
            },
            "insider_rewards": [
                {"id": r.id, "insider_id": r.insider_id, "type": "commission", "amount": float(r.amount),
                 "currency": "USD", "status": "pending", "created_at": _ts(r.created_at)}
                for r in data.rewards.get(iid, [])
            ],
            "order_discounted_price": None if order is None else float(order.discounted_price or order.total),
            "cashfunds_use": 0,
            "credits_used": 0,
        })
    return {"success": True, "message": "Instance details retrieved successfully", "data": out}


# ---------------------------------------------------------------------------------------
# List


async def test_list_documented_example_returns_the_days_purchases(http, channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc))
    rid = new_request_id()
    response = await http.get(f"{PATH}?is_purchased=true&time_frame=day&page=1&limit=20",
                              headers={"Authorization": f"Bearer {tenant.test_key}", "X-Request-ID": rid})
    now = dt.datetime.now(dt.timezone.utc)
    assert response.status_code == 200
    body = split_meta(response, rid)
    # The window ends "now" on the server; no seeded row lies within seconds of either edge.
    assert body == expected_list(data, now - dt.timedelta(hours=24), now, True, 1, 20, "day")
    assert body["pagination"]["total"] > 0


async def test_list_defaults_are_the_last_day_page_1_limit_20(http, channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc))
    response = await http.get(PATH, headers={"Authorization": f"Bearer {tenant.test_key}"})
    now = dt.datetime.now(dt.timezone.utc)
    assert split_meta(response) == expected_list(data, now - dt.timedelta(hours=24), now, None, 1, 20, "day")


async def test_list_hour_window_and_non_purchases(http, channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc), n=300)
    response = await http.get(f"{PATH}?time_frame=hour&is_purchased=false&limit=5",
                              headers={"Authorization": f"Bearer {tenant.test_key}"})
    now = dt.datetime.now(dt.timezone.utc)
    assert split_meta(response) == expected_list(data, now - dt.timedelta(hours=1), now, False, 1, 5, "hour")


@pytest.mark.parametrize("page,limit", [(1, 100), (2, 7), (9, 13), (40, 3), (1000, 20)])
async def test_list_custom_range_pages_through_every_row(http, channel, make_tenant, page, limit):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = await seed(channel, tenant, now)
    start, end = (now - dt.timedelta(days=1)).date(), now.date()
    response = await http.get(
        f"{PATH}?time_frame=custom&start_date={start}&end_date={end}&page={page}&limit={limit}&unknown=ignored",
        headers={"Authorization": f"Bearer {tenant.test_key}"},
    )
    lo = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    assert split_meta(response) == expected_list(data, lo, hi, None, page, limit, "custom")


async def test_list_custom_accepts_date_times(http, channel, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    data = await seed(channel, tenant, now)
    lo, hi = now - dt.timedelta(hours=30), now - dt.timedelta(hours=2)
    response = await http.get(PATH, params={"time_frame": "custom", "start_date": rfc3339(lo), "end_date": rfc3339(hi)},
                              headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert split_meta(response) == expected_list(data, lo, hi, None, 1, 20, "custom")


# ---------------------------------------------------------------------------------------
# List errors: every documented case, and several at once


LIST_ERRORS = [
    ("time_frame=week", [("time_frame", "Invalid time_frame parameter (must be hour, day, or custom)", "invalid_enum")]),
    ("time_frame=custom&end_date=2026-01-31", [("start_date", "Missing start_date for custom time_frame", "required")]),
    ("time_frame=custom&start_date=2026-01-01", [("end_date", "Missing end_date for custom time_frame", "required")]),
    ("time_frame=custom&start_date=2026-02-01&end_date=2026-01-31",
     [("end_date", "end_date must be after start_date", "invalid_range")]),
    ("time_frame=custom&start_date=yesterday&end_date=2026-01-31",
     [("start_date", "Invalid start_date (must be an ISO 8601 date)", "invalid_date")]),
    ("page=0", [("page", "Invalid page number (must be positive integer)", "out_of_range")]),
    ("page=-2", [("page", "Invalid page number (must be positive integer)", "invalid_integer")]),
    ("page=1.5", [("page", "Invalid page number (must be positive integer)", "invalid_integer")]),
    ("limit=0", [("limit", "Invalid limit value (must be 1-100)", "out_of_range")]),
    ("limit=101", [("limit", "Invalid limit value (must be 1-100)", "out_of_range")]),
    ("limit=abc", [("limit", "Invalid limit value (must be 1-100)", "invalid_integer")]),
    ("is_purchased=maybe", [("is_purchased", "Invalid is_purchased parameter (must be boolean)", "invalid_boolean")]),
    ("is_purchased=maybe&time_frame=custom&page=x&limit=500", [
        ("is_purchased", "Invalid is_purchased parameter (must be boolean)", "invalid_boolean"),
        ("page", "Invalid page number (must be positive integer)", "invalid_integer"),
        ("limit", "Invalid limit value (must be 1-100)", "out_of_range"),
        ("start_date", "Missing start_date for custom time_frame", "required"),
        ("end_date", "Missing end_date for custom time_frame", "required"),
    ]),
]


@pytest.mark.parametrize("query,fields", LIST_ERRORS, ids=[q for q, _ in LIST_ERRORS])
async def test_list_rejects_bad_parameters_with_every_field(http, make_tenant, query, fields):
    tenant = await make_tenant()
    response = await http.get(f"{PATH}?{query}", headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 400
    assert split_meta(response) == bad_request(*fields)
    assert response.headers["x-ratelimit-limit"] == "100"


async def test_a_repeated_query_parameter_gets_the_documented_400(http, make_tenant):
    tenant = await make_tenant()
    response = await http.get(f"{PATH}?limit=5&limit=7", headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 400
    assert split_meta(response) == bad_request(
        ("request", "The request could not be parsed, e.g. a query parameter was given more than once",
         "malformed_request"))


@pytest.mark.parametrize("content_type,raw,field", [
    ("application/x-www-form-urlencoded", b"instance_ids=abc", "content-type"),
    ("application/json", b"", "body"),
])
async def test_details_body_in_another_format_or_empty(http, make_tenant, content_type, raw, field):
    tenant = await make_tenant()
    response = await http.post(PATH, content=raw, headers={"Authorization": f"Bearer {tenant.test_key}",
                                                           "Content-Type": content_type})
    assert response.status_code == 400
    assert [f["field"] for f in split_meta(response)["fields"]] == [field]


async def test_a_page_past_the_end_is_empty_not_an_error(http, channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc), n=10)
    response = await http.get(f"{PATH}?time_frame=custom&start_date=2000-01-01&end_date=2100-01-01&page=99",
                              headers={"Authorization": f"Bearer {tenant.test_key}"})
    body = split_meta(response)
    assert (body["data"], body["pagination"]["total"], body["pagination"]["hasNext"]) == ([], len(data.instances), False)


# ---------------------------------------------------------------------------------------
# Details


@pytest.mark.parametrize("events", ["first", "last", "all", None])
async def test_details_return_each_instance_in_request_order(http, channel, make_tenant, events):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc), n=12)
    ids = [data.instances[i].id for i in (5, 0, 1, 3, 0, 9)]  # purchased, not, no events, duplicate
    query = f"?events={events}" if events else ""
    response = await http.post(f"{PATH}{query}", json={"instance_ids": ids},
                               headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 200
    assert split_meta(response) == expected_details(data, ids, events or "all")


async def test_details_print_nulls_and_omit_a_missing_reference_id(http, channel, make_tenant):
    tenant = await make_tenant()
    data = await seed(channel, tenant, dt.datetime.now(dt.timezone.utc), n=3)
    response = await http.post(PATH, json={"instance_ids": [data.instances[2].id]},
                               headers={"Authorization": f"Bearer {tenant.test_key}"})
    item = response.json()["data"][0]
    assert (item["order"], item["purchased_insider_id"], item["order_discounted_price"]) == (None, None, None)
    assert "reference_id" not in item["events"][0]


DETAIL_ERRORS = [
    ("?events=middle", {"instance_ids": ["00000000-0000-4000-8000-000000000000"]},
     [("events", "Invalid events parameter (must be first, last, or all)", "invalid_enum")]),
    ("", {}, [("instance_ids", "Missing instance_ids in request body", "required")]),
    ("", {"instance_ids": None}, [("instance_ids", "Missing instance_ids in request body", "required")]),
    ("", {"instance_ids": []}, [("instance_ids", "Must provide at least 1 instance ID", "too_few")]),
    ("", {"instance_ids": [str(uuid.uuid4()) for _ in range(51)]},
     [("instance_ids", "Maximum 50 instance IDs per request", "too_many")]),
    ("", {"instance_ids": ["not-a-uuid", "00000000-0000-4000-8000-000000000000", 7]},
     [("instance_ids[0]", "Invalid UUID format for instance IDs", "invalid_uuid"),
      ("instance_ids[2]", "Invalid UUID format for instance IDs", "invalid_uuid")]),
    ("", {"instance_ids": "00000000-0000-4000-8000-000000000000"},
     [("instance_ids", "instance_ids must be an array of UUIDs", "invalid_type")]),
]


@pytest.mark.parametrize("query,body,fields", DETAIL_ERRORS, ids=[str(i) for i in range(len(DETAIL_ERRORS))])
async def test_details_reject_bad_input(http, make_tenant, query, body, fields):
    tenant = await make_tenant()
    response = await http.post(f"{PATH}{query}", json=body, headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert response.status_code == 400
    assert split_meta(response) == bad_request(*fields)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"instance_ids": {"a": 1}}'])
async def test_details_reject_a_body_that_is_not_a_json_object(http, make_tenant, raw):
    tenant = await make_tenant()
    response = await http.post(PATH, content=raw, headers={"Authorization": f"Bearer {tenant.test_key}",
                                                           "Content-Type": "application/json"})
    assert response.status_code == 400
    body = split_meta(response)
    assert body["error"] == "Bad Request" and body["fields"][0]["field"] in ("body", "instance_ids")


async def test_unknown_and_foreign_ids_are_the_same_404(http, channel, make_tenant):
    owner, other = await make_tenant("owner"), await make_tenant("other")
    data = await seed(channel, owner, dt.datetime.now(dt.timezone.utc), n=3)
    mine = await seed(channel, other, dt.datetime.now(dt.timezone.utc), n=3)
    answers = []
    for foreign in (data.instances[0].id, str(uuid.uuid4())):
        response = await http.post(PATH, json={"instance_ids": [mine.instances[0].id, foreign]},
                                   headers={"Authorization": f"Bearer {other.test_key}"})
        answers.append((response.status_code, split_meta(response)))
    assert answers[0] == answers[1] == (404, NOT_FOUND_IDS)


async def test_another_partners_instances_never_appear_in_lists(http, channel, make_tenant):
    owner, other = await make_tenant("owner"), await make_tenant("other")
    await seed(channel, owner, dt.datetime.now(dt.timezone.utc), n=20)
    response = await http.get(f"{PATH}?time_frame=custom&start_date=2000-01-01&end_date=2100-01-01",
                              headers={"Authorization": f"Bearer {other.test_key}"})
    assert split_meta(response)["pagination"]["total"] == 0


# ---------------------------------------------------------------------------------------
# Authentication, rate limits, request ids, unknown routes


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer sk_live_abc123def456"},
    {"Authorization": "Bearer sk_test_" + "Z" * 32}, {"Authorization": "Token sk_test_" + "Z" * 32},
], ids=["missing", "empty", "short", "unknown", "scheme"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_missing_or_invalid_keys_get_401(http, headers, method):
    response = await http.request(method, PATH, headers=headers, json={"instance_ids": [str(uuid.uuid4())]})
    assert response.status_code == 401
    assert split_meta(response) == UNAUTHORIZED


async def test_a_key_without_the_analytics_scope_gets_403(http, make_tenant):
    tenant = await make_tenant()
    response = await http.get(PATH, headers={"Authorization": f"Bearer {tenant.write_only_key}"})
    assert response.status_code == 403
    assert split_meta(response) == {
        "success": False, "error": "Forbidden", "message": "Insufficient permissions for this endpoint",
        "details": "The secret key lacks the analytics:read scope.",
    }


async def test_list_rate_limit_is_100_per_hour_with_headers(http, make_tenant):
    tenant = await make_tenant()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    for i in range(100):
        response = await http.get(f"{PATH}?time_frame=hour", headers=auth)
        assert (response.status_code, response.headers["x-ratelimit-remaining"]) == (200, str(99 - i))
    limited = await http.get(f"{PATH}?time_frame=hour", headers=auth)
    assert limited.status_code == 429
    assert split_meta(limited) == TOO_MANY
    assert limited.headers["x-ratelimit-limit"] == "100"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    # The sliding-window counter (docs/architecture.md "Rate limiting"): the 100 hits weigh on
    # until the end of the next hourly window, and one more passes at the latest 36 s into it.
    reset, retry = int(limited.headers["x-ratelimit-reset"]) - now, int(limited.headers["retry-after"])
    assert 3599 <= reset <= 7201
    assert 36 <= retry <= 3636 and retry <= reset + 1
    # Per endpoint: the details quota is untouched.
    details = await http.post(PATH, json={"instance_ids": [str(uuid.uuid4())]}, headers=auth)
    assert (details.status_code, details.headers["x-ratelimit-limit"], details.headers["x-ratelimit-remaining"]) == (404, "50", "49")


async def test_details_rate_limit_is_50_per_hour(http, make_tenant):
    tenant = await make_tenant()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    for _ in range(50):
        assert (await http.post(PATH, json={"instance_ids": []}, headers=auth)).status_code == 400
    limited = await http.post(PATH, json={"instance_ids": []}, headers=auth)
    assert (limited.status_code, split_meta(limited)) == (429, TOO_MANY)


async def test_rejected_keys_do_not_spend_the_partners_quota(http, make_tenant, deps):
    from platform_core import accounts

    tenant = await make_tenant()
    async with deps.sessions() as s:
        live_key_id = next(k.id for k in await accounts.list_keys(s, tenant.account_id) if k.mode == "live")
        await accounts.revoke_key(s, live_key_id)
        await s.commit()
    for _ in range(5):
        assert (await http.get(PATH, headers={"Authorization": f"Bearer {tenant.live_key}"})).status_code == 401
    ok = await http.get(PATH, headers={"Authorization": f"Bearer {tenant.test_key}"})
    assert ok.headers["x-ratelimit-remaining"] == "99"


@pytest.mark.parametrize("sent", [None, "not-a-uuid", "550E8400-E29B-41D4-A716-446655440000"])
async def test_request_ids_are_echoed_when_valid_and_fresh_otherwise(http, make_tenant, sent):
    tenant = await make_tenant()
    headers = {"Authorization": f"Bearer {tenant.test_key}"}
    if sent:
        headers["X-Request-ID"] = sent
    response = await http.get(PATH, headers=headers)
    body = response.json()
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    if sent and sent != "not-a-uuid":
        assert response.headers["x-request-id"].lower() == sent.lower()
    else:
        assert uuid.UUID(response.headers["x-request-id"]).version == 4


async def test_unknown_paths_and_methods_get_the_envelope(http):
    missing = await http.get("/partner/v1/instances/analytic")
    wrong_method = await http.delete(PATH)
    assert (missing.status_code, split_meta(missing)) == (
        404, {"success": False, "error": "Not Found", "message": "The requested resource was not found"})
    assert (wrong_method.status_code, split_meta(wrong_method)) == (
        405, {"success": False, "error": "Method Not Allowed", "message": "Method DELETE is not allowed on this path"})
    assert wrong_method.headers["allow"] == "GET, POST"
