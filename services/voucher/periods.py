"""Analysis periods of the voucher family: whole UTC days, at most 90 of them.

The document's echo (`2024-03-01T00:00:00Z` .. `2024-03-20T23:59:59Z`) and its daily
trends and exports make a period a run of whole days: a date-time bound counts by its
UTC date. Without bounds the period is the last 30 days, today included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from platform_core.params import Params
from services.voucher.errors import MAX_DAYS, invalid_time_period

DEFAULT_DAYS = 30
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    first_day: dt.date
    last_day: dt.date  # inclusive

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first_day, dt.time(), dt.timezone.utc)

    @property
    def end(self) -> dt.datetime:
        """The exclusive end: midnight after the last day."""
        return dt.datetime.combine(self.last_day + DAY, dt.time(), dt.timezone.utc)

    @property
    def last_second(self) -> dt.datetime:
        return self.end - dt.timedelta(seconds=1)

    def previous(self) -> "Period":
        """The equal-length period just before this one."""
        return Period(self.first_day - dt.timedelta(days=self.days), self.first_day - DAY)

    def each_day(self):
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += DAY


def parse_period(
    params: Params, start_raw: str | None, end_raw: str | None, today: dt.date, start_name: str, end_name: str
) -> Period | None:
    """Adds violations for malformed bounds; returns None when one is malformed.

    Raises INVALID_TIME_PERIOD (after the caller's other checks) through `check_length`.
    """
    start = params.moment(start_name, start_raw, f"Invalid {start_name} (must be an ISO 8601 date or date-time)")
    end = params.moment(end_name, end_raw, f"Invalid {end_name} (must be an ISO 8601 date or date-time)")
    if (start_raw or "").strip() and start is None or (end_raw or "").strip() and end is None:
        return None
    last_day = end[0].date() if end else today
    first_day = start[0].date() if start else last_day - dt.timedelta(days=DEFAULT_DAYS - 1)
    if last_day < first_day:
        params.fail(end_name, f"{end_name} must not be before {start_name}", "invalid_range")
        return None
    return Period(first_day, last_day)


def check_length(period: Period) -> None:
    if period.days > MAX_DAYS:
        raise invalid_time_period(period.days)
