"""Scrape-time gauges of the export service: its queue's depth (docs/observability.md)."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, query_gauge
from platform_core.server import Deps

# Jobs not finished yet (the partial index ix_export_jobs_queue): waiting for a worker
# (never claimed, or its worker's lease ran out) or held by a live lease.
QUEUE_SQL = """
SELECT count(*) FILTER (WHERE lease_owner IS NULL OR lease_expires_at < now()) AS queued,
       count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at >= now()) AS running
FROM export_jobs WHERE status IN ('queued', 'processing')
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [
        query_gauge(deps.engine, "partnerlytics_family_export_jobs",
                    "Export jobs of the export service not finished, by state (queued: waiting for a worker; "
                    "running: leased).", "state", QUEUE_SQL),
    ]
