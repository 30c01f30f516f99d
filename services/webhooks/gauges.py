"""Scrape-time gauges of the webhooks service: the delivery queue's depth and the age of
its oldest undelivered event (docs/webhooks.md, "Metrics")."""

from __future__ import annotations

from platform_core.metrics import GaugeQuery, query_gauge
from platform_core.server import Deps

# Pending deliveries (the partial index ix_webhook_deliveries_due): due and waiting, held
# by a live lease, or waiting for their retry time.
QUEUE_SQL = """
SELECT count(*) FILTER (WHERE next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())) AS due,
       count(*) FILTER (WHERE leased_until >= now()) AS in_flight,
       count(*) FILTER (WHERE next_attempt_at > now() AND (leased_until IS NULL OR leased_until < now())) AS retrying
FROM webhook_deliveries WHERE status = 'pending'
"""
OLDEST_SQL = """
SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_pending
FROM webhook_deliveries WHERE status = 'pending'
"""


def gauges(deps: Deps) -> list[GaugeQuery]:
    return [
        query_gauge(deps.engine, "partnerlytics_webhook_deliveries",
                    "Webhook deliveries not finished, by state.", "state", QUEUE_SQL),
        query_gauge(deps.engine, "partnerlytics_webhook_oldest_pending_seconds",
                    "Age of the oldest undelivered webhook event (0: none).", "age", OLDEST_SQL),
    ]
