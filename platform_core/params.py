"""Parsing of documented query parameters that collects every violation into one error."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Iterable

from platform_core.errors import FieldViolation, invalid

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Params:
    """Collects violations while parsing; `check()` raises them all as one 400."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, message: str, code: str) -> None:
        self.violations.append(FieldViolation(field, message, code))

    def check(self) -> None:
        if self.violations:
            raise invalid(self.violations)

    def boolean(self, field: str, raw: str | None, message: str) -> bool | None:
        if raw is None:
            return None
        value = raw.strip().lower()
        if value in ("true", "false"):
            return value == "true"
        self.fail(field, message, "invalid_boolean")
        return None

    def integer(self, field: str, raw: str | None, default: int, low: int, high: int | None, message: str) -> int:
        if raw is None:
            return default
        text = raw.strip()
        if not re.fullmatch(r"[+]?\d{1,9}", text):
            self.fail(field, message, "invalid_integer")
            return default
        value = int(text)
        if value < low or (high is not None and value > high):
            self.fail(field, message, "out_of_range")
            return default
        return value

    def choice(self, field: str, raw: str | None, choices: Iterable[str], default: str, message: str) -> str:
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in choices:
            return value
        self.fail(field, message, "invalid_enum")
        return default

    def date(self, field: str, raw: str | None, message: str) -> dt.date | None:
        """A calendar date written exactly `YYYY-MM-DD`."""
        if raw is None:
            return None
        text = raw.strip()
        try:
            if _DATE.match(text):
                return dt.date.fromisoformat(text)
        except ValueError:
            pass
        self.fail(field, message, "invalid_date")
        return None

    def moment(self, field: str, raw: str | None, message: str) -> tuple[dt.datetime, bool] | None:
        """An ISO 8601 date or date-time, as (UTC datetime, was it a bare date)."""
        if raw is None or raw.strip() == "":
            return None
        text = raw.strip()
        try:
            if _DATE.match(text):
                day = dt.date.fromisoformat(text)
                return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc), True
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(field, message, "invalid_date")
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc), False


def parse_uuid(value: str) -> uuid.UUID | None:
    """A canonical UUID string (with hyphens), or None."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
