"""Short-lived read-only sessions: a secret key exchanged for a token a browser may hold.

A session token (`sess_<mode>_<40 random base-62 characters>`, 238 bits) acts for its
key's account and mode, reads what the key reads and writes nothing: the interceptor
refuses it on every method whose policy `writes` (ingestion, export creation, creating
another session). It is stored only as its SHA-256 digest, expires after
SESSION_TTL_SECONDS (default 3600) and can be revoked; revoking or losing its key ends it
too. docs/architecture.md, "Read-only sessions".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.accounts import KEY_ALPHABET, Principal
from platform_core.db import Base, TimestampTZ, UUIDCol, UUIDPk

TOKEN_PATTERN = re.compile(r"^sess_(live|test)_[A-Za-z0-9]{40}$")
TOKEN_RANDOM_LENGTH = 40
# The scope a session is documented with; for a session it covers every read policy
# (READ_SCOPES) its key holds.
SESSION_SCOPE = "analytics:read"
READ_SCOPES = frozenset({"analytics:read", "reports:read"})
DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 24 * 3600


class ApiSession(Base):
    """A session, stored only as the SHA-256 digest of its token."""

    __tablename__ = "api_sessions"

    id: Mapped[UUIDPk]
    account_id: Mapped[UUIDCol] = mapped_column(ForeignKey("accounts.id"), index=True)
    key_id: Mapped[UUIDCol] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))  # a key's sessions end with it
    mode: Mapped[str] = mapped_column(String(4))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[TimestampTZ]
    expires_at: Mapped[TimestampTZ]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def is_session_token(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def generate_token(mode: str) -> str:
    return f"sess_{mode}_" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(TOKEN_RANDOM_LENGTH))


async def create_session(
    session: AsyncSession, principal: Principal, ttl_seconds: int, now: dt.datetime
) -> tuple[ApiSession, str]:
    """A new session for a key's principal; returns it with its token, which is never stored."""
    if principal.session_id is not None:
        raise ValueError("a session cannot create another session")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be in 1..{MAX_TTL_SECONDS}")
    token = generate_token(principal.mode)
    row = ApiSession(
        id=uuid.uuid4(), account_id=principal.account_id, key_id=principal.key_id, mode=principal.mode,
        token_hash=hash_token(token), created_at=now, expires_at=now + dt.timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return row, token


_REVOKE = text(
    "UPDATE api_sessions SET revoked_at = now() "
    "WHERE id = :id AND account_id = :a AND mode = :m AND revoked_at IS NULL AND expires_at > now()"
)


async def revoke_session(conn: AsyncSession | AsyncConnection, principal: Principal, session_id: uuid.UUID) -> bool:
    """Revokes a live session of the principal's account and mode; False for any other id
    (unknown, another account's or mode's, expired, already revoked)."""
    result = await conn.execute(_REVOKE, {"id": session_id, "a": principal.account_id, "m": principal.mode})
    return result.rowcount == 1


# The key must still be live: revoking a key ends its sessions.
_FIND_SESSION = text(
    "SELECT s.id, s.account_id, s.key_id, s.mode, s.expires_at, k.scopes FROM api_sessions s "
    "JOIN api_keys k ON k.id = s.key_id "
    "WHERE s.token_hash = :h AND s.revoked_at IS NULL AND s.expires_at > now() AND k.revoked_at IS NULL"
)


async def find_session_principal(conn: AsyncSession | AsyncConnection, token: str) -> Principal | None:
    """The principal of a live session token, or None. Only well-formed tokens reach SQL."""
    if not is_session_token(token):
        return None
    row = (await conn.execute(_FIND_SESSION, {"h": hash_token(token)})).first()
    if row is None:
        return None
    return Principal(
        account_id=row.account_id, key_id=row.key_id, mode=row.mode,
        scopes=frozenset(row.scopes) & READ_SCOPES, session_id=row.id, expires_at=row.expires_at,
    )
