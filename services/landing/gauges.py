"""Scrape-time gauges of the landing service: the lag of its daily stats
(docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag
from platform_core.server import Deps

# Per tenant, the tenant-local day of its newest event against its newest day of
# landing_daily_stats. One grouped read per table, joined after on the account and tenant
# (a lateral probe per row of the reference table landing_tenants is a join Citus cannot
# push down; grouped by account_id, each read runs on every shard, the join is
# co-located and the tenants' zones are joined from the reference table).
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.daily")} AS landing_daily_stats
FROM (
    SELECT ((r.newest AT TIME ZONE t.time_zone)::date - DATE '1970-01-01') * 86400 AS raw,
           (d.newest - DATE '1970-01-01') * 86400 AS daily
    FROM (SELECT account_id, tenant_id, max(occurred_at) AS newest FROM landing_events
          GROUP BY account_id, tenant_id) AS r
    JOIN landing_tenants t ON t.id = r.tenant_id
    LEFT JOIN (SELECT account_id, tenant_id, max(day) AS newest FROM landing_daily_stats
               GROUP BY account_id, tenant_id) AS d
           ON d.account_id = r.account_id AND d.tenant_id = r.tenant_id
    WHERE r.newest IS NOT NULL
) AS w
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [projection_lag(deps.engine, LAG_SQL)]
