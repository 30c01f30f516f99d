"""Read queries of the instance analytics endpoints.

The list never counts or skips a window's raw rows: `total` is the sum of exact hourly
counts plus the rows of the two partial hours at the window's edges, and a deep page
is found by walking the hourly counts to the hour that holds its first row, then
skipping at most that hour's rows with the covering index (see docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.accounts import Principal
from platform_core.paging import PageRequest, Window


@dataclass(frozen=True)
class InstanceRow:
    timestamp: dt.datetime
    instance_id: uuid.UUID
    is_purchase: bool
    insider_id: uuid.UUID
    purchased_insider_id: uuid.UUID | None


def _purchase_clause(is_purchase: bool | None) -> str:
    return "" if is_purchase is None else " AND is_purchase = :p"


async def _count_raw(session: AsyncSession, base: dict[str, Any], p: str, lo: dt.datetime, hi: dt.datetime) -> int:
    if lo >= hi:
        return 0
    return (
        await session.execute(
            text(
                "SELECT count(*) FROM instances WHERE account_id = :a AND livemode = :l"
                f"{p} AND started_at >= :lo AND started_at < :hi"
            ),
            {**base, "lo": lo, "hi": hi},
        )
    ).scalar_one()


async def _page_rows(
    session: AsyncSession, base: dict[str, Any], p: str, lo: dt.datetime, hi: dt.datetime, skip: int, limit: int
) -> list[InstanceRow]:
    rows = await session.execute(
        text(
            "SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances "
            f"WHERE account_id = :a AND livemode = :l{p} AND started_at >= :lo AND started_at < :hi "
            "ORDER BY started_at DESC, id LIMIT :limit OFFSET :skip"
        ),
        {**base, "lo": lo, "hi": hi, "limit": limit, "skip": skip},
    )
    return [InstanceRow(*row) for row in rows]


async def list_instances(
    session: AsyncSession, who: Principal, window: Window, is_purchase: bool | None, page: PageRequest
) -> tuple[list[InstanceRow], int]:
    """One page of the window's instances, newest first, and the window's total.

    Runs in one REPEATABLE READ snapshot so that the total and the page agree.
    """
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    base: dict[str, Any] = {"a": who.account_id, "l": who.livemode}
    if is_purchase is not None:
        base["p"] = is_purchase
    p = _purchase_clause(is_purchase)
    first_hour, last_hour = window.full_hours()
    if first_hour >= last_hour:  # the window lies within one or two partial hours
        total = await _count_raw(session, base, p, window.start, window.end)
        if page.offset >= total:
            return [], total
        return await _page_rows(session, base, p, window.start, window.end, page.offset, page.limit), total

    top = await _count_raw(session, base, p, last_hour, window.end)  # the newest, partial hour
    bottom = await _count_raw(session, base, p, window.start, first_hour)  # the oldest, partial hour
    # Hours newest first with the running count of rows up to and including each hour;
    # the first hour whose running count passes the offset holds the page's first row.
    seek = (
        await session.execute(
            text(
                "WITH hours AS (SELECT hour, sum(n) AS n FROM instance_hourly_counts "
                f"WHERE account_id = :a AND livemode = :l{p} AND hour >= :first AND hour < :last GROUP BY hour), "
                "running AS (SELECT hour, n, sum(n) OVER (ORDER BY hour DESC) AS upto FROM hours) "
                "SELECT (SELECT coalesce(sum(n), 0) FROM hours) AS middle, "
                "(SELECT hour FROM running WHERE upto > :skip AND n > 0 ORDER BY hour DESC LIMIT 1) AS hour, "
                "(SELECT upto - n FROM running WHERE upto > :skip AND n > 0 ORDER BY hour DESC LIMIT 1) AS before"
            ),
            {**base, "first": first_hour, "last": last_hour, "skip": max(0, page.offset - top)},
        )
    ).one()
    total = top + int(seek.middle) + bottom
    if page.offset >= total:
        return [], total
    if page.offset < top:
        start_hi, skip = window.end, page.offset
    elif seek.hour is not None:
        start_hi, skip = seek.hour + dt.timedelta(hours=1), page.offset - top - int(seek.before)
    else:  # the page starts in the oldest, partial hour
        start_hi, skip = first_hour, page.offset - top - int(seek.middle)
    return await _page_rows(session, base, p, window.start, start_hi, skip, page.limit), total


# ---------------------------------------------------------------------------------------
# Details


@dataclass
class Details:
    instance_id: uuid.UUID
    insider_id: uuid.UUID
    purchased_insider_id: uuid.UUID | None
    campaign_id: uuid.UUID
    is_purchase: bool
    events: list[Any] = field(default_factory=list)
    order: Any | None = None
    items: list[Any] = field(default_factory=list)
    rewards: list[Any] = field(default_factory=list)


EVENT_SELECTION = {
    "all": "",
    "first": "DISTINCT ON (instance_id) ",
    "last": "DISTINCT ON (instance_id) ",
}


async def instance_details(
    session: AsyncSession, who: Principal, ids: list[uuid.UUID], events: str
) -> list[Details] | None:
    """Details of every id in request order, or None when any id is unknown to the account."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    base = {"a": who.account_id, "l": who.livemode, "ids": ids}
    scope = "account_id = :a AND livemode = :l AND {col} = ANY(CAST(:ids AS uuid[]))"
    found = {
        row.id: Details(row.id, row.insider_id, row.purchased_insider_id, row.campaign_id, row.is_purchase)
        for row in await session.execute(
            text(
                "SELECT id, insider_id, purchased_insider_id, campaign_id, is_purchase FROM instances WHERE "
                + scope.format(col="id")
            ),
            base,
        )
    }
    if len(found) != len(ids):
        return None
    direction = "DESC" if events == "last" else "ASC"
    for row in await session.execute(
        text(
            f"SELECT {EVENT_SELECTION[events]}instance_id, id, name, tracker_type, reference_id, created_at, "
            f"updated_at, metadata FROM events WHERE {scope.format(col='instance_id')} "
            f"ORDER BY instance_id, created_at {direction}, id {direction}"
        ),
        base,
    ):
        found[row.instance_id].events.append(row)
    for row in await session.execute(
        text(f"SELECT * FROM orders WHERE {scope.format(col='instance_id')}"), base
    ):
        found[row.instance_id].order = row
    order_ids = {d.order.id: d for d in found.values() if d.order is not None}
    if order_ids:
        for row in await session.execute(
            text(
                "SELECT order_id, product_id, quantity, price FROM order_items "
                f"WHERE {scope.format(col='order_id')} ORDER BY order_id, line"
            ),
            {**base, "ids": list(order_ids)},
        ):
            order_ids[row.order_id].items.append(row)
    for row in await session.execute(
        text(
            f"SELECT * FROM insider_rewards WHERE {scope.format(col='instance_id')} "
            "ORDER BY instance_id, created_at, id"
        ),
        base,
    ):
        found[row.instance_id].rewards.append(row)
    return [found[i] for i in ids]
