"""Reads of the affiliate sections. Everything but the feeds reads the daily counts, so
a request costs days x labels rows whatever the number of raw events; the feeds read
one page of raw rows from their covering index, with `total` from the daily counts."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core.accounts import Principal
from services.affiliate.models import COUNTERS

_SCOPE = "account_id = :a AND livemode = :l"

EVENT_TOTAL = "clicks + pageviews + product_views + add_to_carts + remove_from_carts + thank_you_views"


@dataclass(frozen=True)
class Days:
    """An inclusive range of UTC days."""

    first: dt.date
    last: dt.date

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> "Days":
        """The equal-length range just before this one, cut at 0001-01-01 (no day is before it)."""
        first, last = self.first.toordinal() - self.length, self.first.toordinal() - 1
        return Days(dt.date.fromordinal(max(first, 1)), dt.date.fromordinal(max(last, 1)))

    def each(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range(self.length)]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) as UTC datetimes."""
        start = dt.datetime.combine(self.first, dt.time(), dt.timezone.utc)
        return start, start + dt.timedelta(days=self.length)


def _params(who: Principal, **extra: Any) -> dict[str, Any]:
    return {"a": who.account_id, "l": who.livemode, **extra}


Totals = dict[str, decimal.Decimal | int]


_SUMS = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in COUNTERS)
# Every counter summed over [:first, :last] (current) and [:from_day, :first) (previous).
PERIOD_TOTALS = text(
    f"SELECT day >= :first AS current, {_SUMS} FROM affiliate_daily_counts "
    f"WHERE {_SCOPE} AND dimension = 'total' AND day BETWEEN :from_day AND :last GROUP BY 1"
)


async def period_totals(conn: AsyncConnection, who: Principal, days: Days, with_previous: bool) -> tuple[Totals, Totals]:
    """Every counter summed over `days` and over the period before it (zeros when not asked)."""
    first = days.previous().first if with_previous else days.first
    rows = await conn.execute(PERIOD_TOTALS, _params(who, first=days.first, from_day=first, last=days.last))
    zero: Totals = {c: 0 for c in COUNTERS}
    current, previous = dict(zero), dict(zero)
    for row in rows.mappings():
        (current if row["current"] else previous).update({c: row[c] for c in COUNTERS})
    return current, previous


async def daily_totals(conn: AsyncConnection, who: Principal, days: Days) -> dict[dt.date, dict[str, Any]]:
    """The `total` row of each day that has one."""
    rows = await conn.execute(
        text(
            f"SELECT day, {', '.join(COUNTERS)} FROM affiliate_daily_counts "
            f"WHERE {_SCOPE} AND dimension = 'total' AND day BETWEEN :first AND :last"
        ),
        _params(who, first=days.first, last=days.last),
    )
    return {row["day"]: dict(row) for row in rows.mappings()}


async def click_breakdowns(conn: AsyncConnection, who: Principal, days: Days,
                           dimensions: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Clicks per label of each dimension, by count descending then label (code points)."""
    out: dict[str, list[tuple[str, int]]] = {d: [] for d in dimensions}
    if not dimensions:
        return out
    rows = await conn.execute(
        text(
            f"SELECT dimension, label, sum(clicks) AS n FROM affiliate_daily_counts "
            f"WHERE {_SCOPE} AND dimension = ANY(:dims) AND day BETWEEN :first AND :last "
            f"GROUP BY dimension, label HAVING sum(clicks) > 0 "
            f'ORDER BY dimension, n DESC, label COLLATE "C"'
        ),
        _params(who, dims=dimensions, first=days.first, last=days.last),
    )
    for dimension, label, n in rows:
        out[dimension].append((label, int(n)))
    return out


_RANGE = "day BETWEEN :first AND :last"


async def top_pages(conn: AsyncConnection, who: Principal, days: Days, limit: int) -> list[Any]:
    rows = await conn.execute(
        text(
            f"SELECT label AS page_url, sum(pageviews) AS pageviews, sum(clicks) AS clicks "
            f"FROM affiliate_daily_counts WHERE {_SCOPE} AND dimension = 'page' AND {_RANGE} "
            f'GROUP BY label ORDER BY pageviews DESC, clicks DESC, label COLLATE "C" LIMIT :n'
        ),
        _params(who, first=days.first, last=days.last, n=limit),
    )
    return list(rows)


async def top_tracking_codes(conn: AsyncConnection, who: Principal, days: Days, limit: int) -> list[Any]:
    rows = await conn.execute(
        text(
            f"SELECT label AS tracking_code, sum(clicks) AS clicks, sum(conversions) AS conversions, "
            f"sum(revenue) AS revenue FROM affiliate_daily_counts "
            f"WHERE {_SCOPE} AND dimension = 'code' AND {_RANGE} "
            f'GROUP BY label ORDER BY clicks DESC, conversions DESC, label COLLATE "C" LIMIT :n'
        ),
        _params(who, first=days.first, last=days.last, n=limit),
    )
    return list(rows)


async def top_affiliates(conn: AsyncConnection, who: Principal, days: Days, limit: int) -> list[Any]:
    """Affiliates with activity in the range, through their tracking codes."""
    rows = await conn.execute(
        text(
            f"SELECT a.name, sum(c.clicks) AS clicks, sum(c.conversions) AS conversions, sum(c.revenue) AS revenue "
            f"FROM affiliate_daily_counts c "
            f"JOIN affiliate_tracking_codes t ON t.account_id = c.account_id AND t.livemode = c.livemode "
            f"AND t.code = c.label "
            f"JOIN affiliates a ON a.account_id = t.account_id AND a.livemode = t.livemode AND a.id = t.affiliate_id "
            f"WHERE c.account_id = :a AND c.livemode = :l AND c.dimension = 'code' AND c.{_RANGE} "
            f"GROUP BY a.id, a.name "
            f'ORDER BY revenue DESC, conversions DESC, clicks DESC, a.name COLLATE "C", a.id COLLATE "C" LIMIT :n'
        ),
        _params(who, first=days.first, last=days.last, n=limit),
    )
    return list(rows)


async def top_products(conn: AsyncConnection, who: Principal, days: Days, limit: int) -> list[Any]:
    rows = await conn.execute(
        text(
            f"SELECT c.label AS product_id, coalesce(min(p.name), c.label) AS name, "
            f"sum(c.product_views) AS views, sum(c.conversions) AS conversions "
            f"FROM affiliate_daily_counts c LEFT JOIN affiliate_products p ON p.account_id = c.account_id "
            f"AND p.livemode = c.livemode AND p.product_id = c.label "
            f"WHERE c.account_id = :a AND c.livemode = :l AND c.dimension = 'product' AND c.{_RANGE} "
            f'GROUP BY c.label ORDER BY views DESC, conversions DESC, c.label COLLATE "C" LIMIT :n'
        ),
        _params(who, first=days.first, last=days.last, n=limit),
    )
    return list(rows)


# --------------------------------------------------------------------------- feeds

_FEEDS = {
    # section -> (total expression over the daily totals, page query)
    "recent_clicks": (
        "clicks",
        "SELECT id, tracking_code, referrer_url, page_url, device, country, occurred_at FROM affiliate_events "
        "WHERE {scope} AND event_type = 'click' AND occurred_at >= :start AND occurred_at < :end "
        "ORDER BY occurred_at DESC, id DESC LIMIT :lim OFFSET :off",
    ),
    "recent_events": (
        EVENT_TOTAL,
        "SELECT id, event_type, tracking_code, referrer_url, page_url, product_id, device, country, occurred_at "
        "FROM affiliate_events WHERE {scope} AND occurred_at >= :start AND occurred_at < :end "
        "ORDER BY occurred_at DESC, id DESC LIMIT :lim OFFSET :off",
    ),
    "recent_conversions": (
        "conversions",
        "SELECT id, order_id, order_total, commission, tracking_code, currency, occurred_at "
        "FROM affiliate_conversions WHERE {scope} AND occurred_at >= :start AND occurred_at < :end "
        "ORDER BY occurred_at DESC, id DESC LIMIT :lim OFFSET :off",
    ),
}


async def feed_page(conn: AsyncConnection, who: Principal, section: str, days: Days, page: int,
                    per_page: int) -> tuple[list[Any], int]:
    """One page of a feed, newest first, and the range's total, in one statement."""
    total_expr, page_sql = _FEEDS[section]
    start, end = days.bounds()
    statement = (
        f"SELECT t.total, p.* FROM (SELECT coalesce(sum({total_expr}), 0) AS total FROM affiliate_daily_counts "
        f"WHERE {_SCOPE} AND dimension = 'total' AND day BETWEEN :first AND :last) t "
        f"LEFT JOIN LATERAL ({page_sql.format(scope=_SCOPE)}) p ON true"
    )
    rows = (
        await conn.execute(
            text(statement),
            _params(who, first=days.first, last=days.last, start=start, end=end, lim=per_page,
                    off=(page - 1) * per_page),
        )
    ).all()
    total = int(rows[0].total)
    return [r for r in rows if r.id is not None], total
