"""Parsing of documented query parameters that collects every violation into one error."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Callable, Iterable

from platform_core.errors import FieldViolation, invalid

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Dates outside these are refused (`out_of_range`): windows add and subtract days and
# time zones, which overflows Python's datetime at its limits (year 1, 9999).
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(9998, 12, 31)


class Params:
    """Collects violations while parsing; `check()` raises them all as one error: the
    platform's 400, or what the family's `raise_with` makes of them."""

    def __init__(self, raise_with: Callable[[list[FieldViolation]], Exception] = invalid) -> None:
        self.violations: list[FieldViolation] = []
        self._raise_with = raise_with

    def fail(self, field: str, message: str, code: str) -> None:
        self.violations.append(FieldViolation(field, message, code))

    def check(self) -> None:
        if self.violations:
            raise self._raise_with(self.violations)

    def boolean(self, field: str, raw: str | None, message: str) -> bool | None:
        if raw is None:
            return None
        if raw in ("true", "false"):  # exactly, as the served document's enum writes them
            return raw == "true"
        self.fail(field, message, "invalid_boolean")
        return None

    def integer(self, field: str, raw: str | None, default: int, low: int, high: int | None, message: str,
                malformed_code: str = "invalid_integer") -> int:
        if raw is None:
            return default
        # Digits only, without a sign, blanks or leading zeros: the served OpenAPI
        # document's patterns (tools/genopenapi.py) accept exactly these.
        if not re.fullmatch(r"0|[1-9][0-9]{0,8}", raw):
            self.fail(field, message, malformed_code)
            return default
        value = int(raw)
        if value < low or (high is not None and value > high):
            self.fail(field, message, "out_of_range")
            return default
        return value

    def choice(self, field: str, raw: str | None, choices: Iterable[str], default: str, message: str) -> str:
        if raw is None:
            return default
        if raw in choices:  # exactly: no case folding or blanks (the served document's enum)
            return raw
        self.fail(field, message, "invalid_enum")
        return default

    def date(self, field: str, raw: str | None, message: str, bounded: bool = True) -> dt.date | None:
        """A calendar date written exactly `YYYY-MM-DD`; `bounded`: between EARLIEST_DAY
        and LATEST_DAY."""
        if raw is None:
            return None
        try:  # exactly as sent: no blanks around it (the OpenAPI document's pattern)
            if _DATE.fullmatch(raw):
                day = dt.date.fromisoformat(raw)
                return self._in_range(field, day, message) if bounded else day
        except ValueError:
            pass
        self.fail(field, message, "invalid_date")
        return None

    def _in_range(self, field: str, day: dt.date, message: str) -> dt.date | None:
        if EARLIEST_DAY <= day <= LATEST_DAY:
            return day
        self.fail(field, message, "out_of_range")
        return None

    def moment(self, field: str, raw: str | None, message: str) -> tuple[dt.datetime, bool] | None:
        """An ISO 8601 date or date-time, as (UTC datetime, was it a bare date)."""
        # Only an empty value counts as absent (the document's `maxLength: 0` case): a
        # blank or a control character (`%0D`) is a malformed date, not a missing one.
        if raw is None or raw == "":
            return None
        text = raw
        try:
            if _DATE.fullmatch(text):
                day = self._in_range(field, dt.date.fromisoformat(text), message)
                return None if day is None else (dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc), True)
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(field, message, "invalid_date")
            return None
        # Checked before the conversion to UTC, which overflows at year 1 and 9999.
        if self._in_range(field, value.date(), message) is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc), False


def optional_field(request, name: str) -> str | None:
    """A request's optional string field: None when it is not set."""
    return getattr(request, name) if request.HasField(name) else None


# The partner documents' page parameters (instance and campaign families).
PAGE_MESSAGE = "Invalid page number (must be positive integer)"
LIMIT_MESSAGE = "Invalid limit value (must be 1-100)"


def partner_page(params: Params, raw_page: str | None, raw_limit: str | None, default_limit: int) -> tuple[int, int]:
    """`page` (from 1) and `limit` (1 to 100) in the partner documents' words."""
    page = params.integer("page", raw_page, 1, 1, None, PAGE_MESSAGE)
    limit = params.integer("limit", raw_limit, default_limit, 1, 100, LIMIT_MESSAGE)
    return page, limit


def is_uuid_text(value: str) -> bool:
    """Whether `value` is what parse_uuid accepts, without building the UUID (ingestion's
    hot path sends the text itself, which PostgreSQL parses to the same value)."""
    return _UUID.fullmatch(value) is not None


def parse_uuid(value: str) -> uuid.UUID | None:
    """A UUID written 8-4-4-4-12 (the served document's pattern), or None."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        return None
    return uuid.UUID(value)
