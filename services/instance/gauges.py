"""Scrape-time gauges of the instance service: the lag of the two hourly projections its
ingestion keeps (docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per account and mode, the hour of the newest instance against the newest hour of each
# projection, in epoch seconds. One grouped read per table, joined after on the account
# (a lateral probe per account row is a join Citus cannot push down; grouped by
# account_id, each read runs on every shard and the joins are co-located).
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.hourly")} AS instance_hourly_counts,
       {newest_bucket_gap("w.raw", "w.campaign")} AS campaign_hourly_stats
FROM (
    SELECT floor(extract(epoch FROM r.newest) / 3600) * 3600 AS raw,
           extract(epoch FROM h.newest) AS hourly, extract(epoch FROM c.newest) AS campaign
    FROM (SELECT account_id, livemode, max(started_at) AS newest FROM instances
          GROUP BY account_id, livemode) AS r
    LEFT JOIN (SELECT account_id, livemode, max(hour) AS newest FROM instance_hourly_counts
               GROUP BY account_id, livemode) AS h
           ON h.account_id = r.account_id AND h.livemode = r.livemode
    LEFT JOIN (SELECT account_id, livemode, max(hour) AS newest FROM campaign_hourly_stats
               GROUP BY account_id, livemode) AS c
           ON c.account_id = r.account_id AND c.livemode = r.livemode
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
