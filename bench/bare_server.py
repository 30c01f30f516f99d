"""The bare-server ceiling: the five reads as a user would serve them without this project.

One process, Starlette + asyncpg, no gRPC and no Envoy: an API-key check (SHA-256 of the
bearer key looked up once in `api_keys`, then cached in memory), a fixed-window rate limit
per route in process memory with the same `x-ratelimit-*` headers, an `x-request-id`, and
the five reads of issue 13, each answered with the same SQL the service runs and the same
JSON:

* the instance list, `GET /partner/v1/instances/analytics` (time_frame=custom);
* campaign analytics, `GET /api/partner/v1/campaigns/{id}/analytics` (time_frame=custom_range);
* affiliate `stats`, `GET /v1/affiliate/analytics?section=stats` (the default 30 days);
* voucher `trends`, `GET /v1/analytics/vouchers/{id}/trends` (the default 30 days);
* the landing dashboard, `GET /api/analytics/{tenantId}`.

The SQL is the service's own statement text, taken from its query module so that the two
cannot drift, with the named parameters turned into asyncpg's `$n`; the figures are rounded
by the service's own number rules. Only the documented success path of the requests the
benchmark sends is served; anything else is a plain 400 or 404. bench.lean checks that
every answer equals the gateway's before measuring it.

    python -m bench.bare_server --port 8000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import hashlib
import json
import re
import time
import uuid
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.affiliate import queries as affiliate_sql
from services.affiliate.servicer import STAT_COUNTERS, percent, ratio
from services.campaign import queries as campaign_sql
from services.campaign.servicer import conversion_rate
from services.instance import queries as instance_sql
from services.landing import queries as landing_sql
from services.voucher import queries as voucher_sql
from services.voucher.periods import Period

LIMIT, WINDOW_S = 100_000_000, 3600  # raised like the gateway's RATE_LIMITS for the bench account
CENT = decimal.Decimal("0.01")
KEY_SQL = "SELECT account_id, mode FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"


class Sql:
    """One of the service's `text()` statements in asyncpg's form: `:name` -> `$n`."""

    def __init__(self, statement: Any) -> None:
        self.names: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in self.names:
                self.names.append(match[1])
            return f"${self.names.index(match[1]) + 1}"

        self.sql = re.sub(r"(?<![:\w]):(\w+)", number, str(statement.text))

    async def fetch(self, pool: asyncpg.Pool, **params: Any) -> list[asyncpg.Record]:
        return await pool.fetch(self.sql, *(params[n] for n in self.names))


LIST = Sql(instance_sql.LIST[""])
CAMPAIGN = Sql(campaign_sql.PAGE[None])
STATS = Sql(affiliate_sql.PERIOD_TOTALS)
TRENDS = Sql(voucher_sql.TRENDS)
DASHBOARD = Sql(landing_sql.REPORT)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    """RFC 3339 in UTC as protobuf's JSON prints a Timestamp (0, 3, 6 fraction digits)."""
    m = moment.astimezone(dt.timezone.utc)
    base = m.strftime("%Y-%m-%dT%H:%M:%S")
    if m.microsecond == 0:
        return base + "Z"
    if m.microsecond % 1000 == 0:
        return f"{base}.{m.microsecond // 1000:03d}Z"
    return f"{base}.{m.microsecond:06d}Z"


def iso_us(micros: int) -> str:
    """`iso` of epoch microseconds (the list statements return their rows' moments so)."""
    return iso(EPOCH + dt.timedelta(microseconds=micros))


def num(value: float) -> float | int:
    """A double as protobuf's JSON prints it: an integral one without a fraction."""
    return int(value) if value == int(value) else value


def money(value: decimal.Decimal) -> float | int:
    return num(float(value.quantize(CENT)))


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"success": False, "message": message}), status, media_type="application/json")


def answer(body: dict[str, Any], headers: dict[str, str], request_id: str) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), 200, media_type="application/json",
                    headers={**headers, "x-request-id": request_id})


def utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.timezone.utc)


def seek_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The full hours [first, last) of a window, as the list and campaign statements take them."""
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += dt.timedelta(hours=1)
    last = end.replace(minute=0, second=0, microsecond=0)
    return (start, start) if first >= last else (first, last)


def custom_window(request: Request, frame: str, default_limit: int) -> tuple:
    """start, end, first and last full hour, page and limit of a request for whole days
    `start_date`..`end_date` (time_frame `frame`); ValueError or KeyError when it is not one."""
    q = request.query_params
    start = utc_midnight(dt.date.fromisoformat(q["start_date"]))
    end = utc_midnight(dt.date.fromisoformat(q["end_date"])) + dt.timedelta(days=1)
    page, limit = int(q.get("page", "1")), int(q.get("limit", str(default_limit)))
    if q.get("time_frame") != frame or page < 1 or not 1 <= limit <= 100 or end <= start:
        raise ValueError(q)
    return (start, end, *seek_hours(start, end), page, limit)


def pagination(page: int, limit: int, total: int) -> dict[str, Any]:
    pages = -(-total // limit) if total else 0
    return {"page": page, "limit": limit, "total": total, "totalPages": pages, "hasNext": page < pages,
            "hasPrevious": page > 1}


class Call:
    """What one admitted request has: its id and instant, the caller, the limit's headers."""

    __slots__ = ("account", "headers", "live", "received", "request_id")

    def __init__(self, request_id: str, received: dt.datetime, who: tuple[uuid.UUID, bool],
                 headers: dict[str, str]) -> None:
        self.request_id, self.received, self.headers = request_id, received, headers
        self.account, self.live = who


class App:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pool: asyncpg.Pool | None = None
        self.keys: dict[bytes, tuple[uuid.UUID, bool] | None] = {}
        self.windows: dict[tuple[uuid.UUID, str, int], int] = {}

    async def startup(self) -> None:
        self.pool = await asyncpg.create_pool(self.database_url, min_size=2, max_size=8)

    async def shutdown(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def principal(self, request: Request) -> tuple[uuid.UUID, bool] | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return None
        digest = hashlib.sha256(auth[7:].strip().encode()).digest()
        if digest not in self.keys:
            row = await self.pool.fetchrow(KEY_SQL, digest)
            self.keys[digest] = (row["account_id"], row["mode"] == "live") if row else None
        return self.keys[digest]

    def limit(self, account: uuid.UUID, route: str) -> dict[str, str] | None:
        now = time.time()
        window = int(now // WINDOW_S)
        key = (account, route, window)
        count = self.windows.get(key, 0) + 1
        self.windows[key] = count
        if len(self.windows) > 10_000:
            self.windows = {k: v for k, v in self.windows.items() if k[2] == window}
        headers = {"x-ratelimit-limit": str(LIMIT), "x-ratelimit-remaining": str(max(0, LIMIT - count)),
                   "x-ratelimit-reset": str((window + 1) * WINDOW_S)}
        return headers if count <= LIMIT else None

    async def admit(self, request: Request, route: str) -> Call | Response:
        received = dt.datetime.now(dt.timezone.utc)
        who = await self.principal(request)
        if who is None:
            return error(401, "Invalid API key")
        headers = self.limit(who[0], route)
        if headers is None:
            return error(429, "Rate limit exceeded")
        return Call(str(uuid.uuid4()), received, who, headers)

    # ----------------------------------------------------------------------- the reads

    async def instances(self, request: Request) -> Response:
        call = await self.admit(request, "instances")
        if isinstance(call, Response):
            return call
        try:
            start, end, first, last, page, limit = custom_window(request, "custom", 20)
        except (KeyError, ValueError):
            return error(400, "Invalid parameters")
        rows = await LIST.fetch(self.pool, a=call.account, l=call.live, start=start, end=end, first=first,
                                last=last, offset=(page - 1) * limit, limit=limit)
        total = int(rows[0]["total"])
        return answer({
            "success": True, "time_frame": "custom", "message": "Instance analytics retrieved successfully",
            "data": [{"timestamp": iso_us(r["timestamp_us"]), "instance_id": r["instance_id"],
                      "is_purchase": r["is_purchase"], "insider_id": r["insider_id"],
                      "purchased_insider_id": r["purchased_insider_id"]}
                     for r in rows if r["instance_id"] is not None],
            "pagination": pagination(page, limit, total),
            "meta": {"timestamp": iso(call.received), "requestId": call.request_id},
        }, call.headers, call.request_id)

    async def campaign(self, request: Request) -> Response:
        call = await self.admit(request, "campaign")
        if isinstance(call, Response):
            return call
        try:
            campaign_id = uuid.UUID(request.path_params["campaign_id"])
            start, end, first, last, page, limit = custom_window(request, "custom_range", 50)
        except (KeyError, ValueError):
            return error(400, "Invalid parameters")
        rows = await CAMPAIGN.fetch(self.pool, a=call.account, l=call.live, c=campaign_id, start=start, end=end,
                                    first=first, last=last, offset=(page - 1) * limit, limit=limit)
        head = rows[0]
        if not head["campaign_exists"]:
            return error(404, "Campaign not found")
        instances, purchases = int(head["instances"]), int(head["purchases"])
        if instances == 0:
            return error(422, "No analytics data available for the specified time period")
        return answer({
            "success": True, "message": "Campaign analytics retrieved successfully",
            "data": {
                "campaign_id": str(campaign_id), "time_frame": "custom_range",
                "instances": [{"instance_id": r["instance_id"], "insider_id": r["insider_id"],
                               "is_purchase": r["is_purchase"], "purchased_insider_id": r["purchased_insider_id"],
                               "timestamp": iso_us(r["timestamp_us"]), "revenue": money(r["instance_revenue"])}
                              for r in rows if r["instance_id"] is not None],
                "summary": {"total_instances": instances, "purchase_instances": purchases,
                            "non_purchase_instances": instances - purchases,
                            "total_revenue": money(decimal.Decimal(head["revenue"])),
                            "conversion_rate": num(conversion_rate(purchases, instances))},
            },
            "pagination": pagination(page, limit, int(head["total"])),
            "meta": {"timestamp": iso(call.received), "requestId": call.request_id},
        }, call.headers, call.request_id)

    async def affiliate(self, request: Request) -> Response:
        call = await self.admit(request, "affiliate")
        if isinstance(call, Response):
            return call
        if request.query_params.get("section") != "stats" or len(request.query_params) != 1:
            return error(400, "Invalid parameters")
        last = call.received.date()
        first = last - dt.timedelta(days=30)
        rows = await STATS.fetch(self.pool, a=call.account, l=call.live, first=first, from_day=first, last=last)
        totals: dict[str, Any] = {c: 0 for c in STAT_COUNTERS.values()}
        for row in rows:
            totals.update({c: row[c] for c in STAT_COUNTERS.values()})
        stats = {name: num(float(totals[counter])) for name, counter in STAT_COUNTERS.items()}
        stats["pages_per_visit"] = num(ratio(totals["pageviews"], totals["visitors"]))
        stats["conversion_rate"] = num(percent(totals["conversions"], totals["clicks"]))
        stats["cart_to_conversion_rate"] = num(percent(totals["conversions"], totals["add_to_carts"]))
        return answer({
            "success": True, "message": "OK",
            "data": {"filters": {"from": first.isoformat(), "to": last.isoformat()}, "section": "stats",
                     "stats": stats},
        }, call.headers, call.request_id)

    async def trends(self, request: Request) -> Response:
        call = await self.admit(request, "trends")
        if isinstance(call, Response):
            return call
        interval = request.query_params.get("interval", "day")
        if interval not in voucher_sql.INTERVALS or set(request.query_params) - {"interval"}:
            return error(400, "Invalid parameters")
        voucher_id = request.path_params["voucher_id"]
        today = call.received.date()
        period = Period(today - dt.timedelta(days=29), today)
        rows = await TRENDS.fetch(self.pool, a=call.account, l=call.live, v=voucher_id, s=period.start,
                                  e=period.end, fd=period.first_day, ld=period.last_day, unit=interval,
                                  pfd=period.previous().first_day)
        if not rows:
            return error(404, "Voucher not found")
        buckets = {r["bucket"]: r for r in rows if r["kind"] == "bucket"}
        previous = next(int(r["uses"]) for r in rows if r["kind"] == "previous")
        points, seen = [], set()
        for day in period.each_day():
            bucket = voucher_sql.bucket_of(day, interval)
            if bucket in seen:
                continue
            seen.add(bucket)
            r = buckets.get(bucket)
            uses, discount, gross, tried = (int(r["uses"]), int(r["discount"]), int(r["gross"]),
                                            int(r["validations"])) if r else (0, 0, 0, 0)
            points.append({"date": bucket.isoformat(), "uses": uses, "discount": discount, "orders": tried,
                           "conversion_rate": num(voucher_sql.fraction(uses, tried)),
                           "avg_order_value": voucher_sql.average(gross, uses)})
        uses = sum(p["uses"] for p in points)
        growth = voucher_sql.growth(uses, previous)
        return answer({
            "voucher_id": voucher_id, "code": rows[0]["code"], "interval": interval, "trends": points,
            "summary": {"total_period_uses": uses, "total_period_discount": sum(p["discount"] for p in points),
                        "avg_daily_uses": num(voucher_sql.ratio(uses, period.days)),
                        "growth_rate": None if growth is None else num(growth)},
            "currency": rows[0]["currency"], "generated_at": iso(call.received.replace(microsecond=0)),
        }, call.headers, call.request_id)

    async def dashboard(self, request: Request) -> Response:
        call = await self.admit(request, "dashboard")
        if isinstance(call, Response):
            return call
        try:
            tenant_id = int(request.path_params["tenant_id"])
        except ValueError:
            return error(400, "Invalid tenantId")
        today = call.received.date()
        days = landing_sql.DAYS
        rows = await DASHBOARD.fetch(self.pool, a=call.account, l=call.live, t=tenant_id,
                                     first=today - dt.timedelta(days=days), last=today + dt.timedelta(days=1))
        if not rows:
            return error(404, "Tenant not found")
        dates = landing_sql.local_days(call.received, rows[0]["time_zone"], days)
        by_day = {r["day"]: r for r in rows if r["day"] is not None}
        zero = dict.fromkeys(("visitors", "click_whatsapp", "click_call", "click_toggle_currency", "qr_scan",
                              "time_on_page", "duration_ms"), 0)
        week = [by_day.get(day, zero) for day in dates]

        def total(column: str) -> int:
            return sum(int(d[column]) for d in week)

        timed = total("time_on_page")
        seconds = decimal.Decimal(total("duration_ms")) / decimal.Decimal(timed) / 1000 if timed else 0
        return answer({"success": True, "data": {
            "visitors_today": int(week[-1]["visitors"]), "visitors_week": total("visitors"),
            "whatsapp_clicks": total("click_whatsapp"), "call_clicks": total("click_call"),
            "currency_toggles": total("click_toggle_currency"), "qr_scans": total("qr_scan"),
            "avg_time_on_page": int(decimal.Decimal(seconds).quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP)),
            "last_7_days": [{"date": day.isoformat(), "visitors": int(d["visitors"])} for day, d in zip(dates, week)],
        }}, call.headers, call.request_id)


def build(database_url: str) -> Starlette:
    app = App(database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_starlette):
        await app.startup()
        try:
            yield
        finally:
            await app.shutdown()

    return Starlette(routes=[
        Route("/partner/v1/instances/analytics", app.instances),
        Route("/api/partner/v1/campaigns/{campaign_id}/analytics", app.campaign),
        Route("/v1/affiliate/analytics", app.affiliate),
        Route("/v1/analytics/vouchers/{voucher_id}/trends", app.trends),
        Route("/api/analytics/{tenant_id}", app.dashboard),
    ], lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--database-url", required=True)
    args = p.parse_args()
    uvicorn.run(build(args.database_url), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, loop="asyncio", http="h11")


if __name__ == "__main__":
    main()
