"""Authentication of secret keys, bound to one account per request."""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core import accounts
from platform_core.accounts import Principal
from platform_core.errors import PermissionDenied, Unauthenticated

MAX_CACHED = 10_000


class Authenticator:
    """Resolves `authorization: Bearer sk_...` to a principal.

    Results (including misses) are cached in process for `cache_seconds`, which bounds
    how long a revoked key keeps working; 0 disables the cache. Malformed keys (format or
    checksum) never reach the database, nor the cache.
    """

    def __init__(
        self,
        connect: Callable[[], AsyncConnection],
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, authorization: str | None, scope: str) -> Principal:
        principal = await self.identify(authorization)
        self.authorize(principal, scope)
        return principal

    async def identify(self, authorization: str | None) -> Principal:
        """The key's principal, or 401. A key without the format and checksum is refused
        here, in memory; only a well-formed key is looked up, by its SHA-256 digest."""
        key = _bearer(authorization)
        if key is None or not accounts.is_well_formed(key):
            raise Unauthenticated(message="Invalid or missing secret key")
        principal = await self._lookup(key)
        if principal is None:
            raise Unauthenticated(message="Invalid or missing secret key")
        return principal

    @staticmethod
    def authorize(principal: Principal, scope: str) -> None:
        """403 for a valid key without the scope (the principal is known: the call is audited with it)."""
        if scope not in principal.scopes:
            raise PermissionDenied(
                message="Insufficient permissions for this endpoint",
                details=f"The secret key lacks the {scope} scope.",
            )

    async def _lookup(self, key: str) -> Principal | None:
        digest = accounts.hash_key(key).hex()
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._connect() as conn:
            principal = await accounts.find_principal(conn, key)
        if self._ttl > 0:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, principal)
        return principal


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
