"""What every service's ingestion shares: field checks that collect every violation
with its path, the one-statement batch insert, and commit-then-acknowledge.

Writes are idempotent by the client's record id (`ON CONFLICT DO NOTHING`, first write
wins; in the partitioned raw tables, whose keys hold the time, the ids are claimed in
record_keys first, so that a resend at another time is a duplicate too); a call's
records are written in one transaction and acknowledged only after it commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core import context
from platform_core.accounts import Principal
from platform_core.errors import FieldViolation, InvalidArgument
from platform_core.metrics import IngestCounter
from platform_core.params import parse_uuid
from platform_core.record_keys import claiming_insert

MAX_BATCH = 5000
MAX_FUTURE = dt.timedelta(minutes=5)
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_DECIMAL = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,2})?\Z")


# google.protobuf.Timestamp's documented range (0001-01-01 .. 9999-12-31 UTC, nanos
# 0..999,999,999); the wire format carries any int64/int32, which datetime cannot hold.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799


def contains_nul(value: Any) -> bool:
    """Whether a string, or any key or string inside a JSON-like value, holds U+0000:
    PostgreSQL stores it in neither `text` nor `jsonb`, so it is refused as a field error."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_nul(v) for v in value)
    return False


def timestamp_value(message) -> dt.datetime | None:
    """A Timestamp as an aware datetime, or None when it lies outside the protobuf range."""
    if not MIN_SECONDS <= message.seconds <= MAX_SECONDS or not 0 <= message.nanos <= 999_999_999:
        return None
    return message.ToDatetime(tzinfo=dt.timezone.utc)


def micros_limit(now: dt.datetime) -> int:
    """Microseconds since the Unix epoch of the latest accepted record time (`now` plus
    MAX_FUTURE): `moment > now + MAX_FUTURE` exactly when its microseconds exceed this."""
    return (now + MAX_FUTURE - _EPOCH) // _MICROSECOND


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def timestamp_sql(seconds: str, micros: str) -> str:
    """SQL for the timestamptz of a Timestamp sent as whole seconds and microseconds (the
    nanoseconds rounded toward zero, as Timestamp.ToDatetime does); exact over the whole
    protobuf range: to_timestamp multiplies integral seconds by 10^6 exactly in float8."""
    return f"(to_timestamp({seconds}) + {micros} * interval '1 microsecond')"


class NotFinite(ValueError):
    """A Struct holds NaN or an infinity, which JSON (and so jsonb) cannot carry."""


def struct_dict(message) -> dict[str, Any]:
    """A google.protobuf.Struct as the dict json_format.MessageToDict gives (strings, floats,
    bools, None, nested dicts and lists), about 2x faster: no descriptor walk per value.
    Raises NotFinite where MessageToDict raises ValueError."""
    fields = message.fields
    # Iterating the keys and indexing is faster than upb's items().
    return {key: _value(fields[key]) for key in fields}


def _value(value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise NotFinite(number)
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_dict(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None  # null_value, or no kind set (MessageToDict gives None for both)


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int


class RecordChecker:
    """Collects field violations with their paths (`events[3].metadata.url`)."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    @classmethod
    def for_records(cls, records: Sequence[Any], field: str, single: bool) -> "RecordChecker":
        """A checker for one call; a batch must hold 1 to MAX_BATCH records."""
        checker = cls()
        if not single:
            check_batch_size(checker, field, records)
        return checker

    def fail(self, field: str, message: str, code: str = "invalid_value") -> None:
        self.violations.append(FieldViolation(field, message, code))

    def uuid(self, field: str, value: str) -> uuid.UUID | None:
        if not value:
            self.fail(field, f"{field} is required", "required")
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            self.fail(field, f"{field} must be a UUID", "invalid_uuid")
        return parsed

    def reference(self, field: str, value: str, refs: list[tuple[str, uuid.UUID]]) -> uuid.UUID | None:
        """A UUID naming an instance, remembered so that its existence is checked in one query."""
        parsed = self.uuid(field, value)
        if parsed is not None:
            refs.append((field, parsed))
        return parsed

    def moment(self, field: str, message, required: bool = True, now: dt.datetime | None = None) -> dt.datetime | None:
        if not message.seconds and not message.nanos:
            if required:
                self.fail(field, f"{field} is required", "required")
            return None
        moment = timestamp_value(message)
        if moment is None:
            self.fail(field, f"{field} must be a timestamp between 0001-01-01 and 9999-12-31", "out_of_range")
        elif now is not None and moment > now + MAX_FUTURE:
            self.fail(field, f"{field} must not be in the future", "out_of_range")
        return moment

    def text(self, field: str, value: str, max_len: int, required: bool = True) -> str:
        if required and not value:
            self.fail(field, f"{field} is required", "required")
        elif len(value) > max_len:
            self.fail(field, f"{field} must be at most {max_len} characters", "too_long")
        elif contains_nul(value):
            self.fail(field, f"{field} must not contain NUL characters", "invalid_value")
        return value

    def money(self, field: str, value: str, required: bool = True, default: str | None = None) -> decimal.Decimal | None:
        if not value:
            if default is not None:
                return decimal.Decimal(default)
            if required:
                self.fail(field, f"{field} is required", "required")
            return None
        if not _DECIMAL.match(value):
            self.fail(field, f"{field} must be a decimal amount with at most 2 decimals", "invalid_decimal")
            return None
        amount = decimal.Decimal(value)
        if amount < 0:
            self.fail(field, f"{field} must not be negative", "out_of_range")
        return amount

    def currency(self, field: str, value: str) -> str:
        if not _CURRENCY.match(value):
            self.fail(field, f"{field} must be an ISO 4217 code such as USD", "invalid_currency")
        return value

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(
                message=f"Validation failed for {len(self.violations)} fields", violations=self.violations
            )


def json_value(value: Any) -> str:
    """JSON for the values json.dumps does not know; PostgreSQL parses them back exactly."""
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to PostgreSQL as JSON")


async def insert_batch(
    session: AsyncSession, who: Principal, table: str, columns: dict[str, tuple[str, str]], rows: dict[str, list[Any]],
    *, returning: str | None = "id", idempotent: bool = True, claim: tuple[str, str] | None = None,
) -> list[Any]:
    """`insert_records` for rows given column by column: `columns` maps each table column
    to (the key of its values in `rows`, its SQL type)."""
    names = list(columns)
    records = [
        dict(zip(names, values, strict=True))
        for values in zip(*(rows[key] for key, _ in columns.values()), strict=True)
    ]
    return await insert_records(
        session, who, table, {name: sql_type for name, (_, sql_type) in columns.items()}, records,
        conflict="ON CONFLICT DO NOTHING" if idempotent else None, returning=returning, claim=claim,
    )


async def insert_records(
    session: AsyncSession, who: Principal, table: str, columns: dict[str, str], records: list[dict[str, Any]],
    *, conflict: str | None = "ON CONFLICT DO NOTHING", returning: str | None = "id",
    claim: tuple[str, str] | None = None,
) -> list[Any]:
    """One `INSERT ... SELECT FROM jsonb_to_recordset(batch)` statement for a whole batch.

    `columns` maps each table column to its SQL type; the table is `t` in `conflict` (for
    example `ON CONFLICT (...) DO UPDATE SET n = t.n + EXCLUDED.n`). `claim` = (id column,
    time column) for a partitioned table, whose key holds the time: the ids are claimed in
    record_keys first, so a resend at another time is a duplicate. The batch travels as
    one JSON parameter: the driver serialises it with the C JSON encoder, where one typed
    array per column cost about 40% of ingestion's CPU (bench: ~20% more rows/s from one
    client).
    """
    names = list(columns)
    record = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
    if claim is not None:
        # A partitioned table: its ids are claimed in record_keys (platform_core/record_keys.py).
        statement = claiming_insert(table, names, record, *claim, returning=returning or "1", alias=" AS t")
    else:
        statement = (
            f"INSERT INTO {table} AS t (account_id, livemode, {', '.join(names)}) "
            f"SELECT :a, :l, {', '.join(names)} FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS r({record})"
            + (f" {conflict}" if conflict else "")
            + (f" RETURNING {returning}" if returning else "")
        )
    batch = json.dumps(records, default=json_value, separators=(",", ":"))
    result = await session.execute(text(statement), {"a": who.account_id, "l": who.livemode, "batch": batch})
    return result.all() if returning or claim is not None else []


async def commit_and_acknowledge(
    session: AsyncSession, records: Sequence[Any], inserted: list[Any], counter: IngestCounter
) -> IngestResult:
    """Commits the call's transaction; only then is the write acknowledged (and counted)."""
    return await commit_and_count(session, len(records), len(inserted), counter)


async def commit_and_count(session: AsyncSession, total: int, created: int, counter: IngestCounter) -> IngestResult:
    """Commits the call's transaction; only then are its `created` of `total` records
    acknowledged (and counted), the rest as duplicates."""
    await session.commit()
    result = IngestResult(created=created, duplicates=total - created)
    counter.committed(result.created, result.duplicates)
    return result


def check_batch_size(checker: RecordChecker, field: str, records: Sequence[Any]) -> None:
    if not records:
        checker.fail(field, f"{field} must hold at least one record", "required")
    elif len(records) > MAX_BATCH:
        checker.fail(field, f"{field} must hold at most {MAX_BATCH} records", "too_many")
    checker.raise_if_any()


def field_path(field: str, index: int | None) -> str:
    return field if index is None else f"{field}[{index}]"


def record_paths(records: Sequence[Any], field: str, single: bool) -> Iterator[tuple[str, Any]]:
    """Each record with its path in violations: `field` for a single record,
    `field[i]` in a batch."""
    for i, record in enumerate(records):
        yield field_path(field, None if single else i), record


# ---------------------------------------------------------------------------------------
# The ingestion servicers' shared part: one session a call, the caller's principal, and
# the family's reply message built from the result.


class IngestionServicer:
    """Mixed in before a generated `...IngestionServiceServicer`: `reply` (a staticmethod)
    builds the RPC's own response message (one per RPC: buf lint's
    RPC_REQUEST_RESPONSE_UNIQUE) from a result; the RPCs are `ingest_rpc(...)` and
    `ingest_rpcs(...)` class attributes."""

    reply: Callable[[Any, IngestResult], Any]

    def __init__(self, deps) -> None:
        self._sessions = deps.sessions

    async def _run(self, response, command, records: Sequence[Any], *args: Any) -> Any:
        async with self._sessions() as session:
            return self.reply(response, await command(session, context.principal(), records, *args))


def ingest_rpc(command, field: str, response, single: bool = False):
    """An RPC writing the request's `field`: one record (`single`, and the command is told
    so) or a batch, answered with `response` (the RPC's message type). The field's name is
    also the path named in violations."""

    async def rpc(self: IngestionServicer, request, _context) -> Any:
        if single:
            return await self._run(response, command, [getattr(request, field)], field, True)
        return await self._run(response, command, getattr(request, field), field)

    return rpc


def ingest_rpcs(command, single_field: str, batch_field: str, responses: tuple[Any, Any]):
    """The `CreateX` and `BatchCreateX` pair of one command, with their response types."""
    single, batch = responses
    return ingest_rpc(command, single_field, single, single=True), ingest_rpc(command, batch_field, batch)


def counted(response, result: IngestResult) -> Any:
    """A response message holding the counts itself (`created_count`, `duplicate_count`)."""
    return response(created_count=result.created, duplicate_count=result.duplicates)
