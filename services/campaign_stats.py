"""The campaign projection: hourly figures that the instance ingestion keeps exact.

The instance service calls `add_to_campaign_stats` inside the transaction that writes
the instances or orders, after its own hourly counts, so both projections change
atomically with the rows and lock in one global order (no deadlocks between batches).

It sits beside the families, not inside `services/campaign/`: the instance family writes
the table and the campaign family reads it, and neither family imports the other's code.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.accounts import Principal


@dataclass
class Delta:
    instances: int = 0
    purchases: int = 0
    revenue: decimal.Decimal = decimal.Decimal(0)


StatsKey = tuple[uuid.UUID, dt.datetime]  # (campaign_id, hour)

_UPSERT = text(
    "INSERT INTO campaign_hourly_stats AS s (account_id, livemode, campaign_id, hour, instances, purchases, revenue) "
    "SELECT :a, :l, c, h, i, p, r FROM unnest(CAST(:campaigns AS uuid[]), CAST(:hours AS timestamptz[]), "
    "CAST(:instances AS bigint[]), CAST(:purchases AS bigint[]), CAST(:revenue AS numeric[])) AS t(c, h, i, p, r) "
    "ON CONFLICT (account_id, livemode, campaign_id, hour) DO UPDATE SET "
    "instances = s.instances + EXCLUDED.instances, purchases = s.purchases + EXCLUDED.purchases, "
    "revenue = s.revenue + EXCLUDED.revenue"
)


async def add_to_campaign_stats(session: AsyncSession, who: Principal, deltas: Mapping[StatsKey, Delta]) -> None:
    """Adds the deltas; keys are sorted so that concurrent batches lock rows in one order."""
    items = sorted((key, d) for key, d in deltas.items() if d.instances or d.purchases or d.revenue)
    if not items:
        return
    await session.execute(
        _UPSERT,
        {
            "a": who.account_id,
            "l": who.livemode,
            "campaigns": [key[0] for key, _ in items],
            "hours": [key[1] for key, _ in items],
            "instances": [d.instances for _, d in items],
            "purchases": [d.purchases for _, d in items],
            "revenue": [d.revenue for _, d in items],
        },
    )
