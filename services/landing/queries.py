"""The dashboards' figures: local days of the tenant's time zone, from the daily rollups.

`landing_daily_stats` holds one row per tenant and local day, kept exact by the
transaction that writes the events (services/landing/store.py), so a dashboard reads at
most 7 rows whatever the number of events. "Today" is the current date in the tenant's
zone (`zoneinfo`, the same zone data that put each event in its day). Unique visitors
of a day are distinct salted hashes; the salt rotates with the local day, so hashes of
different days never coincide and the week's unique visitors are the sum of the days'
(a visitor of several days counts once per day).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field, fields
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core.accounts import Principal

DAYS = 7

# The caller's tenant and its daily rows in one statement (one round trip): the tenant
# scoped to the account and mode (another's is no row, like a missing one), left-joined to
# its rows of [:first, :last], a range wide enough for the local days of any zone (UTC-12
# to UTC+14); report() keeps the tenant's own days.
REPORT = text(
    "SELECT t.time_zone, d.day, d.visitors, d.pageview, d.click_whatsapp, d.click_call, d.click_toggle_currency, "
    "d.time_on_page, d.qr_scan, d.product_click, d.duration_ms FROM landing_tenants t "
    "LEFT JOIN landing_daily_stats d ON d.account_id = :a AND d.tenant_id = t.id AND d.day >= :first "
    "AND d.day <= :last "
    "WHERE t.account_id = :a AND t.livemode = :l AND t.id = :t"
)


@dataclass(frozen=True)
class Figures:
    visitors: int = 0
    pageview: int = 0
    click_whatsapp: int = 0
    click_call: int = 0
    click_toggle_currency: int = 0
    time_on_page: int = 0
    qr_scan: int = 0
    product_click: int = 0
    duration_ms: int = 0

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def avg_time_on_page(self) -> int:
        """Whole seconds, half up; 0 without any time_on_page event."""
        if self.time_on_page == 0:
            return 0
        seconds = decimal.Decimal(self.duration_ms) / decimal.Decimal(self.time_on_page) / 1000
        return int(seconds.quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP))


@dataclass(frozen=True)
class Report:
    days: list[dt.date]  # oldest first, ending today
    per_day: list[Figures]  # one per day, zero-filled
    whole: Figures = field(default_factory=Figures)  # the sum of the days


def local_days(now: dt.datetime, time_zone: str, days: int) -> list[dt.date]:
    today = now.astimezone(ZoneInfo(time_zone)).date()
    return [today - dt.timedelta(days=days - 1 - i) for i in range(days)]


def report_params(who: Principal, tenant_id: int, now: dt.datetime, days: int) -> dict:
    """REPORT's parameters: the UTC days around `now` that hold the last `days` local days
    of any zone (a zone's date is at most one day off UTC's)."""
    today = now.astimezone(dt.timezone.utc).date()
    return {"a": who.account_id, "l": who.livemode, "t": tenant_id,
            "first": today - dt.timedelta(days=days), "last": today + dt.timedelta(days=1)}


def report_of(rows: list, now: dt.datetime, days: int) -> Report | None:
    """The report from REPORT's rows; None when the tenant is not the caller's."""
    if not rows:
        return None
    dates = local_days(now, rows[0][0], days)
    zero = (0,) * len(fields(Figures))
    found = {row[1]: tuple(int(v) for v in row[2:]) for row in rows if row[1] is not None}
    values = [found.get(day, zero) for day in dates]
    # The week's sum column by column (the same as adding the days' Figures, in one pass).
    return Report(dates, [Figures(*v) for v in values], Figures(*(sum(column) for column in zip(*values))))


async def report(conn: AsyncConnection, who: Principal, tenant_id: int, now: dt.datetime, days: int) -> Report | None:
    """The last `days` local days of the caller's tenant (today included), per day and in
    all; None when the tenant is not the caller's. One statement."""
    rows = (await conn.execute(REPORT, report_params(who, tenant_id, now, days))).all()
    return report_of(rows, now, days)
