"""Ingestion commands: validate records, then write a batch in one transaction.

Writes are idempotent by the client's record id (`ON CONFLICT DO NOTHING`, first write
wins) and the hourly instance counts change in the same transaction as the rows they
count, so they are exact at every commit.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import uuid
from typing import Any, Sequence

from google.protobuf import json_format
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from platform_core.accounts import Principal
from platform_core.ingest import (
    IngestResult,
    RecordChecker,
    commit_and_acknowledge,
    contains_nul,
    field_path,
    insert_batch,
    record_paths,
)
from platform_core.metrics import IngestCounter
from platform_core.paging import floor_hour
from services.campaign_stats import Delta, StatsKey, add_to_campaign_stats
from services.webhooks import outbox as webhooks

# partnerlytics_ingested_records_total, per record kind.
INSTANCES, EVENTS, ORDERS, INSIDER_REWARDS = (
    IngestCounter("instance", kind) for kind in ("instances", "events", "orders", "insider_rewards")
)


TRACKER_TYPES = {
    pb.TRACKER_TYPE_PAGE_VIEW: "page_view",
    pb.TRACKER_TYPE_CLICK_TRACKING: "click_tracking",
    pb.TRACKER_TYPE_SCROLL_TRACKING: "scroll_tracking",
    pb.TRACKER_TYPE_TIME_TRACKING: "time_tracking",
}

# The documented metadata of each tracker type: key -> expected JSON type.
METADATA_SCHEMA: dict[str, dict[str, type]] = {
    "page_view": {"url": str, "user_agent": str},
    "click_tracking": {"product_id": str, "price": float},
    "scroll_tracking": {
        "scroll_depth": float,
        "max_scroll": float,
        "page_height": float,
        "viewport_height": float,
        "scroll_speed": str,
    },
    "time_tracking": {
        "time_spent": float,
        "active_time": float,
        "idle_time": float,
        "session_duration": float,
        "engagement_score": float,
    },
}


async def _known_instances(session: AsyncSession, who: Principal, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(
        text(
            "SELECT id FROM instances WHERE account_id = :a AND livemode = :l AND id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"a": who.account_id, "l": who.livemode, "ids": list(ids)},
    )
    return {row.id for row in rows}


async def _check_instances(
    session: AsyncSession, who: Principal, checker: RecordChecker, refs: list[tuple[str, uuid.UUID]]
) -> None:
    """Every referenced instance must exist for the caller's account; a foreign one does not."""
    known = await _known_instances(session, who, {ref for _, ref in refs})
    for field, ref in refs:
        if ref not in known:
            checker.fail(field, f"{field} does not name a recorded instance", "not_found")
    checker.raise_if_any()


async def _bump_counts(session: AsyncSession, who: Principal, deltas: dict[tuple[dt.datetime, bool], int]) -> None:
    """Adds to the hourly counts; keys are sorted so that concurrent batches lock in one order."""
    items = sorted((k, v) for k, v in deltas.items() if v)
    if not items:
        return
    await session.execute(
        text(
            "INSERT INTO instance_hourly_counts (account_id, livemode, hour, is_purchase, n) "
            "SELECT :a, :l, h, p, n FROM unnest(CAST(:hours AS timestamptz[]), CAST(:purchases AS boolean[]), "
            "CAST(:ns AS bigint[])) AS t(h, p, n) "
            "ON CONFLICT (account_id, livemode, hour, is_purchase) "
            "DO UPDATE SET n = instance_hourly_counts.n + EXCLUDED.n"
        ),
        {
            "a": who.account_id,
            "l": who.livemode,
            "hours": [k[0] for k, _ in items],
            "purchases": [k[1] for k, _ in items],
            "ns": [v for _, v in items],
        },
    )


# ---------------------------------------------------------------------------------------
# Instances


async def create_instances(
    session: AsyncSession, who: Principal, records: Sequence[pb.InstanceRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    ids, campaigns, insiders, started = [], [], [], []
    for at, record in record_paths(records, field, single):
        ids.append(checker.uuid(f"{at}.id", record.id))
        campaigns.append(checker.uuid(f"{at}.campaign_id", record.campaign_id))
        insiders.append(checker.uuid(f"{at}.insider_id", record.insider_id))
        started.append(checker.moment(f"{at}.timestamp", record.timestamp, now=now))
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "instances",
        {"id": ("ids", "uuid"), "campaign_id": ("campaigns", "uuid"), "insider_id": ("insiders", "uuid"),
         "started_at": ("started", "timestamptz")},
        {"ids": ids, "campaigns": campaigns, "insiders": insiders, "started": started},
        returning="started_at, campaign_id",
    )
    deltas: dict[tuple[dt.datetime, bool], int] = collections.Counter()
    campaign_deltas: dict[StatsKey, Delta] = collections.defaultdict(Delta)
    for row in inserted:
        hour = floor_hour(row.started_at.astimezone(dt.timezone.utc))
        deltas[(hour, False)] += 1
        campaign_deltas[(row.campaign_id, hour)].instances += 1
    await _bump_counts(session, who, deltas)
    await add_to_campaign_stats(session, who, campaign_deltas)
    return await commit_and_acknowledge(session, records, inserted, INSTANCES)


# ---------------------------------------------------------------------------------------
# Events


def _check_metadata(checker: RecordChecker, field: str, tracker: str, metadata: dict[str, Any]) -> None:
    if contains_nul(metadata):
        checker.fail(field, f"{field} must not contain NUL characters", "invalid_value")
    for key, kind in METADATA_SCHEMA[tracker].items():
        value = metadata.get(key)
        if value is None:
            checker.fail(f"{field}.{key}", f"{tracker} metadata needs {key}", "required")
        elif kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            checker.fail(f"{field}.{key}", f"{key} must be a number", "invalid_type")
        elif kind is str and not isinstance(value, str):
            checker.fail(f"{field}.{key}", f"{key} must be a string", "invalid_type")
    if tracker == "time_tracking":
        score = metadata.get("engagement_score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and not 0.0 <= score <= 1.0:
            checker.fail(f"{field}.engagement_score", "engagement_score must be between 0.0 and 1.0", "out_of_range")


async def create_events(
    session: AsyncSession, who: Principal, records: Sequence[pb.EventRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    refs: list[tuple[str, uuid.UUID]] = []
    for at, record in record_paths(records, field, single):
        instance_id = checker.reference(f"{at}.instance_id", record.instance_id, refs)
        tracker = TRACKER_TYPES.get(record.tracker_type)
        if tracker is None:
            checker.fail(f"{at}.tracker_type", "tracker_type must be one of " + ", ".join(TRACKER_TYPES.values()), "invalid_enum")
        metadata = json_format.MessageToDict(record.metadata)
        if tracker is not None:
            _check_metadata(checker, f"{at}.metadata", tracker, metadata)
        created_at = checker.moment(f"{at}.created_at", record.created_at, now=now)
        updated_at = checker.moment(f"{at}.updated_at", record.updated_at, required=False) or created_at
        rows["ids"].append(checker.uuid(f"{at}.id", record.id))
        rows["instances"].append(instance_id)
        rows["names"].append(checker.text(f"{at}.name", record.name, 200))
        rows["trackers"].append(tracker)
        rows["refs"].append(
            checker.text(f"{at}.reference_id", record.reference_id, 200, required=False)
            if record.HasField("reference_id") else None
        )
        rows["created"].append(created_at)
        rows["updated"].append(updated_at)
        rows["metadata"].append(metadata)
    checker.raise_if_any()
    await _check_instances(session, who, checker, refs)
    inserted = await insert_batch(
        session, who, "events",
        {"id": ("ids", "uuid"), "instance_id": ("instances", "uuid"), "name": ("names", "text"),
         "tracker_type": ("trackers", "text"), "reference_id": ("refs", "text"), "created_at": ("created", "timestamptz"),
         "updated_at": ("updated", "timestamptz"), "metadata": ("metadata", "jsonb")},
        rows, claim=("id", "created_at"),
    )
    return await commit_and_acknowledge(session, records, inserted, EVENTS)


# ---------------------------------------------------------------------------------------
# Orders


async def create_orders(
    session: AsyncSession, who: Principal, records: Sequence[pb.OrderRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    orders: dict[str, list[Any]] = collections.defaultdict(list)
    items: dict[str, list[Any]] = collections.defaultdict(list)
    refs: list[tuple[str, uuid.UUID]] = []
    batch_orders: set[uuid.UUID | None] = set()
    for at, record in record_paths(records, field, single):
        order_id = checker.uuid(f"{at}.id", record.id)
        # An order id repeated in the batch is a duplicate like a retried one: the first
        # record wins, so only its items are written (twice would break their key).
        first = order_id not in batch_orders
        batch_orders.add(order_id)
        instance_id = checker.reference(f"{at}.instance_id", record.instance_id, refs)
        orders["ids"].append(order_id)
        orders["instances"].append(instance_id)
        orders["insiders"].append(checker.uuid(f"{at}.purchased_insider_id", record.purchased_insider_id))
        orders["totals"].append(checker.money(f"{at}.total", record.total))
        orders["currencies"].append(checker.currency(f"{at}.currency", record.currency))
        orders["statuses"].append(checker.text(f"{at}.status", record.status, 40))
        orders["discounted"].append(checker.money(f"{at}.discounted_price", record.discounted_price, required=False))
        orders["cashfunds"].append(checker.money(f"{at}.cashfunds_used", record.cashfunds_used, default="0"))
        orders["credits"].append(checker.money(f"{at}.credits_used", record.credits_used, default="0"))
        orders["created"].append(checker.moment(f"{at}.created_at", record.created_at, now=now))
        for line, item in enumerate(record.items):
            item_at = f"{at}.items[{line}]"
            product = checker.text(f"{item_at}.product_id", item.product_id, 200)
            if item.quantity < 1:
                checker.fail(f"{item_at}.quantity", "quantity must be at least 1", "out_of_range")
            price = checker.money(f"{item_at}.price", item.price)
            if first:
                items["orders"].append(order_id)
                items["lines"].append(line)
                items["products"].append(product)
                items["quantities"].append(item.quantity)
                items["prices"].append(price)
    checker.raise_if_any()
    await _check_instances(session, who, checker, refs)
    params = {"a": who.account_id, "l": who.livemode}
    # An instance has one order: a different order id for an instance that has one is refused.
    taken = await session.execute(
        text(
            "SELECT instance_id, id FROM orders WHERE account_id = :a AND livemode = :l "
            "AND instance_id = ANY(CAST(:instances AS uuid[]))"
        ),
        {**params, "instances": orders["instances"]},
    )
    existing = {row.instance_id: row.id for row in taken}
    seen: dict[uuid.UUID, uuid.UUID] = {}
    for i, (order_id, instance_id) in enumerate(zip(orders["ids"], orders["instances"], strict=True)):
        owner = existing.get(instance_id, seen.setdefault(instance_id, order_id))
        if owner != order_id:
            checker.fail(f"{field_path(field, None if single else i)}.instance_id", "the instance already has another order", "already_exists")
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "orders",
        {"id": ("ids", "uuid"), "instance_id": ("instances", "uuid"), "purchased_insider_id": ("insiders", "uuid"),
         "total": ("totals", "numeric"), "currency": ("currencies", "text"), "status": ("statuses", "text"),
         "discounted_price": ("discounted", "numeric"), "cashfunds_used": ("cashfunds", "numeric"),
         "credits_used": ("credits", "numeric"), "created_at": ("created", "timestamptz")},
        orders,
        returning="id, instance_id, purchased_insider_id, total, currency, created_at",
    )
    if inserted:
        new_ids = {row.id for row in inserted}
        keep = [i for i, order_id in enumerate(items["orders"]) if order_id in new_ids]
        if keep:
            await insert_batch(
                session, who, "order_items",
                {"order_id": ("orders", "uuid"), "line": ("lines", "int"), "product_id": ("products", "text"),
                 "quantity": ("quantities", "int"), "price": ("prices", "numeric")},
                {key: [values[i] for i in keep] for key, values in items.items()},
                returning=None, idempotent=False,
            )
        purchased = (
            await session.execute(
                text(
                    # A subquery, not a function in FROM: Citus plans the function form on
                    # every shard once PostgreSQL switches the prepared statement to its generic
                    # plan (docs/scaling.md, "Which queries stay on one shard").
                    "UPDATE instances AS i SET is_purchase = true, purchased_insider_id = o.insider "
                    "FROM (SELECT * FROM unnest(CAST(:instances AS uuid[]), CAST(:insiders AS uuid[])) "
                    "AS u(instance, insider) OFFSET 0) AS o "
                    "WHERE i.account_id = :a AND i.livemode = :l AND i.id = o.instance AND NOT i.is_purchase "
                    "RETURNING i.id, i.started_at, i.campaign_id"
                ),
                {**params, "instances": [row.instance_id for row in inserted],
                 "insiders": [row.purchased_insider_id for row in inserted]},
            )
        ).all()
        totals = {row.instance_id: row.total for row in inserted}
        deltas: collections.Counter[tuple[dt.datetime, bool]] = collections.Counter()
        campaign_deltas: dict[StatsKey, Delta] = collections.defaultdict(Delta)
        for row in purchased:
            hour = floor_hour(row.started_at.astimezone(dt.timezone.utc))
            deltas[(hour, False)] -= 1
            deltas[(hour, True)] += 1
            campaign = campaign_deltas[(row.campaign_id, hour)]
            campaign.purchases += 1
            campaign.revenue += totals[row.id]
        await _bump_counts(session, who, deltas)
        await add_to_campaign_stats(session, who, campaign_deltas)
        orders_of = {row.instance_id: row for row in inserted}
        await webhooks.emit(session, who, [("instance.purchased", webhooks.purchase(orders_of[row.id], row.campaign_id))
                                           for row in purchased])
    return await commit_and_acknowledge(session, records, inserted, ORDERS)


# ---------------------------------------------------------------------------------------
# Insider rewards


async def create_insider_rewards(
    session: AsyncSession, who: Principal, records: Sequence[pb.InsiderRewardRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    refs: list[tuple[str, uuid.UUID]] = []
    for at, record in record_paths(records, field, single):
        instance_id = checker.reference(f"{at}.instance_id", record.instance_id, refs)
        rows["ids"].append(checker.uuid(f"{at}.id", record.id))
        rows["instances"].append(instance_id)
        rows["insiders"].append(checker.uuid(f"{at}.insider_id", record.insider_id))
        rows["types"].append(checker.text(f"{at}.type", record.type, 40))
        rows["amounts"].append(checker.money(f"{at}.amount", record.amount))
        rows["currencies"].append(checker.currency(f"{at}.currency", record.currency))
        rows["statuses"].append(checker.text(f"{at}.status", record.status, 40))
        rows["created"].append(checker.moment(f"{at}.created_at", record.created_at, now=now))
    checker.raise_if_any()
    await _check_instances(session, who, checker, refs)
    inserted = await insert_batch(
        session, who, "insider_rewards",
        {"id": ("ids", "uuid"), "instance_id": ("instances", "uuid"), "insider_id": ("insiders", "uuid"),
         "type": ("types", "text"), "amount": ("amounts", "numeric"), "currency": ("currencies", "text"),
         "status": ("statuses", "text"), "created_at": ("created", "timestamptz")},
        rows,
    )
    return await commit_and_acknowledge(session, records, inserted, INSIDER_REWARDS)
