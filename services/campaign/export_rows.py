"""The campaign family's export source (docs/exports.md, "campaign_instances"): the
instances of one campaign, with the columns and the order of the campaign analytics
rows (newest first), for any time range up to a year."""

from __future__ import annotations

from platform_core.export_sources import Column, ExportSource, Filter

_FILTER = """
WHERE i.account_id = %(account_id)s AND i.livemode = %(livemode)s AND i.campaign_id = %(campaign_id)s::uuid
  AND i.started_at >= %(start)s AND i.started_at < %(end)s
  AND (%(is_purchase)s::boolean IS NULL OR i.is_purchase = %(is_purchase)s::boolean)
"""

# The order total of a purchased instance, as services/campaign/queries.py reads it.
_INSTANCES = f"""
SELECT i.started_at AS timestamp, i.id AS instance_id, i.is_purchase, i.insider_id, i.purchased_insider_id,
       coalesce(o.total, 0) AS revenue
FROM instances i
LEFT JOIN LATERAL (
  SELECT total FROM orders o
  WHERE i.is_purchase AND o.account_id = %(account_id)s AND o.livemode = %(livemode)s AND o.instance_id = i.id
  LIMIT 1
) AS o ON true
{_FILTER}
ORDER BY i.started_at DESC, i.id
"""

CAMPAIGN_INSTANCES = ExportSource(
    name="campaign_instances",
    family="campaign",
    description="The instances of one campaign started in the range, newest first, with their revenue",
    scope="analytics:read",
    columns=(
        Column("timestamp", "timestamp", "when the instance started"),
        Column("instance_id", "string", "the instance's UUID"),
        Column("is_purchase", "boolean", "whether it led to a purchase"),
        Column("insider_id", "string", "the insider who started it"),
        Column("purchased_insider_id", "string", "who purchased (empty when nobody did)"),
        Column("revenue", "decimal", "its order's total (0 without a purchase)"),
    ),
    filters=(
        Filter("campaign_id", "uuid", "the campaign (required)", required=True),
        Filter("is_purchase", "boolean", "only purchases (true) or only the others (false)"),
    ),
    query=_INSTANCES,
    count_query=f"SELECT count(*) FROM instances i {_FILTER}",
    subjects=("instance",),
)

SOURCES = (CAMPAIGN_INSTANCES,)
