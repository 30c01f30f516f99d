"""Tenants: creation and lookups, by account (the dashboards) and by id alone (tracking)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from platform_core.accounts import Principal


@dataclass(frozen=True)
class TenantRecord:
    id: int
    account_id: uuid.UUID
    livemode: bool
    name: str
    time_zone: str
    created_at: dt.datetime


def valid_time_zone(name: str) -> bool:
    """An IANA zone name that this process can load (the same check the dashboards rely on)."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_COLUMNS = "id, account_id, livemode, name, time_zone, created_at"


def _record(row) -> TenantRecord:
    return TenantRecord(row.id, row.account_id, row.livemode, row.name, row.time_zone, row.created_at)


async def create_tenant(session: AsyncSession, who: Principal, name: str, time_zone: str) -> TenantRecord:
    row = (
        await session.execute(
            text(
                "INSERT INTO landing_tenants (account_id, livemode, name, time_zone) VALUES (:a, :l, :n, :z) "
                f"RETURNING {_COLUMNS}"
            ),
            {"a": who.account_id, "l": who.livemode, "n": name, "z": time_zone},
        )
    ).one()
    await session.commit()
    return _record(row)


async def find_tenant(conn: AsyncConnection, who: Principal, tenant_id: int) -> TenantRecord | None:
    """The caller's tenant; another account's or mode's is None, like a missing one."""
    row = (
        await conn.execute(
            text(f"SELECT {_COLUMNS} FROM landing_tenants WHERE account_id = :a AND livemode = :l AND id = :t"),
            {"a": who.account_id, "l": who.livemode, "t": tenant_id},
        )
    ).first()
    return None if row is None else _record(row)


class TenantDirectory:
    """Tenants by id alone, for the public track endpoint, cached per process.

    A hit is cached for `ttl` seconds (a tenant never changes account, mode or zone), a
    miss for `miss_ttl` seconds so that a flood of unknown ids costs one query per id
    and second, while a tenant created a moment ago is found soon.
    """

    MAX_CACHED = 100_000

    def __init__(
        self, connect: Callable[[], AsyncConnection], ttl: float = 300.0, miss_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._clock = clock
        self._cache: dict[int, tuple[float, TenantRecord | None]] = {}

    async def get(self, tenant_id: int) -> TenantRecord | None:
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._connect() as conn:
            row = (
                await conn.execute(text(f"SELECT {_COLUMNS} FROM landing_tenants WHERE id = :t"), {"t": tenant_id})
            ).first()
        record = None if row is None else _record(row)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[tenant_id] = (now + (self._ttl if record else self._miss_ttl), record)
        return record
