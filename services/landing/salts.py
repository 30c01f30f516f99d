"""Daily rotating secret salts for the visitor hashes, kept in PostgreSQL and deleted after 48 h.

A bare SHA-256 of an IPv4 address is reversed by hashing all 2^32 addresses; hashed
with a random 32-byte salt it is not, and once the salt is deleted nobody (the operator
included) can link that day's hashes to addresses any more. One salt per local day of a
time zone, so that a tenant's "today" is one salt: a visitor keeps one hash for a whole
local day and counts once in `visitors_today`.

Every replica uses the same salt: the first use of a day inserts it (`ON CONFLICT DO
NOTHING`) and reads back whichever insert won. A salt of day D expires 48 hours after D
began (24 hours after its last use); `sweep` deletes expired ones, at every creation of
a new salt and from the service's hourly job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import secrets
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.landing.models import VISITOR_HASH_LENGTH

log = logging.getLogger("services.landing.salts")

SALT_BYTES = 32
SALT_LIFETIME = dt.timedelta(hours=48)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The instant a local day begins, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)


def visitor_hash(salt: bytes, tenant_id: int, ip: str) -> str:
    """The first 45 hex characters of SHA-256(salt || tenant id || canonical IP).

    The tenant id keeps one visitor's hashes of two tenants apart (no linking across
    tenants); the canonical form makes `::ffff:1.2.3.4` and `1.2.3.4` one visitor.
    """
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    digest = hashlib.sha256(salt + tenant_id.to_bytes(8, "big") + address.packed).hexdigest()
    return digest[:VISITOR_HASH_LENGTH]


class SaltStore:
    """The current salt of a time zone's local day; cached per process for that day."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._cache: dict[tuple[str, dt.date], tuple[bytes, dt.datetime]] = {}

    def now(self) -> dt.datetime:
        return self._clock()

    async def salt(self, time_zone: str, now: dt.datetime | None = None) -> bytes:
        now = now or self._clock()
        zone = ZoneInfo(time_zone)
        day = now.astimezone(zone).date()
        cached = self._cache.get((time_zone, day))
        if cached is not None:
            return cached[0]
        expires_at = local_midnight(day, zone) + SALT_LIFETIME
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO landing_salts (time_zone, day, salt, expires_at) VALUES (:z, :d, :s, :e) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"z": time_zone, "d": day, "s": secrets.token_bytes(SALT_BYTES), "e": expires_at},
            )
            salt = (
                await conn.execute(
                    text("SELECT salt FROM landing_salts WHERE time_zone = :z AND day = :d"), {"z": time_zone, "d": day}
                )
            ).scalar_one()
            await self._sweep(conn, now)
        self._cache[(time_zone, day)] = (salt, expires_at)
        return salt

    async def sweep(self, now: dt.datetime | None = None) -> int:
        """Deletes every expired salt (here and in the database); returns how many rows went."""
        async with self._engine.begin() as conn:
            return await self._sweep(conn, now or self._clock())

    async def _sweep(self, conn, now: dt.datetime) -> int:
        for key in [k for k, (_, expires_at) in self._cache.items() if expires_at <= now]:
            del self._cache[key]
        deleted = (
            await conn.execute(text("DELETE FROM landing_salts WHERE expires_at <= :now"), {"now": now})
        ).rowcount
        if deleted:
            log.info("expired salts deleted", extra={"fields": {"count": deleted}})
        return deleted
