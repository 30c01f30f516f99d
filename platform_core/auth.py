"""Authentication of secret keys, bound to one account per request."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core import accounts, sessions
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
        if key is None or not (accounts.is_well_formed(key) or sessions.is_session_token(key)):
            raise Unauthenticated(message="Invalid or missing secret key")
        principal = await self._lookup(key)
        # A cached session is checked against its end too: it never outlives expires_at.
        if principal is None or (principal.expires_at is not None
                                 and principal.expires_at <= dt.datetime.now(dt.timezone.utc)):
            raise Unauthenticated(message="Invalid or missing secret key")
        return principal

    @staticmethod
    def authorize(principal: Principal, scope: str, writes: bool = False) -> None:
        """403 for a valid key without the scope, and for a read-only session on a method
        that writes (the principal is known: the call is audited with it)."""
        if principal.session_id is not None and writes:
            raise PermissionDenied(
                message="Insufficient permissions for this endpoint",
                details="A read-only session cannot call a method that writes; use a secret key.",
            )
        if scope not in principal.scopes:
            raise PermissionDenied(
                message="Insufficient permissions for this endpoint",
                details=f"The secret key lacks the {scope} scope.",
            )

    def forget(self, metadata) -> None:
        """Drops the cached principal of the call's bearer token (a revoked session)."""
        key = _bearer({k: v for k, v in metadata or () if isinstance(v, str)}.get("authorization"))
        if key is not None:
            self._cache.pop(hashlib.sha256(key.encode("ascii", "replace")).hexdigest(), None)

    async def _lookup(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode("ascii")).hexdigest()
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._connect() as conn:
            if sessions.is_session_token(key):
                principal = await sessions.find_session_principal(conn, key)
            else:
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
