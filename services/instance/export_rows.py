"""The instance family's export source (docs/exports.md, "instance_journeys"): each
instance started in the range, with its events, orders (with items) and insider rewards
as nested lists. One row per instance; the children of one instance are read together
(an index lookup each), so memory stays flat in the number of instances."""

from __future__ import annotations

from platform_core.export_sources import Column, ExportSource, Filter

_JOURNEYS = """
SELECT i.id AS instance_id, i.campaign_id, i.insider_id, i.started_at, i.is_purchase, i.purchased_insider_id,
       coalesce(e.events, '[]'::jsonb) AS events, coalesce(o.orders, '[]'::jsonb) AS orders,
       coalesce(r.rewards, '[]'::jsonb) AS rewards
FROM instances i
LEFT JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'id', ev.id, 'name', ev.name, 'tracker_type', ev.tracker_type, 'reference_id', ev.reference_id,
           'created_at', to_char(ev.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'metadata', ev.metadata) ORDER BY ev.created_at, ev.id) AS events
  FROM events ev
  WHERE ev.account_id = %(account_id)s AND ev.livemode = %(livemode)s AND ev.instance_id = i.id
) e ON true
LEFT JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'id', od.id, 'purchased_insider_id', od.purchased_insider_id, 'total', od.total::text,
           'currency', od.currency, 'status', od.status, 'discounted_price', od.discounted_price::text,
           'cashfunds_used', od.cashfunds_used::text, 'credits_used', od.credits_used::text,
           'created_at', to_char(od.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'items', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'product_id', it.product_id, 'quantity', it.quantity, 'price', it.price::text)
                        ORDER BY it.line), '[]'::jsonb)
                     FROM order_items it
                     WHERE it.account_id = %(account_id)s AND it.livemode = %(livemode)s AND it.order_id = od.id)
         ) ORDER BY od.created_at, od.id) AS orders
  FROM orders od
  WHERE od.account_id = %(account_id)s AND od.livemode = %(livemode)s AND od.instance_id = i.id
) o ON true
LEFT JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'id', rw.id, 'insider_id', rw.insider_id, 'type', rw.type, 'amount', rw.amount::text,
           'currency', rw.currency, 'status', rw.status,
           'created_at', to_char(rw.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
         ORDER BY rw.created_at, rw.id) AS rewards
  FROM insider_rewards rw
  WHERE rw.account_id = %(account_id)s AND rw.livemode = %(livemode)s AND rw.instance_id = i.id
) r ON true
WHERE i.account_id = %(account_id)s AND i.livemode = %(livemode)s
  AND i.started_at >= %(start)s AND i.started_at < %(end)s
  AND (%(campaign_id)s::uuid IS NULL OR i.campaign_id = %(campaign_id)s::uuid)
  AND (%(is_purchase)s::boolean IS NULL OR i.is_purchase = %(is_purchase)s::boolean)
ORDER BY i.started_at, i.id
"""

_COUNT = """
SELECT count(*) FROM instances i
WHERE i.account_id = %(account_id)s AND i.livemode = %(livemode)s
  AND i.started_at >= %(start)s AND i.started_at < %(end)s
  AND (%(campaign_id)s::uuid IS NULL OR i.campaign_id = %(campaign_id)s::uuid)
  AND (%(is_purchase)s::boolean IS NULL OR i.is_purchase = %(is_purchase)s::boolean)
"""

INSTANCE_JOURNEYS = ExportSource(
    name="instance_journeys",
    family="instance",
    description="Each instance started in the range, with its events, orders (with items) and rewards",
    scope="analytics:read",
    columns=(
        Column("instance_id", "string", "the instance's UUID"),
        Column("campaign_id", "string", "its campaign's UUID"),
        Column("insider_id", "string", "the insider who started it"),
        Column("started_at", "timestamp", "when it started (the export's time range applies to it)"),
        Column("is_purchase", "boolean", "whether it led to a purchase"),
        Column("purchased_insider_id", "string", "who purchased (empty when nobody did)"),
        Column("events", "json", "its events, oldest first: id, name, tracker_type, reference_id, created_at, "
                                  "metadata"),
        Column("orders", "json", "its orders: id, purchased_insider_id, total, currency, status, "
                                  "discounted_price, cashfunds_used, credits_used, created_at, items"),
        Column("rewards", "json", "its insider rewards: id, insider_id, type, amount, currency, status, "
                                   "created_at"),
    ),
    filters=(
        Filter("campaign_id", "uuid", "only instances of this campaign"),
        Filter("is_purchase", "boolean", "only instances that led (true) or did not lead (false) to a purchase"),
    ),
    query=_JOURNEYS,
    count_query=_COUNT,
    subjects=("instance",),
)

SOURCES = (INSTANCE_JOURNEYS,)
