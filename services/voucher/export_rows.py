"""The voucher family's source in the export service (docs/exports.md,
"voucher_redemptions"): its redemptions, oldest first, with the voucher's code and the
customer's segment and region. The family's documented daily-metrics exports under
/v1/analytics/export stay its own (services/voucher/exports.py)."""

from __future__ import annotations

from platform_core.export_sources import Column, ExportSource, Filter

_WHERE = """
WHERE r.account_id = %(account_id)s AND r.livemode = %(livemode)s
  AND r.redeemed_at >= %(start)s AND r.redeemed_at < %(end)s
  AND (%(voucher_id)s::text IS NULL OR r.voucher_id = %(voucher_id)s::text)
"""

VOUCHER_REDEMPTIONS = ExportSource(
    name="voucher_redemptions",
    family="voucher",
    description="The voucher redemptions in the range, oldest first",
    scope="analytics:read",
    columns=(
        Column("redemption_id", "string", "the redemption's id (the client's)"),
        Column("voucher_id", "string", "the voucher (v_ and 16 hex digits)"),
        Column("code", "string", "the voucher's code"),
        Column("customer_id", "string", "the customer who redeemed it"),
        Column("segment", "string", "the customer's segment"),
        Column("region", "string", "the customer's region"),
        Column("order_total", "integer", "the order's total, in minor units"),
        Column("discount", "integer", "the discount, in minor units"),
        Column("currency", "string", "the voucher's ISO 4217 currency"),
        Column("redeemed_at", "timestamp", "when it was redeemed"),
    ),
    filters=(
        Filter("voucher_id", "text", "only redemptions of this voucher", max_length=18),
    ),
    query=f"""
SELECT r.id AS redemption_id, r.voucher_id, v.code, r.customer_id, c.segment, c.region, r.order_total, r.discount,
       v.currency, r.redeemed_at
FROM voucher_redemptions r
JOIN vouchers v ON v.account_id = r.account_id AND v.livemode = r.livemode AND v.id = r.voucher_id
LEFT JOIN voucher_customers c ON c.account_id = r.account_id AND c.livemode = r.livemode AND c.id = r.customer_id
{_WHERE}
ORDER BY r.redeemed_at, r.id
""",
    count_query=f"SELECT count(*) FROM voucher_redemptions r {_WHERE}",
    subjects=("customer",),
)

SOURCES = (VOUCHER_REDEMPTIONS,)
