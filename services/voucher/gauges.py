"""Scrape-time gauges of the voucher service: the export queue's depth and the lag of the
daily projection (docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, newest_bucket_gap, projection_lag, query_gauge
from platform_core.server import Deps

# Per voucher (index probes on the validations', redemptions' and voucher_daily's keys),
# the UTC day of its newest validation or redemption against its newest projected day.
LAG_SQL = f"""
SELECT {newest_bucket_gap("w.raw", "w.daily")} AS voucher_daily
FROM (
    SELECT ((greatest(val.newest, red.newest) AT TIME ZONE 'UTC')::date - DATE '1970-01-01') * 86400 AS raw,
           (d.newest - DATE '1970-01-01') * 86400 AS daily
    FROM vouchers v
    CROSS JOIN LATERAL (SELECT max(validated_at) AS newest FROM voucher_validations x
                        WHERE x.account_id = v.account_id AND x.livemode = v.livemode AND x.voucher_id = v.id) AS val
    CROSS JOIN LATERAL (SELECT max(redeemed_at) AS newest FROM voucher_redemptions x
                        WHERE x.account_id = v.account_id AND x.livemode = v.livemode AND x.voucher_id = v.id) AS red
    CROSS JOIN LATERAL (SELECT max(day) AS newest FROM voucher_daily x
                        WHERE x.account_id = v.account_id AND x.livemode = v.livemode AND x.voucher_id = v.id) AS d
    WHERE greatest(val.newest, red.newest) IS NOT NULL
) AS w
"""

# Jobs not finished yet (the partial index ix_voucher_exports_queue): waiting for a
# worker (never claimed, or its worker's lease ran out) or held by a live lease.
QUEUE_SQL = """
SELECT count(*) FILTER (WHERE lease_owner IS NULL OR lease_expires_at < now()) AS queued,
       count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at >= now()) AS running
FROM voucher_exports WHERE status = 'processing'
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [
        projection_lag(deps.engine, LAG_SQL),
        query_gauge(deps.engine, "partnerlytics_export_jobs",
                    "Voucher export jobs not finished, by state (queued: waiting for a worker; running: leased).",
                    "state", QUEUE_SQL),
    ]
