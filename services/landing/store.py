"""Writing events: the raw rows and, in the same statement, the daily rollups the
dashboards read (distinct visitors and events per type of each local day).

A visitor is new for a day when its `(tenant, day, hash)` row is inserted (not found);
concurrent transactions that insert the same row wait for each other, so each visitor
counts once. Keys are sorted so that concurrent batches (several replicas) lock rows in
one order and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from partnerlytics.landing.v1 import landing_analytics_pb2 as pb
from platform_core.distribution import CROSS_ACCOUNT

# The EventType numbers -> the rollup's column, the event type's name.
COLUMNS: dict[int, str] = {
    number: name.removeprefix("EVENT_TYPE_").lower()
    for name, number in pb.EventType.items()
    if number != pb.EVENT_TYPE_UNSPECIFIED
}


@dataclass(frozen=True)
class EventRow:
    tenant_id: int
    time_zone: str  # the tenant's: which local day the event belongs to
    occurred_at: dt.datetime
    event_type: int
    visitor_hash: str
    duration_ms: int | None
    user_agent: str
    referrer: str
    metadata: dict[str, Any] | None

    def day(self) -> dt.date:
        return self.occurred_at.astimezone(ZoneInfo(self.time_zone)).date()


# Every row carries its tenant's account first in its key (docs/scaling.md); the rows name
# the tenant only, so the statement takes the account from landing_tenants (a key lookup
# per event of the batch). A row of an unknown tenant gets no account and fails the
# statement (NOT NULL), as the foreign key on the tenant would.
#
# One statement for the whole batch (one round trip; in autocommit its own transaction):
# `x` is the batch with its accounts (materialized once, it is read three times), the
# events and the day's new visitors are inserted by data-modifying CTEs, and the main
# INSERT adds each (tenant, day)'s counts and new visitors (the `RETURNING` of the visitors'
# insert) to landing_daily_stats. Visitor rows and stat rows are inserted in key order, so
# that concurrent batches (several replicas) lock them in one order and cannot deadlock;
# the aggregate over the visitors' insert ends before the first stat row is written.
_STAT_COLUMNS = ["visitors", *COLUMNS.values(), "duration_ms"]
_STORE = text(
    "WITH x AS (SELECT tenant.account_id, x.* FROM unnest("
    "CAST(:t AS bigint[]), CAST(:o AS timestamptz[]), CAST(:e AS smallint[]), CAST(:h AS text[]), "
    "CAST(:d AS integer[]), CAST(:u AS text[]), CAST(:r AS text[]), CAST(:m AS text[]), CAST(:day AS date[])) "
    "AS x(t, o, e, h, d, u, r, m, day) LEFT JOIN landing_tenants tenant ON tenant.id = x.t), "
    "events AS (INSERT INTO landing_events "
    "(account_id, tenant_id, occurred_at, event_type, visitor_hash, duration_ms, user_agent, referrer, metadata) "
    "SELECT account_id, t, o, e, h, d, u, r, CAST(m AS jsonb) FROM x), "
    "visitors AS (INSERT INTO landing_daily_visitors (account_id, tenant_id, day, visitor_hash) "
    "SELECT DISTINCT account_id, t, day, h FROM x ORDER BY t, day, h ON CONFLICT DO NOTHING RETURNING tenant_id, day), "
    "new_visitors AS (SELECT tenant_id, day, count(*) AS n FROM visitors GROUP BY tenant_id, day) "
    f"INSERT INTO landing_daily_stats AS s (account_id, tenant_id, day, {', '.join(_STAT_COLUMNS)}) "
    "SELECT x.account_id, x.t, x.day, COALESCE(max(v.n), 0), "
    + "".join(f"count(*) FILTER (WHERE x.e = {number}), " for number in COLUMNS)
    + "COALESCE(sum(x.d), 0) FROM x LEFT JOIN new_visitors v ON v.tenant_id = x.t AND v.day = x.day "
    "GROUP BY x.account_id, x.t, x.day ORDER BY x.t, x.day "
    "ON CONFLICT (account_id, tenant_id, day) DO UPDATE SET "
    + ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in _STAT_COLUMNS)
)


def store_statement(rows: list[EventRow]) -> tuple[TextClause, dict[str, list[Any]]]:
    """The one statement that inserts the events and adds them to the daily rollups, with
    its parameters (a column per array)."""
    return _STORE, {
        "t": [r.tenant_id for r in rows],
        "o": [r.occurred_at for r in rows],
        "e": [r.event_type for r in rows],
        "h": [r.visitor_hash for r in rows],
        "d": [r.duration_ms for r in rows],
        "u": [r.user_agent for r in rows],
        "r": [r.referrer for r in rows],
        "m": [None if r.metadata is None else json.dumps(r.metadata) for r in rows],
        "day": [r.day() for r in rows],
    }


async def store_events(conn: AsyncConnection, rows: list[EventRow]) -> None:
    """Inserts the events and adds them to the daily rollups (the caller commits)."""
    if rows:
        await conn.execute(*store_statement(rows))


# Every event is stamped with the time it arrives, so only days around today can still
# gain visitors: a zone's date is at most one day from UTC's. Older rows of
# landing_daily_visitors are never read again (their counts are in landing_daily_stats).
_PRUNE = text("DELETE FROM landing_daily_visitors WHERE day < :before")


async def prune_daily_visitors(conn: AsyncConnection, now: dt.datetime) -> int:
    """Deletes the visitor rows of days that can no longer receive events; returns how many."""
    before = now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=2)
    await conn.execute(text(CROSS_ACCOUNT))
    return (await conn.execute(_PRUNE, {"before": before})).rowcount
