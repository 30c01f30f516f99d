"""Ingestion commands: validate records, then write a batch in one transaction.

Writes are idempotent by the client's record id (`ON CONFLICT DO NOTHING`, first write
wins) and the hourly instance counts change in the same transaction as the rows they
count, so they are exact at every commit.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import re
import uuid
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from platform_core.accounts import Principal
from platform_core.ingest import (
    MAX_SECONDS,
    MIN_SECONDS,
    IngestResult,
    NotFinite,
    RecordChecker,
    commit_and_acknowledge,
    commit_and_count,
    contains_nul,
    field_path,
    insert_batch,
    micros_limit,
    record_paths,
    struct_dict,
    timestamp_sql,
)
from platform_core.metrics import IngestCounter
from platform_core.paging import floor_hour
from platform_core.params import is_uuid_text
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
#
# The hot path of ingestion (bench.ingest: `grpc b1000 c1` against COPY). A batch is
# first read by `_event_rows` with the fewest Python operations per record: field
# values are checked without building UUIDs or datetimes and sent as the text and
# integers they arrived as, the metadata Struct converted without json_format. Whatever
# it cannot accept at once (any doubt) sends the whole batch through `_event_violations`,
# the complete field-by-field check, whose violations are the response; so the fast
# reading only has to accept nothing that check refuses. One statement then claims the
# ids and writes the rows, the foreign key checking their instances.

# The constraint that checks an event's instance. Citus names it after the shard on a
# worker ("fk_events_instance_102350") and relays the worker's error without its
# constraint field, so the name is also read from the message.
_EVENTS_FK = re.compile(r"fk_events_instance(_[0-9]+)?")
_CONSTRAINT_IN_MESSAGE = re.compile(r'foreign key constraint "([^"]+)"')


def _refused_by_events_fk(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)
    if diag is None or diag.sqlstate != "23503":
        return False
    name = diag.constraint_name
    if not name:
        found = _CONSTRAINT_IN_MESSAGE.search(diag.message_primary or "")
        name = found.group(1) if found else ""
    return bool(_EVENTS_FK.fullmatch(name))


_EVENT_RECORD = ("id uuid, instance_id uuid, name text, tracker_type text, reference_id text, cs bigint, cu int, "
                 "us bigint, uu int, metadata jsonb")
_CREATED = timestamp_sql("cs", "cu")
_EVENTS_INSERT = text(
    # `batch` is each id's first record; its ids are claimed in record_keys first
    # (platform_core/record_keys.py: a resend at another time is a duplicate too). Every
    # written row's instance is checked by fk_events_instance (a missing or foreign one
    # fails the statement: nothing is written, and create_events reports it); the
    # instances of the records not written (duplicates) that no written row shares are
    # looked up and come back as `missing`.
    "WITH raw AS MATERIALIZED (SELECT id, instance_id, name, tracker_type, reference_id, "
    f"{_CREATED} AS created_at, coalesce({timestamp_sql('us', 'uu')}, {_CREATED}) AS updated_at, metadata, "
    f"ordinality FROM ROWS FROM (jsonb_to_recordset(CAST(:batch AS jsonb)) AS ({_EVENT_RECORD})) WITH ORDINALITY), "
    "batch AS (SELECT DISTINCT ON (id) * FROM raw ORDER BY id, ordinality), "
    "claimed AS (INSERT INTO record_keys (account_id, livemode, kind, client_id, recorded_at) "
    "SELECT :a, :l, 'events', CAST(id AS text), created_at FROM batch ON CONFLICT DO NOTHING RETURNING client_id), "
    "written AS (INSERT INTO events (account_id, livemode, id, instance_id, name, tracker_type, reference_id, "
    "created_at, updated_at, metadata) SELECT :a, :l, id, instance_id, name, tracker_type, reference_id, created_at, "
    "updated_at, metadata FROM batch WHERE CAST(id AS text) IN (SELECT client_id FROM claimed) "
    "ON CONFLICT DO NOTHING RETURNING instance_id), "
    "unchecked AS (SELECT instance_id FROM raw EXCEPT SELECT instance_id FROM written) "
    # A scalar subquery per unchecked instance (none in a batch without duplicates), where
    # NOT EXISTS may become a hash join over all the account's instances.
    "SELECT (SELECT count(*) FROM written) AS created, ARRAY(SELECT u.instance_id FROM unchecked AS u "
    "WHERE (SELECT true FROM instances AS i WHERE i.account_id = :a AND i.livemode = :l "
    "AND i.id = u.instance_id) IS NULL) AS missing"
)


def _check_metadata(checker: RecordChecker, field: str, tracker: str, metadata: dict[str, Any]) -> None:
    if contains_nul(metadata):
        checker.fail(field, f"{field} must not contain NUL characters", "invalid_value")
    _check_metadata_schema(checker, field, tracker, metadata)


def _check_metadata_schema(checker: RecordChecker, field: str, tracker: str, metadata: dict[str, Any]) -> None:
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


# tracker -> (its keys that must be numbers, its keys that must be strings)
_METADATA_TYPES = {
    tracker: (tuple(k for k, kind in schema.items() if kind is float), tuple(k for k, kind in schema.items() if kind is str))
    for tracker, schema in METADATA_SCHEMA.items()
}


def _metadata_fits(tracker: str, metadata: dict[str, Any]) -> bool:
    """`_check_metadata_schema` finds nothing, for a dict from struct_dict (numbers are
    finite floats there, strings exactly str)."""
    numbers, texts = _METADATA_TYPES[tracker]
    for key in numbers:
        if type(metadata.get(key)) is not float:
            return False
    for key in texts:
        if type(metadata.get(key)) is not str:
            return False
    return tracker != "time_tracking" or 0.0 <= metadata["engagement_score"] <= 1.0


def _event_violations(checker: RecordChecker, records: Sequence[pb.EventRecord], field: str, single: bool,
                      now: dt.datetime) -> None:
    """Every field violation of every record, with its path; raises InvalidArgument if any."""
    for at, record in record_paths(records, field, single):
        checker.uuid(f"{at}.instance_id", record.instance_id)
        tracker = TRACKER_TYPES.get(record.tracker_type)
        if tracker is None:
            checker.fail(f"{at}.tracker_type", "tracker_type must be one of " + ", ".join(TRACKER_TYPES.values()), "invalid_enum")
        try:
            metadata = struct_dict(record.metadata)
        except NotFinite:
            checker.fail(f"{at}.metadata", f"{at}.metadata must not hold NaN or Infinity", "invalid_value")
        else:
            if tracker is not None:
                _check_metadata(checker, f"{at}.metadata", tracker, metadata)
        checker.moment(f"{at}.created_at", record.created_at, now=now)
        checker.moment(f"{at}.updated_at", record.updated_at, required=False)
        checker.uuid(f"{at}.id", record.id)
        checker.text(f"{at}.name", record.name, 200)
        if record.HasField("reference_id"):
            checker.text(f"{at}.reference_id", record.reference_id, 200, required=False)
    checker.raise_if_any()


def _event_rows(records: Sequence[pb.EventRecord], limit_us: int, find_nul: bool = True) -> str | None:
    """The batch as the statement's JSON parameter, or None when any record may break a
    rule (`_event_violations` then decides). Accepts only what that check accepts; its one
    false alarm is a text holding a backslash before "u0000" (`find_nul=False` once the
    check has passed)."""
    rows = []
    for record in records:
        ident, instance_id, name = record.id, record.instance_id, record.name
        tracker = TRACKER_TYPES.get(record.tracker_type)
        created = record.created_at
        cs, cn = created.seconds, created.nanos
        if (tracker is None or not is_uuid_text(ident) or not is_uuid_text(instance_id) or not name
                or len(name) > 200 or not (cs or cn) or not MIN_SECONDS <= cs <= MAX_SECONDS
                or not 0 <= cn <= 999_999_999 or cs * 1_000_000 + cn // 1000 > limit_us):
            return None
        updated = record.updated_at
        us, un = updated.seconds, updated.nanos
        if us or un:
            if not MIN_SECONDS <= us <= MAX_SECONDS or not 0 <= un <= 999_999_999:
                return None
            uu = un // 1000
        else:
            us = uu = None
        reference = None
        if record.HasField("reference_id"):
            reference = record.reference_id
            if len(reference) > 200:
                return None
        try:
            metadata = struct_dict(record.metadata)
        except NotFinite:
            return None
        if not _metadata_fits(tracker, metadata):
            return None
        rows.append({"id": ident, "instance_id": instance_id, "name": name, "tracker_type": tracker,
                     "reference_id": reference, "cs": cs, "cu": cn // 1000, "us": us, "uu": uu, "metadata": metadata})
    batch = json.dumps(rows, separators=(",", ":"))
    # json.dumps writes U+0000 as \u0000 (and a backslash before "u0000" as \\u0000, which
    # this also finds): no such text, no NUL in any name, reference or metadata key or value.
    return None if find_nul and "\\u0000" in batch else batch


async def create_events(
    session: AsyncSession, who: Principal, records: Sequence[pb.EventRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    batch = _event_rows(records, micros_limit(now))
    if batch is None:
        _event_violations(checker, records, field, single, now)
        batch = _event_rows(records, micros_limit(now), find_nul=False)
        if batch is None:  # the two readings disagree: a bug, never a batch written unread
            raise RuntimeError("an event batch the field check accepts was refused by _event_rows")
    params = {"a": who.account_id, "l": who.livemode, "batch": batch}
    try:
        row = (await session.execute(_EVENTS_INSERT, params)).one()
    except IntegrityError as exc:
        if not _refused_by_events_fk(exc):
            raise
        # A written record names no instance of the caller's: nothing was written. The
        # lookup of every reference reports them all (and raises).
        await session.rollback()
        refs = [(f"{at}.instance_id", uuid.UUID(record.instance_id)) for at, record in record_paths(records, field, single)]
        await _check_instances(session, who, checker, refs)
        row = (await session.execute(_EVENTS_INSERT, params)).one()  # the instance appeared meanwhile
    if row.missing:
        missing = {str(instance_id) for instance_id in row.missing}
        for at, record in record_paths(records, field, single):
            if record.instance_id.lower() in missing:
                checker.fail(f"{at}.instance_id", f"{at}.instance_id does not name a recorded instance", "not_found")
        checker.raise_if_any()
    return await commit_and_count(session, len(records), row.created, EVENTS)


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
