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
import uuid
from dataclasses import dataclass, field, fields
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DAYS = 7

_DAYS = text(
    "SELECT day, visitors, pageview, click_whatsapp, click_call, click_toggle_currency, time_on_page, qr_scan, "
    "product_click, duration_ms FROM landing_daily_stats "
    "WHERE account_id = :a AND tenant_id = :t AND day >= :first AND day <= :last"
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


async def report(
    conn: AsyncConnection, account_id: uuid.UUID, tenant_id: int, time_zone: str, now: dt.datetime, days: int
) -> Report:
    """The last `days` local days of the tenant (today included), per day and in all."""
    dates = local_days(now, time_zone, days)
    rows = (
        await conn.execute(_DAYS, {"a": account_id, "t": tenant_id, "first": dates[0], "last": dates[-1]})
    ).all()
    found = {row.day: Figures(*(int(v) for v in row[1:])) for row in rows}
    per_day = [found.get(day, Figures()) for day in dates]
    whole = Figures()
    for figures in per_day:
        whole = whole + figures
    return Report(dates, per_day, whole)
