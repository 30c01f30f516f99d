"""The outbox write: events written in the caller's transaction (docs/webhooks.md).

An ingestion call hands the objects it inserted to `emit` before it commits; one
statement writes the events and a pending delivery for each enabled endpoint of the
account and mode that subscribes to the type. So a rolled-back write leaves neither, a
committed one leaves both, and an account without endpoints pays one index probe and
writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from partnerlytics.webhooks.v1 import webhooks_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from platform_core.accounts import Principal
from services.webhooks.models import new_event_id

API_VERSION = "2026-12-01"

# Event type -> the EventData field that carries its object.
EVENT_TYPES: dict[str, str] = {
    "affiliate.conversion.recorded": "affiliate_conversion",
    "voucher.redeemed": "voucher_redemption",
    "instance.purchased": "instance_purchase",
    "export.completed": "export_job",
    "export.failed": "export_job",
    "webhook.test": "test",
}


def timestamp(moment: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(dt.timezone.utc))
    return stamp


def event_body(event_id: str, event_type: str, livemode: bool, created: dt.datetime, data) -> str:
    """The proto JSON of one event: what every delivery of it posts, byte for byte."""
    event = pb.Event(id=event_id, type=event_type, api_version=API_VERSION, created=timestamp(created),
                     livemode=livemode)
    getattr(event.data, EVENT_TYPES[event_type]).CopyFrom(data)
    return json_format.MessageToJson(event, indent=None, sort_keys=True)


# The events, and a delivery per subscribed endpoint: only when the account and mode has
# an enabled endpoint (the EXISTS keeps the common case to one probe of the endpoints' key).
# An event addressed to one endpoint (`only`, the test event) goes to it whatever types
# it subscribes to: `webhook.test` is in no endpoint's list.
_EMIT = text("""
    WITH events AS (
        INSERT INTO webhook_events (account_id, livemode, id, type, api_version, body, created_at)
        SELECT :a, :l, e.id, e.type, :v, e.body, :now
        FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:bodies AS text[])) AS e(id, type, body)
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.account_id = :a AND w.livemode = :l
                      AND w.enabled AND (:only = '' OR w.id = :only))
        RETURNING id, type
    )
    INSERT INTO webhook_deliveries (account_id, livemode, endpoint_id, event_id, next_attempt_at, created_at)
    SELECT :a, :l, w.id, events.id, :now, :now
    FROM events JOIN webhook_endpoints w ON w.account_id = :a AND w.livemode = :l AND w.enabled
        AND (:only = '' OR w.id = :only)
        AND (:only <> '' OR cardinality(w.event_types) = 0 OR events.type = ANY(w.event_types))
""")


async def emit(db: AsyncSession | AsyncConnection, who: Principal, events: Sequence[tuple[str, object]],
               *, only_endpoint: str = "", now: dt.datetime | None = None) -> list[str]:
    """Writes `events` ((type, object) pairs) in the transaction of `db`; returns their
    ids (also when no endpoint takes them, and then nothing was written)."""
    if not events:
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    ids = [new_event_id() for _ in events]
    bodies = [event_body(i, t, who.livemode, now, data) for i, (t, data) in zip(ids, events, strict=True)]
    await db.execute(_EMIT, {"a": who.account_id, "l": who.livemode, "v": API_VERSION, "now": now,
                             "ids": ids, "types": [t for t, _ in events], "bodies": bodies, "only": only_endpoint})
    return ids


# ---------------------------------------------------------------------------------------
# The objects of the events, from the rows ingestion inserted


def conversion(row: dict) -> pb.AffiliateConversion:
    """An affiliate conversion row (services/affiliate/ingest.py `record_conversions`)."""
    return pb.AffiliateConversion(
        order_id=row["order_id"], tracking_code=row["tracking_code"] or "", order_total=str(row["order_total"]),
        commission=str(row["commission"]), currency=row["currency"], occurred_at=timestamp(row["occurred_at"]),
        product_ids=row["product_ids"])


def redemption(row) -> pb.VoucherRedemption:
    """A `voucher_redemptions` row as inserted (services/voucher/ingest.py)."""
    return pb.VoucherRedemption(
        id=row.id, voucher_id=row.voucher_id, customer_id=row.customer_id or "", order_total=row.order_total,
        discount=row.discount, redeemed_at=timestamp(row.redeemed_at))


def purchase(order, campaign_id) -> pb.InstancePurchase:
    """An inserted `orders` row whose instance became a purchase (services/instance/ingest.py)."""
    return pb.InstancePurchase(
        instance_id=str(order.instance_id), order_id=str(order.id), campaign_id=str(campaign_id),
        purchased_insider_id=str(order.purchased_insider_id) if order.purchased_insider_id else "",
        total=str(order.total), currency=order.currency, ordered_at=timestamp(order.created_at))


def export_finished(job, status: str, finished_at, *, expires_at=None, records: int = 0, file_size: int = 0,
                    failure_reason: str = "") -> pb.ExportJobFinished:
    """An export job a worker completed or failed (services/exports/jobs.py)."""
    event = pb.ExportJobFinished(export_id=job.id, source=job.source, format=job.format, status=status,
                                 records=records, file_size=file_size, failure_reason=failure_reason,
                                 finished_at=timestamp(finished_at))
    if expires_at is not None:
        event.expires_at.CopyFrom(timestamp(expires_at))
    return event
