"""Scrape-time gauges of the instance service: the lag of the two hourly projections its
ingestion keeps (docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per account and mode (index probes: ix_instances_window and the projections' keys), the
# hour of the newest instance against the newest hour of each projection, in epoch seconds.
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.hourly")} AS instance_hourly_counts,
       {newest_bucket_gap("w.raw", "w.campaign")} AS campaign_hourly_stats
FROM (
    SELECT floor(extract(epoch FROM r.newest) / 3600) * 3600 AS raw,
           extract(epoch FROM h.newest) AS hourly, extract(epoch FROM c.newest) AS campaign
    FROM accounts a CROSS JOIN (VALUES (false), (true)) AS m(livemode)
    CROSS JOIN LATERAL (SELECT max(started_at) AS newest FROM instances
                        WHERE account_id = a.id AND livemode = m.livemode) AS r
    CROSS JOIN LATERAL (SELECT max(hour) AS newest FROM instance_hourly_counts
                        WHERE account_id = a.id AND livemode = m.livemode) AS h
    CROSS JOIN LATERAL (SELECT max(hour) AS newest FROM campaign_hourly_stats
                        WHERE account_id = a.id AND livemode = m.livemode) AS c
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
