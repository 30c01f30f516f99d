"""Writing events: the raw rows and, in the same transaction, the daily rollups the
dashboards read (distinct visitors and events per type of each local day).

A visitor is new for a day when its `(tenant, day, hash)` row is inserted (not found);
concurrent transactions that insert the same row wait for each other, so each visitor
counts once. Keys are sorted so that concurrent batches (several replicas) lock rows in
one order and cannot deadlock.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
# the tenant only, so each statement takes the account from landing_tenants (a key lookup
# per tenant of the batch). A row of an unknown tenant gets no account and fails the
# transaction (NOT NULL), as the foreign key on the tenant would.
_OF_TENANT = "LEFT JOIN landing_tenants tenant ON tenant.id = x.t"

_EVENTS = text(
    "INSERT INTO landing_events "
    "(account_id, tenant_id, occurred_at, event_type, visitor_hash, duration_ms, user_agent, referrer, metadata) "
    "SELECT tenant.account_id, t, o, e, h, d, u, r, CAST(m AS jsonb) FROM unnest("
    "CAST(:t AS bigint[]), CAST(:o AS timestamptz[]), CAST(:e AS smallint[]), CAST(:h AS text[]), "
    "CAST(:d AS integer[]), CAST(:u AS text[]), CAST(:r AS text[]), CAST(:m AS text[])) AS x(t, o, e, h, d, u, r, m) "
    + _OF_TENANT
)

_VISITORS = text(
    "INSERT INTO landing_daily_visitors (account_id, tenant_id, day, visitor_hash) "
    "SELECT tenant.account_id, x.* FROM unnest(CAST(:t AS bigint[]), CAST(:d AS date[]), CAST(:h AS text[])) "
    f"AS x(t, d, h) {_OF_TENANT} ON CONFLICT DO NOTHING RETURNING tenant_id, day"
)

_STAT_COLUMNS = ["visitors", *COLUMNS.values(), "duration_ms"]
_STATS = text(
    f"INSERT INTO landing_daily_stats AS s (account_id, tenant_id, day, {', '.join(_STAT_COLUMNS)}) "
    f"SELECT tenant.account_id, x.* FROM unnest(CAST(:tenant AS bigint[]), CAST(:day AS date[]), "
    + ", ".join(f"CAST(:{c} AS bigint[])" for c in _STAT_COLUMNS)
    + f") AS x(t, day, {', '.join(_STAT_COLUMNS)}) {_OF_TENANT} "
    + "ON CONFLICT (account_id, tenant_id, day) DO UPDATE SET "
    + ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in _STAT_COLUMNS)
)


async def store_events(conn: AsyncConnection, rows: list[EventRow]) -> None:
    """Inserts the events and adds them to the daily rollups (the caller commits)."""
    if not rows:
        return
    days = [row.day() for row in rows]
    await conn.execute(
        _EVENTS,
        {
            "t": [r.tenant_id for r in rows],
            "o": [r.occurred_at for r in rows],
            "e": [r.event_type for r in rows],
            "h": [r.visitor_hash for r in rows],
            "d": [r.duration_ms for r in rows],
            "u": [r.user_agent for r in rows],
            "r": [r.referrer for r in rows],
            "m": [None if r.metadata is None else json.dumps(r.metadata) for r in rows],
        },
    )
    visitors = sorted({(r.tenant_id, day, r.visitor_hash) for r, day in zip(rows, days)})
    new = (
        await conn.execute(
            _VISITORS,
            {"t": [v[0] for v in visitors], "d": [v[1] for v in visitors], "h": [v[2] for v in visitors]},
        )
    ).all()
    stats: dict[tuple[int, dt.date], collections.Counter] = collections.defaultdict(collections.Counter)
    for row, day in zip(rows, days):
        figures = stats[(row.tenant_id, day)]
        figures[COLUMNS[row.event_type]] += 1
        figures["duration_ms"] += row.duration_ms or 0
    for tenant_id, day in new:
        stats[(tenant_id, day)]["visitors"] += 1
    keys = sorted(stats)
    await conn.execute(
        _STATS,
        {
            "tenant": [k[0] for k in keys],
            "day": [k[1] for k in keys],
            **{c: [stats[k][c] for k in keys] for c in _STAT_COLUMNS},
        },
    )


# Every event is stamped with the time it arrives, so only days around today can still
# gain visitors: a zone's date is at most one day from UTC's. Older rows of
# landing_daily_visitors are never read again (their counts are in landing_daily_stats).
_PRUNE = text("DELETE FROM landing_daily_visitors WHERE day < :before")


async def prune_daily_visitors(conn: AsyncConnection, now: dt.datetime) -> int:
    """Deletes the visitor rows of days that can no longer receive events; returns how many."""
    before = now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=2)
    await conn.execute(text(CROSS_ACCOUNT))
    return (await conn.execute(_PRUNE, {"before": before})).rowcount
