"""Page/limit pagination and time windows, as the partner documents define them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from partnerlytics.partner.v1 import envelope_pb2

HOUR = dt.timedelta(hours=1)


# No window could fill a page this deep: a deeper page number is served as this one, so
# that the offset cannot overflow.
MAX_OFFSET = 2_000_000_000


def capped_page(page: int, per_page: int) -> int:
    """The page number, lowered so that its offset stays below MAX_OFFSET."""
    return min(page, MAX_OFFSET // per_page)


@dataclass(frozen=True)
class PageRequest:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def pagination(request: PageRequest, total: int) -> envelope_pb2.Pagination:
    total_pages = -(-total // request.limit) if total else 0
    return envelope_pb2.Pagination(
        page=request.page,
        limit=request.limit,
        total=total,
        totalPages=total_pages,
        hasNext=request.page < total_pages,
        hasPrevious=request.page > 1,
    )


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) in UTC."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def trailing(cls, now: dt.datetime, length: dt.timedelta) -> "Window":
        return cls(now - length, now)

    @classmethod
    def from_bounds(cls, start: tuple[dt.datetime, bool], end: tuple[dt.datetime, bool]) -> "Window":
        """`start`/`end` as parsed by Params.moment; a bare end date covers its whole day."""
        end_at, end_is_date = end
        return cls(start[0], end_at + dt.timedelta(days=1) if end_is_date else end_at)

    def full_hours(self) -> tuple[dt.datetime, dt.datetime]:
        """The hour-aligned middle [first, last) of the window; first >= last when none."""
        first = floor_hour(self.start)
        if first < self.start:
            first += HOUR
        return first, floor_hour(self.end)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def timestamp_of(moment: dt.datetime) -> Timestamp:
    """A protobuf Timestamp of an aware datetime (any zone), exact to the microsecond.

    Integer arithmetic on the difference from the epoch: a fifth of the CPU of
    `Timestamp.FromDatetime` (which converts zones and calls calendar.timegm), and this
    runs for every row of every list."""
    delta = moment - _EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def timestamp_fields(moment: dt.datetime) -> dict[str, int]:
    """The fields of `timestamp_of(moment)` as a dict, for a Timestamp field set in a
    message's constructor: protobuf fills the field from the dict itself, about half the
    cost of building a Timestamp object and copying it in (per row of the lists)."""
    delta = moment - _EPOCH
    return {"seconds": delta.days * 86400 + delta.seconds, "nanos": delta.microseconds * 1000}


def timestamp_fields_us(micros: int) -> dict[str, int]:
    """`timestamp_fields` of a moment given as epoch microseconds (what a statement
    returns as `CAST(extract(epoch FROM t) * 1000000 AS bigint)`): no `datetime` at all."""
    return {"seconds": micros // 1_000_000, "nanos": micros % 1_000_000 * 1000}


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
