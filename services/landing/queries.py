"""The dashboards' figures: local days of the tenant's time zone, one statement each.

The day boundaries are computed here with `zoneinfo` (the same zone database that
validated the tenant's zone), passed as one `timestamptz[]`, and events are put in their
local day by `width_bucket`, so PostgreSQL's own zone data plays no part. Unique visitors
are distinct salted hashes; since the salt rotates with the tenant's local day, a visitor
is one hash per day (and a visitor of several days counts once per day in the week).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from partnerlytics.landing.v1 import landing_analytics_pb2 as pb
from services.landing.salts import local_midnight

DAYS = 7

# GROUPING SETS: one row per local day with events, and the whole range's row (day NULL).
_FIGURES = text(
    """
    SELECT day, GROUPING(day) AS whole,
           count(DISTINCT visitor_hash) AS visitors,
           count(*) FILTER (WHERE event_type = :whatsapp) AS whatsapp_clicks,
           count(*) FILTER (WHERE event_type = :call) AS call_clicks,
           count(*) FILTER (WHERE event_type = :currency) AS currency_toggles,
           count(*) FILTER (WHERE event_type = :qr) AS qr_scans,
           count(*) FILTER (WHERE event_type = :product) AS product_clicks,
           count(duration_ms) FILTER (WHERE event_type = :time_on_page) AS timed,
           coalesce(sum(duration_ms) FILTER (WHERE event_type = :time_on_page), 0) AS duration_ms
    FROM (
      SELECT width_bucket(occurred_at, CAST(:bounds AS timestamptz[])) AS day, event_type, visitor_hash, duration_ms
      FROM landing_events
      WHERE tenant_id = :t AND occurred_at >= :start AND occurred_at < :end
    ) AS e
    GROUP BY GROUPING SETS ((day), ())
    """
)

_TYPES = {
    "whatsapp": pb.EVENT_TYPE_CLICK_WHATSAPP,
    "call": pb.EVENT_TYPE_CLICK_CALL,
    "currency": pb.EVENT_TYPE_CLICK_TOGGLE_CURRENCY,
    "qr": pb.EVENT_TYPE_QR_SCAN,
    "product": pb.EVENT_TYPE_PRODUCT_CLICK,
    "time_on_page": pb.EVENT_TYPE_TIME_ON_PAGE,
}


@dataclass(frozen=True)
class Figures:
    visitors: int = 0
    whatsapp_clicks: int = 0
    call_clicks: int = 0
    currency_toggles: int = 0
    qr_scans: int = 0
    product_clicks: int = 0
    timed: int = 0
    duration_ms: int = 0

    @property
    def avg_time_on_page(self) -> int:
        """Whole seconds, half up; 0 without any time_on_page event."""
        if self.timed == 0:
            return 0
        seconds = decimal.Decimal(self.duration_ms) / decimal.Decimal(self.timed) / 1000
        return int(seconds.quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP))


@dataclass(frozen=True)
class Report:
    days: list[dt.date]  # oldest first, ending today
    per_day: list[Figures]  # one per day, zero-filled
    whole: Figures = field(default_factory=Figures)  # the whole range


def local_days(now: dt.datetime, time_zone: str, days: int) -> list[dt.date]:
    today = now.astimezone(ZoneInfo(time_zone)).date()
    return [today - dt.timedelta(days=days - 1 - i) for i in range(days)]


async def report(conn: AsyncConnection, tenant_id: int, time_zone: str, now: dt.datetime, days: int) -> Report:
    """The last `days` local days of the tenant (today included), per day and in all."""
    zone = ZoneInfo(time_zone)
    dates = local_days(now, time_zone, days)
    bounds = [local_midnight(d, zone) for d in [*dates, dates[-1] + dt.timedelta(days=1)]]
    rows = (
        await conn.execute(
            _FIGURES, {"bounds": bounds, "t": tenant_id, "start": bounds[0], "end": bounds[-1], **_TYPES}
        )
    ).all()
    per_day = [Figures() for _ in dates]
    whole = Figures()
    for row in rows:
        figures = Figures(
            int(row.visitors), int(row.whatsapp_clicks), int(row.call_clicks), int(row.currency_toggles),
            int(row.qr_scans), int(row.product_clicks), int(row.timed), int(row.duration_ms),
        )
        if row.whole:
            whole = figures
        else:
            per_day[row.day - 1] = figures
    return Report(dates, per_day, whole)
