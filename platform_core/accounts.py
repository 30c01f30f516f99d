"""Accounts and their secret API keys: the format, hashing, storage and lifecycle."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import string
import uuid
import zlib
from dataclasses import dataclass

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, TimestampTZ, UUIDCol, UUIDPk

KEY_PATTERN = re.compile(r"^sk_(live|test)_[A-Za-z0-9]{32}$")
KEY_ALPHABET = string.ascii_letters + string.digits
# The 32 characters are 26 random ones (154 bits) and a 6-character checksum: the CRC-32
# of everything before it, in base 62. A typo or a guessed key fails the checksum
# (1 in 62^6 passes by chance) and is refused without a database lookup.
KEY_RANDOM_LENGTH = 26
KEY_CHECKSUM_LENGTH = 6
MODES = ("live", "test")
# Scopes a key may carry. A key is created with all of them unless told otherwise.
SCOPES = ("analytics:read", "ingest:write", "reports:read", "webhooks:write")


class Account(Base):
    """A partner business. Every row of analytics data belongs to exactly one account."""

    __tablename__ = "accounts"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """A secret key, stored only as its SHA-256 digest.

    A key has 26 random characters of a 62-letter alphabet (154 bits) and a checksum, so
    a fast hash is enough: there is nothing to brute-force that a slow hash would protect.
    """

    __tablename__ = "api_keys"

    id: Mapped[UUIDPk]
    account_id: Mapped[UUIDCol] = mapped_column(ForeignKey("accounts.id"), index=True)
    mode: Mapped[str] = mapped_column(String(4))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    created_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: one account, in one mode, with the key's scopes."""

    account_id: uuid.UUID
    key_id: uuid.UUID
    mode: str
    scopes: frozenset[str]
    # Set for a read-only session (platform_core/sessions.py): its id and end.
    session_id: uuid.UUID | None = None
    expires_at: dt.datetime | None = None

    @property
    def livemode(self) -> bool:
        return self.mode == "live"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def key_checksum(prefix_and_random: str) -> str:
    """The CRC-32 of `sk_<mode>_<26 random characters>` as 6 base-62 characters."""
    value = zlib.crc32(prefix_and_random.encode("ascii"))
    digits = []
    for _ in range(KEY_CHECKSUM_LENGTH):
        value, digit = divmod(value, len(KEY_ALPHABET))
        digits.append(KEY_ALPHABET[digit])
    return "".join(reversed(digits))


def is_well_formed(key: str) -> bool:
    """The documented format and a valid checksum: a check in memory, before any lookup."""
    if not KEY_PATTERN.match(key):
        return False
    body, checksum = key[:-KEY_CHECKSUM_LENGTH], key[-KEY_CHECKSUM_LENGTH:]
    return secrets.compare_digest(key_checksum(body), checksum)


def generate_key(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    body = f"sk_{mode}_" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_RANDOM_LENGTH))
    return body + key_checksum(body)


async def create_account(session: AsyncSession, name: str, account_id: uuid.UUID | None = None) -> Account:
    account = Account(id=account_id or uuid.uuid4(), name=name)
    session.add(account)
    await session.flush()
    return account


async def create_key(
    session: AsyncSession,
    account_id: uuid.UUID,
    mode: str,
    scopes: list[str] | None = None,
    name: str = "",
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """Stores a new key and returns it with its secret, which is never stored or shown again.

    `key` lets the demo data use a documented, fixed key; everything else generates one.
    """
    scopes = list(scopes) if scopes is not None else list(SCOPES)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known scopes are {list(SCOPES)}")
    secret = key or generate_key(mode)
    if not is_well_formed(secret) or not secret.startswith(f"sk_{mode}_"):
        raise ValueError("the key does not have the documented format for its mode")
    if await session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    row = ApiKey(
        id=uuid.uuid4(),
        account_id=account_id,
        mode=mode,
        key_hash=hash_key(secret),
        last4=secret[-4:],
        name=name,
        scopes=scopes,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def list_keys(session: AsyncSession, account_id: uuid.UUID) -> list[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
    )
    return list(result)


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount == 1


# A text() statement: it runs on the hot read path (platform_core/reads.py) as well as in a session.
_FIND_PRINCIPAL = text(
    "SELECT id, account_id, mode, scopes FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"
)


async def find_principal(conn: AsyncSession | AsyncConnection, key: str) -> Principal | None:
    """The principal of a live (not revoked) key, or None. Only well-formed keys reach SQL."""
    if not is_well_formed(key):
        return None
    row = (await conn.execute(_FIND_PRINCIPAL, {"h": hash_key(key)})).first()
    if row is None:
        return None
    return Principal(account_id=row.account_id, key_id=row.id, mode=row.mode, scopes=frozenset(row.scopes))
