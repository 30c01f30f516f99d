"""Read queries of the instance analytics endpoints.

The list never counts or skips a window's raw rows: `total` is the sum of exact hourly
counts plus the rows of the two partial hours at the window's edges, and a deep page
is found by walking the hourly counts to the hour that holds its first row, then
skipping at most that hour's rows with the covering index (docs/architecture.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core.accounts import Principal
from platform_core.hour_walk import seek_columns, target_cte, walk_params
from platform_core.paging import PageRequest, Window


class InstanceRow(Protocol):
    """A row of the list as the statement returns it, ready for the response: the start as
    epoch microseconds and the ids as text, so that no `datetime` or `UUID` object is
    made per row and turned back into numbers and text (about 5 us a row)."""

    timestamp_us: int
    instance_id: str
    is_purchase: bool
    insider_id: str
    purchased_insider_id: str | None


# One statement, so one round trip and one snapshot (the total and the page agree):
# `top` and `bottom` count the partial hours at the window's edges from the covering
# index; `middle` sums the full hours between them from the exact hourly counts;
# `target` and `seek` are the hour walk (platform_core/hour_walk.py): the hour that holds
# the page's first row, and how many of its rows to skip; the page is read from there.
_LIST_SQL = """
WITH top AS (
  SELECT count(*) AS n FROM instances
  WHERE account_id = :a AND livemode = :l{p} AND started_at >= :last AND started_at < :end
), bottom AS (
  SELECT count(*) AS n FROM instances
  WHERE account_id = :a AND livemode = :l{p} AND started_at >= :start AND started_at < :first
), middle AS (
  SELECT coalesce(sum(n), 0) AS n FROM instance_hourly_counts
  WHERE account_id = :a AND livemode = :l{p} AND hour >= :first AND hour < :last
), target AS ({target}), seek AS (
  SELECT top.n + middle.n + bottom.n AS total,
         {seek}
  FROM top, middle, bottom
)
SELECT seek.total, page.* FROM seek LEFT JOIN LATERAL (
  SELECT (extract(epoch FROM started_at) * 1000000)::bigint AS timestamp_us, id::text AS instance_id, is_purchase,
         insider_id::text AS insider_id, purchased_insider_id::text AS purchased_insider_id FROM instances
  WHERE account_id = :a AND livemode = :l{p} AND started_at >= :start AND started_at < seek.hi
  ORDER BY started_at DESC, id LIMIT :limit OFFSET seek.skip
) AS page ON true
"""
_HOURLY = """SELECT hour, sum(n) AS n FROM instance_hourly_counts
        WHERE account_id = :a AND livemode = :l{p} AND hour >= :first AND hour < :last
        GROUP BY hour"""
LIST = {
    p: text(_LIST_SQL.format(
        p=p, target=target_cte(_HOURLY.format(p=p), "top.n"), seek=seek_columns("top.n", "middle.n"),
    ))
    for p in ("", " AND is_purchase = :p")
}


async def list_instances(
    conn: AsyncConnection, who: Principal, window: Window, is_purchase: bool | None, page: PageRequest
) -> tuple[list[InstanceRow], int]:
    """One page of the window's instances, newest first, and the window's total."""
    params = walk_params(who, window, page)
    if is_purchase is not None:
        params["p"] = is_purchase
    result = (await conn.execute(LIST["" if is_purchase is None else " AND is_purchase = :p"], params)).all()
    total = int(result[0].total)
    return [r for r in result if r.instance_id is not None], total


# ---------------------------------------------------------------------------------------
# Details

# One statement per request: each instance with its events, order (with items) and
# rewards aggregated as JSON by PostgreSQL. Timestamps travel as epoch microseconds so
# that no date text is parsed. {limit} and {direction} pick all, first or last events.
# Each subquery names the account as the parameter, not as i.account_id: Citus routes a
# correlated subquery to one shard only when its own filter is the constant.
_DETAILS_SQL = """
SELECT i.id, i.insider_id, i.purchased_insider_id, i.campaign_id, i.is_purchase,
  coalesce((
    SELECT json_agg(json_build_array(e.id, e.name, e.tracker_type, e.reference_id,
                    (extract(epoch FROM e.created_at) * 1000000)::bigint,
                    (extract(epoch FROM e.updated_at) * 1000000)::bigint, e.metadata)
                    ORDER BY e.created_at, e.id)
    FROM (SELECT * FROM events e
          WHERE e.account_id = :a AND e.livemode = i.livemode AND e.instance_id = i.id
          ORDER BY e.created_at {direction}, e.id {direction} {limit}) AS e
  ), '[]') AS events,
  (SELECT json_build_object(
      'id', o.id, 'total', o.total, 'currency', o.currency, 'status', o.status,
      'created_at', (extract(epoch FROM o.created_at) * 1000000)::bigint,
      'discounted_price', o.discounted_price, 'cashfunds_used', o.cashfunds_used, 'credits_used', o.credits_used,
      'items', coalesce((
        SELECT json_agg(json_build_array(it.product_id, it.quantity, it.price) ORDER BY it.line)
        FROM order_items it
        WHERE it.account_id = :a AND it.livemode = o.livemode AND it.order_id = o.id), '[]'))
   FROM orders o
   WHERE o.account_id = :a AND o.livemode = i.livemode AND o.instance_id = i.id) AS "order",
  coalesce((
    SELECT json_agg(json_build_array(r.id, r.insider_id, r.type, r.amount, r.currency, r.status,
                    (extract(epoch FROM r.created_at) * 1000000)::bigint) ORDER BY r.created_at, r.id)
    FROM insider_rewards r
    WHERE r.account_id = :a AND r.livemode = i.livemode AND r.instance_id = i.id
  ), '[]') AS rewards
FROM instances i
WHERE i.account_id = :a AND i.livemode = :l AND i.id = ANY(CAST(:ids AS uuid[]))
"""
_DETAILS = {
    "all": text(_DETAILS_SQL.format(direction="ASC", limit="")),
    "first": text(_DETAILS_SQL.format(direction="ASC", limit="LIMIT 1")),
    "last": text(_DETAILS_SQL.format(direction="DESC", limit="LIMIT 1")),
}


@dataclass(frozen=True)
class Details:
    """An instance's journey. Events are [id, name, tracker_type, reference_id,
    created_us, updated_us, metadata]; rewards [id, insider_id, type, amount, currency,
    status, created_us]; the order an object with `items` as [product_id, quantity, price]."""

    instance_id: uuid.UUID
    insider_id: uuid.UUID
    purchased_insider_id: uuid.UUID | None
    campaign_id: uuid.UUID
    is_purchase: bool
    events: list[list[Any]]
    order: dict[str, Any] | None
    rewards: list[list[Any]]


async def instance_details(
    conn: AsyncConnection, who: Principal, ids: list[uuid.UUID], events: str
) -> list[Details] | None:
    """Details of every id in request order, or None when any id is unknown to the account."""
    rows = await conn.execute(_DETAILS[events], {"a": who.account_id, "l": who.livemode, "ids": ids})
    found = {row.id: Details(*row) for row in rows}
    if len(found) != len(ids):
        return None
    return [found[i] for i in ids]
