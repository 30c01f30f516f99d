"""Ingestion commands: validate a whole batch, then write it in one transaction.

Writes are idempotent by the client's key (`ON CONFLICT DO NOTHING`; the first write
wins) and the daily counts change in the same transaction as the rows they count,
only for rows this call actually inserted, so they are exact at every commit and a
retried batch changes nothing. The call returns only after COMMIT.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import re
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
from platform_core.accounts import Principal
from platform_core.errors import FieldViolation
from platform_core.ingest import (
    MAX_FUTURE,
    IngestResult,
    RecordChecker,
    check_batch_size,
    commit_and_count,
    insert_records,
    timestamp_value,
)
from platform_core.metrics import IngestCounter
from platform_core.params import parse_uuid
from services.affiliate.classify import parse_user_agent, traffic_source
from services.affiliate.errors import validation_failed
from services.affiliate.models import COUNTERS
from services.webhooks import outbox as webhooks

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
MAX_PRODUCTS = 100

_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")
_URL = re.compile(r"^https?://[\x21-\x7e]+\Z")
_COUNTRY = re.compile(r"^[A-Za-z]{2}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?\Z")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+\Z")

# Event type -> the daily counter it increments.
EVENT_COUNTERS = {
    "click": "clicks",
    "pageview": "pageviews",
    "product_view": "product_views",
    "add_to_cart": "add_to_carts",
    "remove_from_cart": "remove_from_carts",
    "thank_you_view": "thank_you_views",
}
PRODUCT_EVENTS = {"product_view", "add_to_cart", "remove_from_cart"}
UNKNOWN = "unknown"


Field = str | tuple[str, str]  # a path, or (record path, field name) joined only on failure


def _name(field: Field) -> str:
    return field if isinstance(field, str) else f"{field[0]}.{field[1]}"


class _Checker(RecordChecker):
    """The platform's checker in the affiliate document's words (`The {field} field ...`)
    and rules, raising its 422.

    Paths of valid fields are never formatted: a 5,000-event batch would otherwise
    build some 60,000 strings for nothing.
    """

    def __init__(self, field: str, records: Sequence[Any]) -> None:
        super().__init__()
        check_batch_size(self, field, records)

    def fail(self, field: Field, message: str, code: str = "invalid_value") -> None:
        self.violations.append(FieldViolation(_name(field), message.replace("{field}", _name(field)), code))

    def key(self, field: Field, value: str, required: bool = True) -> str | None:
        if not value:
            if required:
                self.fail(field, "The {field} field is required.", "required")
            return None
        if not _KEY.match(value):
            self.fail(field, "The {field} field must be 1 to 64 letters, digits, '_', '.' or '-'.", "invalid_format")
            return None
        return value

    def text(self, field: Field, value: str, max_len: int, required: bool = False) -> str | None:
        if not value:
            if required:
                self.fail(field, "The {field} field is required.", "required")
            return None
        if len(value) > max_len or not _PRINTABLE.match(value):
            self.fail(field, "The {field} field must be at most " + str(max_len) + " printable characters.", "invalid_format")
            return None
        return value

    def url(self, field: Field, value: str, required: bool) -> str | None:
        if not value:
            if required:
                self.fail(field, "The {field} field is required.", "required")
            return None
        if len(value) > 2048 or not _URL.match(value):
            self.fail(field, "The {field} field must be an http(s) URL of at most 2048 characters.", "invalid_url")
            return None
        return value

    def moment(self, field: Field, message, now: dt.datetime) -> dt.datetime | None:
        if not message.seconds and not message.nanos:
            self.fail(field, "The {field} field is required.", "required")
            return None
        moment = timestamp_value(message)
        if moment is None:
            self.fail(field, "The {field} field must be a timestamp between 0001-01-01 and 9999-12-31.", "out_of_range")
        elif moment > now + MAX_FUTURE:
            self.fail(field, "The {field} field must not be in the future.", "out_of_range")
        elif moment < EARLIEST:
            self.fail(field, "The {field} field must not be before 2000-01-01.", "out_of_range")
        return moment

    def money(self, field: Field, value: str) -> decimal.Decimal | None:
        if not value:
            self.fail(field, "The {field} field is required.", "required")
            return None
        if not _DECIMAL.match(value):
            self.fail(field, "The {field} field must be a non-negative decimal string with at most 2 decimals.",
                      "invalid_decimal")
            return None
        return decimal.Decimal(value)

    def raise_if_any(self) -> None:
        if self.violations:
            raise validation_failed(self.violations)


async def _existing(session: AsyncSession, who: Principal, table: str, column: str, values: set[str]) -> set[str]:
    if not values:
        return set()
    rows = await session.execute(
        text(f"SELECT {column} FROM {table} WHERE account_id = :a AND livemode = :l AND {column} = ANY(:v)"),
        {"a": who.account_id, "l": who.livemode, "v": sorted(values)},
    )
    return {r[0] for r in rows}


def _check_refs(checker: _Checker, refs: list[tuple[Field, str]], known: set[str], what: str) -> None:
    # An unknown and another account's code look the same (tenant isolation).
    for field, value in refs:
        if value not in known:
            checker.fail(field, "The {field} field names an unknown " + what + ".", "not_found")


class Deltas:
    """Counter changes per (dimension, day, label), applied in one upsert."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, dt.date, str], collections.Counter] = collections.defaultdict(collections.Counter)

    def add(self, dimension: str, day: dt.date, label: str, counter: str, amount: Any = 1) -> None:
        self.rows[(dimension, day, label)][counter] += amount

    async def apply(self, session: AsyncSession, who: Principal) -> None:
        if not self.rows:
            return
        # Sorted so that concurrent batches lock rows in the same order (no deadlocks).
        rows = [
            {"dimension": d, "day": day, "label": label, **{c: counts.get(c, 0) for c in COUNTERS}}
            for (d, day, label), counts in sorted(self.rows.items())
        ]
        columns = {"dimension": "text", "day": "date", "label": "text",
                   **{c: "numeric" if c in ("revenue", "commission") else "bigint" for c in COUNTERS}}
        updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTERS)
        await insert_records(
            session, who, "affiliate_daily_counts", columns, rows,
            conflict=f"ON CONFLICT (account_id, livemode, dimension, day, label) DO UPDATE SET {updates}",
            returning="1",
        )


async def _committed(session: AsyncSession, total: int, created: int, kind: str) -> IngestResult:
    return await commit_and_count(session, total, created, IngestCounter("affiliate", kind))


# --------------------------------------------------------------------------- catalogue


async def upsert_affiliates(session: AsyncSession, who: Principal, records: Sequence[pb.AffiliateRecord],
                            field: str = "affiliates") -> IngestResult:
    checker = _Checker(field, records)
    rows: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(records):
        key = checker.key(f"{field}[{i}].id", r.id)
        name = checker.text(f"{field}[{i}].name", r.name, 200, required=True)
        if key and name:
            rows[key] = {"id": key, "name": name}  # the last record of an id wins
    checker.raise_if_any()
    inserted = await insert_records(
        session, who, "affiliates", {"id": "text", "name": "text"}, list(rows.values()),
        conflict="ON CONFLICT (account_id, livemode, id) DO UPDATE SET name = EXCLUDED.name",
        returning="(xmax = 0) AS created",
    )
    return await _committed(session, len(records), sum(1 for r in inserted if r.created), "affiliates")


async def upsert_products(session: AsyncSession, who: Principal, records: Sequence[pb.ProductRecord],
                          field: str = "products") -> IngestResult:
    checker = _Checker(field, records)
    rows: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(records):
        key = checker.key(f"{field}[{i}].product_id", r.product_id)
        name = checker.text(f"{field}[{i}].name", r.name, 200, required=True)
        if key and name:
            rows[key] = {"product_id": key, "name": name}
    checker.raise_if_any()
    inserted = await insert_records(
        session, who, "affiliate_products", {"product_id": "text", "name": "text"}, list(rows.values()),
        conflict="ON CONFLICT (account_id, livemode, product_id) DO UPDATE SET name = EXCLUDED.name",
        returning="(xmax = 0) AS created",
    )
    return await _committed(session, len(records), sum(1 for r in inserted if r.created), "products")


async def create_tracking_codes(session: AsyncSession, who: Principal, records: Sequence[pb.TrackingCodeRecord],
                                field: str = "tracking_codes") -> IngestResult:
    checker = _Checker(field, records)
    rows, refs = [], []
    for i, r in enumerate(records):
        code = checker.key(f"{field}[{i}].code", r.code)
        affiliate = checker.key(f"{field}[{i}].affiliate_id", r.affiliate_id)
        if affiliate:
            refs.append((f"{field}[{i}].affiliate_id", affiliate))
        if code and affiliate:
            rows.append({"code": code, "affiliate_id": affiliate})
    checker.raise_if_any()
    known = await _existing(session, who, "affiliates", "id", {v for _, v in refs})
    _check_refs(checker, refs, known, "affiliate")
    checker.raise_if_any()
    inserted = await insert_records(
        session, who, "affiliate_tracking_codes", {"code": "text", "affiliate_id": "text"}, rows, returning="code"
    )
    return await _committed(session, len(records), len(inserted), "tracking_codes")


# --------------------------------------------------------------------------- tracking


EVENT_COLUMNS = {
    "event_id": "uuid", "event_type": "text", "occurred_at": "timestamptz", "tracking_code": "text",
    "session_id": "text", "page_url": "text", "referrer_url": "text", "product_id": "text", "device": "text",
    "browser": "text", "os": "text", "country": "text", "traffic_source": "text",
}


def _event_row(checker: _Checker, path: str, r: pb.EventRecord, now: dt.datetime,
               refs: list[tuple[Field, str]]) -> dict[str, Any] | None:
    event_id = None
    if not r.id:
        checker.fail(f"{path}.id", f"The {path}.id field is required.", "required")
    else:
        event_id = parse_uuid(r.id)
        if event_id is None:
            checker.fail(f"{path}.id", f"The {path}.id field must be a UUID.", "invalid_uuid")
    kind = r.type
    if kind not in EVENT_COUNTERS:
        checker.fail(f"{path}.type", f"The {path}.type field must be one of: {', '.join(EVENT_COUNTERS)}.",
                     "invalid_enum")
    occurred_at = checker.moment((path, "occurred_at"), r.occurred_at, now)
    code = checker.key((path, "tracking_code"), r.tracking_code, required=kind == "click")
    if code:
        refs.append(((path, "tracking_code"), code))
    session_id = checker.text((path, "session_id"), r.session_id, 128, required=kind == "pageview")
    page_url = checker.url((path, "page_url"), r.page_url, required=kind in ("click", "pageview"))
    referrer_url = checker.url((path, "referrer_url"), r.referrer_url, required=False)
    checker.text((path, "user_agent"), r.user_agent, 1024)
    country = None
    if r.country:
        if _COUNTRY.match(r.country):
            country = r.country.upper()
        else:
            checker.fail(f"{path}.country", f"The {path}.country field must be an ISO 3166-1 alpha-2 code.",
                         "invalid_country")
    for name in ("utm_source", "utm_medium", "utm_campaign"):
        checker.text((path, name), getattr(r, name), 200)
    product_id = checker.key((path, "product_id"), r.product_id, required=kind in PRODUCT_EVENTS)
    if event_id is None or occurred_at is None or kind not in EVENT_COUNTERS:
        return None
    agent = parse_user_agent(r.user_agent)
    return {
        "event_id": event_id, "event_type": kind, "occurred_at": occurred_at, "tracking_code": code,
        "session_id": session_id, "page_url": page_url, "referrer_url": referrer_url, "product_id": product_id,
        "device": agent.device, "browser": agent.browser, "os": agent.os, "country": country,
        "traffic_source": traffic_source(r.referrer_url, r.utm_source, r.utm_medium, r.page_url),
    }


async def record_events(session: AsyncSession, who: Principal, records: Sequence[pb.EventRecord],
                        field: str = "events", now: dt.datetime | None = None) -> IngestResult:
    now = now or dt.datetime.now(dt.timezone.utc)
    checker = _Checker(field, records)
    refs: list[tuple[Field, str]] = []
    rows = [_event_row(checker, f"{field}[{i}]", r, now, refs) for i, r in enumerate(records)]
    checker.raise_if_any()
    known = await _existing(session, who, "affiliate_tracking_codes", "code", {v for _, v in refs})
    _check_refs(checker, refs, known, "tracking code")
    checker.raise_if_any()
    inserted = {r.event_id for r in await insert_records(session, who, "affiliate_events", EVENT_COLUMNS, rows,
                                                         returning="event_id", claim=("event_id", "occurred_at"))}
    deltas = Deltas()
    sessions: set[tuple[dt.date, str]] = set()
    created = 0
    for row in rows:
        if row["event_id"] not in inserted:
            continue  # a retry: already counted
        inserted.discard(row["event_id"])  # the same id twice in one batch counts once
        created += 1
        day = row["occurred_at"].date()
        kind = row["event_type"]
        deltas.add("total", day, "", EVENT_COUNTERS[kind])
        if kind == "click":
            for dimension, label in (("device", row["device"]), ("browser", row["browser"]), ("os", row["os"]),
                                     ("country", row["country"] or UNKNOWN), ("source", row["traffic_source"]),
                                     ("page", row["page_url"]), ("code", row["tracking_code"])):
                deltas.add(dimension, day, label, "clicks")
        elif kind == "pageview":
            deltas.add("page", day, row["page_url"], "pageviews")
            sessions.add((day, row["session_id"]))
        elif kind == "product_view":
            deltas.add("product", day, row["product_id"], "product_views")
    if sessions:
        new_days = await insert_records(
            session, who, "affiliate_session_days", {"day": "date", "session_id": "text"},
            [{"day": d, "session_id": s} for d, s in sorted(sessions)], returning="day",
        )
        for (day,) in new_days:
            deltas.add("total", day, "", "visitors")
    await deltas.apply(session, who)
    return await _committed(session, len(records), created, "events")


async def _new_orders(session: AsyncSession, who: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose order is not stored yet, first of each order in the batch.

    The order id is a conversion's natural key, but the monthly partitions put the time in
    the table's unique key (docs/lifecycle.md), so the database alone would store an order
    re-sent with another `occurred_at` twice. The account-and-mode's conversion batches are
    serialised by a transaction-scoped advisory lock, and the orders already stored (any
    month) are left out before the insert."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('affiliate_conversions:' || :a || ':' || :l, 0))"),
        {"a": str(who.account_id), "l": str(who.livemode)},
    )
    stored = await _existing(session, who, "affiliate_conversions", "order_id", {r["order_id"] for r in rows})
    first = {}
    for row in rows:
        if row["order_id"] not in stored:
            first.setdefault(row["order_id"], row)
    return list(first.values())


async def record_conversions(session: AsyncSession, who: Principal, records: Sequence[pb.ConversionRecord],
                             field: str = "conversions", now: dt.datetime | None = None) -> IngestResult:
    now = now or dt.datetime.now(dt.timezone.utc)
    checker = _Checker(field, records)
    refs: list[tuple[Field, str]] = []
    rows = []
    for i, r in enumerate(records):
        path = f"{field}[{i}]"
        order_id = checker.text(f"{path}.order_id", r.order_id, 64, required=True)
        code = checker.key(f"{path}.tracking_code", r.tracking_code)
        if code:
            refs.append((f"{path}.tracking_code", code))
        total = checker.money(f"{path}.order_total", r.order_total)
        commission = checker.money(f"{path}.commission", r.commission)
        if not _CURRENCY.match(r.currency):
            checker.fail(f"{path}.currency", f"The {path}.currency field must be an ISO 4217 code such as USD.",
                         "invalid_currency")
        occurred_at = checker.moment(f"{path}.occurred_at", r.occurred_at, now)
        if len(r.product_ids) > MAX_PRODUCTS:
            checker.fail(f"{path}.product_ids", f"The {path}.product_ids field must hold at most {MAX_PRODUCTS} ids.",
                         "too_many")
        products = [p for j, p in enumerate(r.product_ids) if checker.key(f"{path}.product_ids[{j}]", p)]
        rows.append({
            "order_id": order_id, "tracking_code": code, "order_total": total, "commission": commission,
            "currency": r.currency, "occurred_at": occurred_at, "product_ids": list(dict.fromkeys(products)),
        })
    checker.raise_if_any()
    known = await _existing(session, who, "affiliate_tracking_codes", "code", {v for _, v in refs})
    _check_refs(checker, refs, known, "tracking code")
    checker.raise_if_any()
    columns = {"order_id": "text", "tracking_code": "text", "order_total": "numeric", "commission": "numeric",
               "currency": "text", "occurred_at": "timestamptz", "product_ids": "text[]"}
    inserted = {r.order_id for r in await insert_records(session, who, "affiliate_conversions", columns,
                                                         await _new_orders(session, who, rows), returning="order_id")}
    deltas = Deltas()
    created = 0
    recorded = []
    for row in rows:
        if row["order_id"] not in inserted:
            continue  # a retry: already counted
        inserted.discard(row["order_id"])
        created += 1
        recorded.append(row)
        day = row["occurred_at"].date()
        for dimension, label in (("total", ""), ("code", row["tracking_code"])):
            deltas.add(dimension, day, label, "conversions")
            deltas.add(dimension, day, label, "revenue", row["order_total"])
            deltas.add(dimension, day, label, "commission", row["commission"])
        for product in row["product_ids"]:
            deltas.add("product", day, product, "conversions")
    await deltas.apply(session, who)
    await webhooks.emit(session, who, [("affiliate.conversion.recorded", webhooks.conversion(row)) for row in recorded])
    return await _committed(session, len(records), created, "conversions")
