"""The affiliate family's export sources (docs/exports.md): its tracking events and its
conversions, oldest first. Their rows need `reports:read`, the affiliate API's scope."""

from __future__ import annotations

from platform_core.export_sources import Column, ExportSource, Filter
from services.affiliate.classify import DEVICES
from services.affiliate.classify import SOURCES as TRAFFIC_SOURCES
from services.affiliate.ingest import EVENT_COUNTERS

EVENT_TYPES = tuple(EVENT_COUNTERS)

_EVENTS_FILTER = """
WHERE account_id = %(account_id)s AND livemode = %(livemode)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
  AND (%(tracking_code)s::text IS NULL OR tracking_code = %(tracking_code)s::text)
  AND (%(device)s::text IS NULL OR device = %(device)s::text)
  AND (%(traffic_source)s::text IS NULL OR traffic_source = %(traffic_source)s::text)
"""

AFFILIATE_EVENTS = ExportSource(
    name="affiliate_events",
    family="affiliate",
    description="The tracking events in the range, oldest first",
    scope="reports:read",
    columns=(
        Column("event_id", "string", "the event's UUID (the client's id)"),
        Column("event_type", "string", "click, pageview, product_view, add_to_cart, remove_from_cart, thank_you_view"),
        Column("occurred_at", "timestamp", "when it happened"),
        Column("tracking_code", "string", "the affiliate tracking code (empty when none)"),
        Column("affiliate_id", "string", "the code's affiliate (empty when none)"),
        Column("session_id", "string", "the visitor's session id"),
        Column("page_url", "string", "the page"),
        Column("referrer_url", "string", "the referrer"),
        Column("product_id", "string", "the product (product events)"),
        Column("device", "string", "desktop, mobile, tablet, bot or unknown"),
        Column("browser", "string", "the browser family"),
        Column("os", "string", "the operating system family"),
        Column("country", "string", "ISO 3166-1 alpha-2 country, when known"),
        Column("traffic_source", "string", "paid, email, social, search, campaign, referral or direct"),
    ),
    filters=(
        Filter("event_type", "choice", "only events of this type", choices=EVENT_TYPES),
        Filter("tracking_code", "text", "only events of this tracking code", max_length=64),
        Filter("device", "choice", "only events from this device class", choices=DEVICES),
        Filter("traffic_source", "choice", "only events from this traffic source", choices=TRAFFIC_SOURCES),
    ),
    query=f"""
SELECT e.event_id, e.event_type, e.occurred_at, e.tracking_code, t.affiliate_id, e.session_id, e.page_url,
       e.referrer_url, e.product_id, e.device, e.browser, e.os, e.country, e.traffic_source
FROM (SELECT * FROM affiliate_events {_EVENTS_FILTER}) e
LEFT JOIN affiliate_tracking_codes t
  ON t.account_id = %(account_id)s AND t.livemode = %(livemode)s AND t.code = e.tracking_code
ORDER BY e.occurred_at, e.id
""",
    count_query=f"SELECT count(*) FROM affiliate_events {_EVENTS_FILTER}",
)

_CONVERSIONS_FILTER = """
WHERE account_id = %(account_id)s AND livemode = %(livemode)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND (%(tracking_code)s::text IS NULL OR tracking_code = %(tracking_code)s::text)
"""

AFFILIATE_CONVERSIONS = ExportSource(
    name="affiliate_conversions",
    family="affiliate",
    description="The conversions (orders) in the range, oldest first",
    scope="reports:read",
    columns=(
        Column("order_id", "string", "the shop's order id"),
        Column("occurred_at", "timestamp", "when the order was placed"),
        Column("tracking_code", "string", "the tracking code it is attributed to"),
        Column("affiliate_id", "string", "the code's affiliate"),
        Column("order_total", "decimal", "the order's total"),
        Column("commission", "decimal", "the affiliate's commission"),
        Column("currency", "string", "ISO 4217 currency"),
        Column("product_ids", "json", "the products of the order"),
    ),
    filters=(
        Filter("tracking_code", "text", "only conversions of this tracking code", max_length=64),
    ),
    query=f"""
SELECT c.order_id, c.occurred_at, c.tracking_code, t.affiliate_id, c.order_total, c.commission, c.currency,
       to_jsonb(c.product_ids) AS product_ids
FROM (SELECT * FROM affiliate_conversions {_CONVERSIONS_FILTER}) c
LEFT JOIN affiliate_tracking_codes t
  ON t.account_id = %(account_id)s AND t.livemode = %(livemode)s AND t.code = c.tracking_code
ORDER BY c.occurred_at, c.id
""",
    count_query=f"SELECT count(*) FROM affiliate_conversions {_CONVERSIONS_FILTER}",
)

SOURCES = (AFFILIATE_EVENTS, AFFILIATE_CONVERSIONS)
