"""Scrape-time gauges of the landing service: the lag of its daily stats
(docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per tenant (index probes on both keys), the tenant-local day of its newest event
# against its newest day of landing_daily_stats.
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.daily")} AS landing_daily_stats
FROM (
    SELECT ((r.newest AT TIME ZONE t.time_zone)::date - DATE '1970-01-01') * 86400 AS raw,
           (d.newest - DATE '1970-01-01') * 86400 AS daily
    FROM landing_tenants t
    CROSS JOIN LATERAL (SELECT max(occurred_at) AS newest FROM landing_events WHERE tenant_id = t.id) AS r
    CROSS JOIN LATERAL (SELECT max(day) AS newest FROM landing_daily_stats WHERE tenant_id = t.id) AS d
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
