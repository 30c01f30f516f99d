"""Scrape-time gauges of the affiliate service: the lag of its daily counts
(docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per account and mode (index probes: ix_affiliate_events_feed and the counts' key), the
# UTC day of the newest tracking event against the newest day of the "total" counts.
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.daily")} AS affiliate_daily_counts
FROM (
    SELECT ((r.newest AT TIME ZONE 'UTC')::date - DATE '1970-01-01') * 86400 AS raw,
           (d.newest - DATE '1970-01-01') * 86400 AS daily
    FROM accounts a CROSS JOIN (VALUES (false), (true)) AS m(livemode)
    CROSS JOIN LATERAL (SELECT max(occurred_at) AS newest FROM affiliate_events
                        WHERE account_id = a.id AND livemode = m.livemode) AS r
    CROSS JOIN LATERAL (SELECT max(day) AS newest FROM affiliate_daily_counts
                        WHERE account_id = a.id AND livemode = m.livemode AND dimension = 'total') AS d
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
