"""Scrape-time gauges of the affiliate service: the lag of its daily counts
(docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per account and mode, the UTC day of the newest tracking event against the newest day of
# the "total" counts. One grouped read per table, joined after on the account (a lateral
# probe per account row is a join Citus cannot push down; grouped by account_id, each
# read runs on every shard and the join is co-located).
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.daily")} AS affiliate_daily_counts
FROM (
    SELECT ((r.newest AT TIME ZONE 'UTC')::date - DATE '1970-01-01') * 86400 AS raw,
           (d.newest - DATE '1970-01-01') * 86400 AS daily
    FROM (SELECT account_id, livemode, max(occurred_at) AS newest FROM affiliate_events
          GROUP BY account_id, livemode) AS r
    LEFT JOIN (SELECT account_id, livemode, max(day) AS newest FROM affiliate_daily_counts
               WHERE dimension = 'total' GROUP BY account_id, livemode) AS d
           ON d.account_id = r.account_id AND d.livemode = r.livemode
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
