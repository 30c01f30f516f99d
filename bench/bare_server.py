"""The bare-server ceiling: the instance list as a user would write it without this project.

One process, Starlette + asyncpg, no gRPC and no Envoy: an API-key check (SHA-256 of the
bearer key looked up once in `api_keys`, then cached in memory), a fixed-window rate limit
in process memory with the same `x-ratelimit-*` headers, an `x-request-id`, and the
instance list (`GET /partner/v1/instances/analytics`, time_frame=custom) answered with the
same SQL the instance service runs (copied here as a user would, not imported) and the
same JSON. bench.lean checks that its JSON equals the gateway's before measuring it.

    python -m bench.bare_server --port 8000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import time
import uuid

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LIMIT, WINDOW_S = 100_000_000, 3600  # raised like the gateway's RATE_LIMITS for the bench account

# The instance service's list statement, with asyncpg's $n placeholders:
# $1 account, $2 livemode, $3 start, $4 end, $5 first full hour, $6 last full hour,
# $7 offset, $8 limit.
LIST_SQL = """
WITH top AS (
  SELECT count(*) AS n FROM instances
  WHERE account_id = $1 AND livemode = $2 AND started_at >= $6 AND started_at < $4
), bottom AS (
  SELECT count(*) AS n FROM instances
  WHERE account_id = $1 AND livemode = $2 AND started_at >= $3 AND started_at < $5
), middle AS (
  SELECT coalesce(sum(n), 0) AS n FROM instance_hourly_counts
  WHERE account_id = $1 AND livemode = $2 AND hour >= $5 AND hour < $6
), target AS (
  SELECT t.hour, t.before FROM top CROSS JOIN LATERAL (
    SELECT r.hour, r.upto - r.n AS before FROM (
      SELECT hour, n, sum(n) OVER (ORDER BY hour DESC) AS upto FROM (
        SELECT hour, sum(n) AS n FROM instance_hourly_counts
        WHERE account_id = $1 AND livemode = $2 AND hour >= $5 AND hour < $6
        GROUP BY hour ORDER BY hour DESC) AS h) AS r
    WHERE r.upto > $7::bigint - top.n AND r.n > 0 ORDER BY r.hour DESC LIMIT 1) AS t
), seek AS (
  SELECT top.n + middle.n + bottom.n AS total,
         CASE WHEN $7::bigint < top.n THEN CAST($4 AS timestamptz)
              ELSE coalesce((SELECT hour + interval '1 hour' FROM target), CAST($5 AS timestamptz)) END AS hi,
         CASE WHEN $7::bigint < top.n THEN $7::bigint
              ELSE $7::bigint - top.n - coalesce((SELECT before FROM target), middle.n) END AS skip
  FROM top, middle, bottom
)
SELECT seek.total, page.* FROM seek LEFT JOIN LATERAL (
  SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances
  WHERE account_id = $1 AND livemode = $2 AND started_at >= $3 AND started_at < seek.hi
  ORDER BY started_at DESC, id LIMIT $8 OFFSET seek.skip
) AS page ON true
"""

KEY_SQL = "SELECT account_id, mode FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"


def iso(moment: dt.datetime) -> str:
    """RFC 3339 in UTC as protobuf's JSON prints a Timestamp (0, 3, 6 fraction digits)."""
    m = moment.astimezone(dt.timezone.utc)
    base = m.strftime("%Y-%m-%dT%H:%M:%S")
    if m.microsecond == 0:
        return base + "Z"
    if m.microsecond % 1000 == 0:
        return f"{base}.{m.microsecond // 1000:03d}Z"
    return f"{base}.{m.microsecond:06d}Z"


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"success": False, "message": message}), status, media_type="application/json")


class App:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pool: asyncpg.Pool | None = None
        self.keys: dict[bytes, tuple[uuid.UUID, bool] | None] = {}
        self.windows: dict[tuple[uuid.UUID, int], int] = {}

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

    def limit(self, account: uuid.UUID) -> dict[str, str] | None:
        now = time.time()
        window = int(now // WINDOW_S)
        key = (account, window)
        count = self.windows.get(key, 0) + 1
        self.windows[key] = count
        if len(self.windows) > 10_000:
            self.windows = {k: v for k, v in self.windows.items() if k[1] == window}
        headers = {"x-ratelimit-limit": str(LIMIT), "x-ratelimit-remaining": str(max(0, LIMIT - count)),
                   "x-ratelimit-reset": str((window + 1) * WINDOW_S)}
        return headers if count <= LIMIT else None

    async def instances(self, request: Request) -> Response:
        received = dt.datetime.now(dt.timezone.utc)
        request_id = str(uuid.uuid4())
        who = await self.principal(request)
        if who is None:
            return error(401, "Invalid API key")
        headers = self.limit(who[0])
        if headers is None:
            return error(429, "Rate limit exceeded")
        q = request.query_params
        try:
            start = dt.datetime.combine(dt.date.fromisoformat(q["start_date"]), dt.time(), dt.timezone.utc)
            end = dt.datetime.combine(dt.date.fromisoformat(q["end_date"]), dt.time(), dt.timezone.utc)
            end += dt.timedelta(days=1)
            page, limit = int(q.get("page", "1")), int(q.get("limit", "20"))
        except (KeyError, ValueError):
            return error(400, "Invalid parameters")
        if q.get("time_frame") != "custom" or page < 1 or not 1 <= limit <= 100:
            return error(400, "Invalid parameters")
        first = start.replace(minute=0, second=0, microsecond=0)
        if first < start:
            first += dt.timedelta(hours=1)
        last = end.replace(minute=0, second=0, microsecond=0)
        if first >= last:
            first = last = start
        rows = await self.pool.fetch(LIST_SQL, who[0], who[1], start, end, first, last, (page - 1) * limit, limit)
        total = int(rows[0]["total"])
        pages = -(-total // limit) if total else 0
        body = {
            "success": True, "time_frame": "custom", "message": "Instance analytics retrieved successfully",
            "data": [{"timestamp": iso(r["started_at"]), "instance_id": str(r["id"]), "is_purchase": r["is_purchase"],
                      "insider_id": str(r["insider_id"]),
                      "purchased_insider_id": str(r["purchased_insider_id"]) if r["purchased_insider_id"] else None}
                     for r in rows if r["id"] is not None],
            "pagination": {"page": page, "limit": limit, "total": total, "totalPages": pages,
                           "hasNext": page < pages, "hasPrevious": page > 1},
            "meta": {"timestamp": iso(received), "requestId": request_id},
        }
        return Response(json.dumps(body, separators=(",", ":")), 200, media_type="application/json",
                         headers={**headers, "x-request-id": request_id})


def build(database_url: str) -> Starlette:
    app = App(database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_starlette):
        await app.startup()
        try:
            yield
        finally:
            await app.shutdown()

    return Starlette(routes=[Route("/partner/v1/instances/analytics", app.instances)], lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--database-url", required=True)
    args = p.parse_args()
    uvicorn.run(build(args.database_url), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, loop="asyncio", http="h11")


if __name__ == "__main__":
    main()
