"""Read queries of the campaign analytics endpoint and of the campaign registry.

The summary never reads a window's raw rows except those of the two partial hours at
its edges: full hours come from `campaign_hourly_stats`. A deep page is found by
walking the hourly figures to the hour that holds its first row and skipping at most
that hour's rows (the same seek as the instance list, docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from platform_core.accounts import Principal
from platform_core.hour_walk import seek_columns, target_cte, walk_params
from platform_core.paging import PageRequest, Window


class CampaignInstanceRow(Protocol):
    """A row of the page as the statement returns it: the start as epoch microseconds and
    the ids as text, so that no `datetime` or `UUID` object is made per row and turned back
    into numbers and text (as the instance list, services/instance/queries.py)."""

    timestamp_us: int
    instance_id: str
    is_purchase: bool
    insider_id: str
    purchased_insider_id: str | None
    instance_revenue: decimal.Decimal


@dataclass(frozen=True)
class Summary:
    instances: int
    purchases: int
    revenue: decimal.Decimal


@dataclass(frozen=True)
class CampaignPage:
    exists: bool
    summary: Summary
    total: int  # rows matching the page's filter
    rows: list[CampaignInstanceRow]


# Raw rows of a campaign in [lo, hi), and the revenue of the purchases among them (an
# order is looked up for purchases only).
_EDGE = """
  SELECT count(*) AS n, count(*) FILTER (WHERE i.is_purchase) AS p, coalesce(sum(o.total), 0) AS r
  FROM instances i LEFT JOIN LATERAL ({order_total}) AS o ON true
  WHERE i.account_id = :a AND i.livemode = :l AND i.campaign_id = :c AND i.started_at >= {lo} AND i.started_at < {hi}
"""
# The order total of a purchased instance. The condition on `i.is_purchase` inside the
# lateral subquery is a one-time filter: instances without a purchase (73% in the
# benchmark) skip the index lookup, which a join condition would not. LIMIT 1 (there
# is at most one order) keeps the planner from flattening it into a plain join.
_ORDER_TOTAL = """
    SELECT total FROM orders o
    WHERE i.is_purchase AND o.account_id = :a AND o.livemode = :l AND o.instance_id = i.id LIMIT 1
"""

# One statement: one round trip and one snapshot, so the summary, the total and the
# page agree. {n} picks the hourly figure that counts the page's filter, {edge_n} the
# same over an edge's counts, {filter} the filter on raw rows.
_PAGE_SQL = """
WITH top AS ({top}), bottom AS ({bottom}), middle AS (
  SELECT coalesce(sum(instances), 0) AS n, coalesce(sum(purchases), 0) AS p, coalesce(sum(revenue), 0) AS r
  FROM campaign_hourly_stats
  WHERE account_id = :a AND livemode = :l AND campaign_id = :c AND hour >= :first AND hour < :last
), target AS ({target}), seek AS (
  SELECT top.n + middle.n + bottom.n AS instances, top.p + middle.p + bottom.p AS purchases,
         top.r + middle.r + bottom.r AS revenue,
         {edge_n_top} + {middle_n} + {edge_n_bottom} AS total,
         {seek}
  FROM top, middle, bottom
)
SELECT EXISTS (SELECT 1 FROM campaigns WHERE account_id = :a AND livemode = :l AND id = :c) AS campaign_exists,
       seek.instances, seek.purchases, seek.revenue, seek.total, page.*
FROM seek LEFT JOIN LATERAL (
  SELECT CAST(extract(epoch FROM i.started_at) * 1000000 AS bigint) AS timestamp_us, CAST(i.id AS text) AS instance_id,
         i.is_purchase, CAST(i.insider_id AS text) AS insider_id,
         CAST(i.purchased_insider_id AS text) AS purchased_insider_id,
         coalesce(o.total, 0) AS instance_revenue
  FROM (
    SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances
    WHERE account_id = :a AND livemode = :l AND campaign_id = :c{filter}
      AND started_at >= :start AND started_at < seek.hi
    ORDER BY started_at DESC, id LIMIT :limit OFFSET seek.skip
  ) AS i LEFT JOIN LATERAL ({order_total}) AS o ON true
  ORDER BY i.started_at DESC, i.id
) AS page ON true
"""


def page_sql(is_purchase: bool | None) -> str:
    def pick(rel: str) -> str:
        return {None: f"{rel}.n", True: f"{rel}.p", False: f"({rel}.n - {rel}.p)"}[is_purchase]

    hourly = {None: "instances", True: "purchases", False: "(instances - purchases)"}[is_purchase]
    target = target_cte(
        f"""SELECT hour, {hourly} AS n FROM campaign_hourly_stats
        WHERE account_id = :a AND livemode = :l AND campaign_id = :c AND hour >= :first AND hour < :last""",
        pick("top"),
    )
    return _PAGE_SQL.format(
        target=target,
        seek=seek_columns(pick("top"), pick("middle")),
        top=_EDGE.format(lo=":last", hi=":end", order_total=_ORDER_TOTAL),
        bottom=_EDGE.format(lo=":start", hi=":first", order_total=_ORDER_TOTAL),
        order_total=_ORDER_TOTAL,
        edge_n_top=pick("top"),
        edge_n_bottom=pick("bottom"),
        middle_n=pick("middle"),
        filter="" if is_purchase is None else " AND is_purchase = :p",
    )


PAGE = {p: text(page_sql(p)) for p in (None, True, False)}


async def campaign_page(
    conn: AsyncConnection, who: Principal, campaign_id: uuid.UUID, window: Window,
    is_purchase: bool | None, page: PageRequest,
) -> CampaignPage:
    """Whether the campaign exists, the window's summary, and one filtered page."""
    params = walk_params(who, window, page, c=campaign_id)
    if is_purchase is not None:
        params["p"] = is_purchase
    result = (await conn.execute(PAGE[is_purchase], params)).all()
    head = result[0]
    rows = [r for r in result if r.instance_id is not None]
    return CampaignPage(
        exists=bool(head.campaign_exists),
        summary=Summary(int(head.instances), int(head.purchases), decimal.Decimal(head.revenue)),
        total=int(head.total),
        rows=rows,
    )


# ---------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class CampaignRecord:
    id: uuid.UUID
    name: str
    created_at: dt.datetime


async def create_campaign(
    session: AsyncSession, who: Principal, campaign_id: uuid.UUID, name: str
) -> tuple[CampaignRecord, bool]:
    """Registers the campaign (first write wins); returns it and whether it was new."""
    params = {"a": who.account_id, "l": who.livemode, "id": campaign_id, "name": name}
    inserted = (
        await session.execute(
            text(
                "INSERT INTO campaigns (account_id, livemode, id, name) VALUES (:a, :l, :id, :name) "
                "ON CONFLICT DO NOTHING RETURNING id, name, created_at"
            ),
            params,
        )
    ).first()
    row = inserted or (
        await session.execute(
            text("SELECT id, name, created_at FROM campaigns WHERE account_id = :a AND livemode = :l AND id = :id"),
            params,
        )
    ).one()
    await session.commit()
    return CampaignRecord(row.id, row.name, row.created_at), inserted is not None


async def list_campaigns(
    conn: AsyncConnection, who: Principal, page: PageRequest
) -> tuple[list[CampaignRecord], int]:
    rows = (
        await conn.execute(
            text(
                "SELECT c.id, c.name, c.created_at, count(*) OVER () AS total FROM campaigns c "
                "WHERE c.account_id = :a AND c.livemode = :l ORDER BY c.created_at DESC, c.id "
                "LIMIT :limit OFFSET :offset"
            ),
            {"a": who.account_id, "l": who.livemode, "limit": page.limit, "offset": page.offset},
        )
    ).all()
    if rows:
        total = int(rows[0].total)
    else:
        total = (
            await conn.execute(
                text("SELECT count(*) FROM campaigns WHERE account_id = :a AND livemode = :l"),
                {"a": who.account_id, "l": who.livemode},
            )
        ).scalar_one()
    return [CampaignRecord(r.id, r.name, r.created_at) for r in rows], int(total)
