"""Ingestion commands of the voucher domain: validate records, then write a batch in one
transaction, acknowledged only after `COMMIT`.

Writes are idempotent by the client's record id (`ON CONFLICT DO NOTHING`, the first
write wins), and the per-day totals (`voucher_daily`) change in the same transaction as
the rows they sum. References (a redemption's voucher and customer) must exist in the caller's
account and mode; another account's are reported like missing ones. The batch writer and
the field checker are the instance domain's (`services.instance.ingest`): one
implementation of the platform's ingestion rules.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from typing import Any, Sequence

from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.accounts import Principal
from platform_core.ingest import IngestResult, RecordChecker, commit_and_acknowledge, insert_batch, record_paths
from platform_core.metrics import IngestCounter
from services.webhooks import outbox as webhooks

VOUCHER_ID = re.compile(r"^v_[0-9a-f]{16}\Z")
MAX_AMOUNT = 10**15  # minor units; far above any order, far below bigint
# partnerlytics_ingested_records_total, per record kind.
VOUCHERS, CUSTOMERS, VALIDATIONS, REDEMPTIONS = (
    IngestCounter("voucher", kind) for kind in ("vouchers", "customers", "validations", "redemptions")
)

__all__ = ["IngestResult", "create_vouchers", "create_customers", "create_validations", "create_redemptions"]


def _client_id(checker: RecordChecker, field: str, value: str) -> str:
    return checker.text(field, value, 64)


def _voucher_id(checker: RecordChecker, field: str, value: str) -> str:
    if not VOUCHER_ID.match(value):
        checker.fail(field, f"{field} must be v_ followed by 16 lower-case hex digits", "invalid_id")
    return value


def _amount(checker: RecordChecker, field: str, value: int) -> int:
    if not 0 <= value <= MAX_AMOUNT:
        checker.fail(field, f"{field} must be between 0 and {MAX_AMOUNT} minor units", "out_of_range")
    return value


async def _check_refs(
    session: AsyncSession, who: Principal, checker: RecordChecker, table: str, what: str, refs: list[tuple[str, str]]
) -> None:
    """Every referenced row must exist for the caller's account and mode."""
    if not refs:
        return
    rows = await session.execute(
        text(f"SELECT id FROM {table} WHERE account_id = :a AND livemode = :l AND id = ANY(CAST(:ids AS text[]))"),
        {"a": who.account_id, "l": who.livemode, "ids": sorted({ref for _, ref in refs})},
    )
    known = {row.id for row in rows}
    for field, ref in refs:
        if ref not in known:
            checker.fail(field, f"{field} does not name a recorded {what}", "not_found")


async def _add_daily(session: AsyncSession, who: Principal, deltas: dict[tuple[str, dt.date], list[int]]) -> None:
    """Adds (uses, discount, gross, validations) per voucher-day; keys sorted so that
    concurrent batches lock rows in one order."""
    items = sorted(deltas.items())
    if not items:
        return
    columns = list(zip(*(values for _, values in items), strict=True))
    await session.execute(
        text(
            "INSERT INTO voucher_daily (account_id, livemode, voucher_id, day, uses, discount, gross, validations) "
            "SELECT :a, :l, v, d, u, di, g, va FROM unnest(CAST(:vouchers AS text[]), CAST(:days AS date[]), "
            "CAST(:uses AS bigint[]), CAST(:discounts AS bigint[]), CAST(:gross AS bigint[]), "
            "CAST(:validations AS bigint[])) AS t(v, d, u, di, g, va) "
            "ON CONFLICT (account_id, livemode, voucher_id, day) DO UPDATE SET "
            "uses = voucher_daily.uses + EXCLUDED.uses, discount = voucher_daily.discount + EXCLUDED.discount, "
            "gross = voucher_daily.gross + EXCLUDED.gross, "
            "validations = voucher_daily.validations + EXCLUDED.validations"
        ),
        {"a": who.account_id, "l": who.livemode, "vouchers": [k[0] for k, _ in items], "days": [k[1] for k, _ in items],
         "uses": list(columns[0]), "discounts": list(columns[1]), "gross": list(columns[2]),
         "validations": list(columns[3])},
    )


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.timezone.utc).date()


async def create_vouchers(
    session: AsyncSession, who: Principal, records: Sequence[pb.VoucherRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    for at, record in record_paths(records, field, single):
        rows["ids"].append(_voucher_id(checker, f"{at}.id", record.id))
        rows["codes"].append(checker.text(f"{at}.code", record.code, 64))
        rows["currencies"].append(checker.currency(f"{at}.currency", record.currency or "USD"))
        rows["created"].append(checker.moment(f"{at}.created_at", record.created_at, now=now))
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "vouchers",
        {"id": ("ids", "text"), "code": ("codes", "text"), "currency": ("currencies", "text"),
         "created_at": ("created", "timestamptz")},
        rows,
    )
    return await commit_and_acknowledge(session, records, inserted, VOUCHERS)


async def create_customers(
    session: AsyncSession, who: Principal, records: Sequence[pb.CustomerRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    for at, record in record_paths(records, field, single):
        rows["ids"].append(_client_id(checker, f"{at}.id", record.id))
        rows["segments"].append(checker.text(f"{at}.segment", record.segment, 64))
        rows["regions"].append(checker.text(f"{at}.region", record.region, 64))
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "voucher_customers",
        {"id": ("ids", "text"), "segment": ("segments", "text"), "region": ("regions", "text")},
        rows,
    )
    return await commit_and_acknowledge(session, records, inserted, CUSTOMERS)


async def create_validations(
    session: AsyncSession, who: Principal, records: Sequence[pb.ValidationRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    vouchers: list[tuple[str, str]] = []
    customers: list[tuple[str, str]] = []
    for at, record in record_paths(records, field, single):
        rows["ids"].append(_client_id(checker, f"{at}.id", record.id))
        voucher = _voucher_id(checker, f"{at}.voucher_id", record.voucher_id)
        vouchers.append((f"{at}.voucher_id", voucher))
        rows["vouchers"].append(voucher)
        customer = checker.text(f"{at}.customer_id", record.customer_id, 64, required=False) or None
        if customer is not None:
            customers.append((f"{at}.customer_id", customer))
        rows["customers"].append(customer)
        rows["amounts"].append(_amount(checker, f"{at}.order_amount", record.order_amount))
        rows["validated"].append(checker.moment(f"{at}.validated_at", record.validated_at, now=now))
    checker.raise_if_any()
    await _check_refs(session, who, checker, "vouchers", "voucher", vouchers)
    await _check_refs(session, who, checker, "voucher_customers", "customer", customers)
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "voucher_validations",
        {"id": ("ids", "text"), "voucher_id": ("vouchers", "text"), "customer_id": ("customers", "text"),
         "order_amount": ("amounts", "bigint"), "validated_at": ("validated", "timestamptz")},
        rows,
        returning="voucher_id, validated_at", claim=("id", "validated_at"),
    )
    deltas: dict[tuple[str, dt.date], list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    for row in inserted:  # only what this call wrote: a retry adds nothing
        deltas[(row.voucher_id, _day(row.validated_at))][3] += 1
    await _add_daily(session, who, deltas)
    return await commit_and_acknowledge(session, records, inserted, VALIDATIONS)


async def create_redemptions(
    session: AsyncSession, who: Principal, records: Sequence[pb.RedemptionRecord], field: str, single: bool = False
) -> IngestResult:
    checker = RecordChecker.for_records(records, field, single)
    now = dt.datetime.now(dt.timezone.utc)
    rows: dict[str, list[Any]] = collections.defaultdict(list)
    vouchers: list[tuple[str, str]] = []
    customers: list[tuple[str, str]] = []
    for at, record in record_paths(records, field, single):
        rows["ids"].append(_client_id(checker, f"{at}.id", record.id))
        voucher = _voucher_id(checker, f"{at}.voucher_id", record.voucher_id)
        vouchers.append((f"{at}.voucher_id", voucher))
        rows["vouchers"].append(voucher)
        customer = checker.text(f"{at}.customer_id", record.customer_id, 64)
        customers.append((f"{at}.customer_id", customer))
        rows["customers"].append(customer)
        total = _amount(checker, f"{at}.order_total", record.order_total)
        discount = _amount(checker, f"{at}.discount", record.discount)
        if 0 <= total < discount:
            checker.fail(f"{at}.discount", "discount must not exceed order_total", "out_of_range")
        rows["totals"].append(total)
        rows["discounts"].append(discount)
        rows["redeemed"].append(checker.moment(f"{at}.redeemed_at", record.redeemed_at, now=now))
    checker.raise_if_any()
    await _check_refs(session, who, checker, "vouchers", "voucher", vouchers)
    await _check_refs(session, who, checker, "voucher_customers", "customer", customers)
    checker.raise_if_any()
    inserted = await insert_batch(
        session, who, "voucher_redemptions",
        {"id": ("ids", "text"), "voucher_id": ("vouchers", "text"), "customer_id": ("customers", "text"),
         "order_total": ("totals", "bigint"), "discount": ("discounts", "bigint"),
         "redeemed_at": ("redeemed", "timestamptz")},
        rows,
        returning="id, voucher_id, customer_id, redeemed_at, order_total, discount", claim=("id", "redeemed_at"),
    )
    deltas: dict[tuple[str, dt.date], list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    for row in inserted:
        totals = deltas[(row.voucher_id, _day(row.redeemed_at))]
        totals[0] += 1
        totals[1] += row.discount
        totals[2] += row.order_total
    await _add_daily(session, who, deltas)
    await webhooks.emit(session, who, [("voucher.redeemed", webhooks.redemption(row)) for row in inserted])
    return await commit_and_acknowledge(session, records, inserted, REDEMPTIONS)
