"""Database engine, sessions and the declarative base shared by every service's models."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import TYPE_CHECKING, Annotated

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, ForeignKeyConstraint, MetaData, Numeric, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column

if TYPE_CHECKING:
    from platform_core.reads import Reads

# Constraint names are deterministic so that Alembic migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Reusable column types: the same word means the same SQL type everywhere.
UUIDPk = Annotated[uuid.UUID, mapped_column(UUID(as_uuid=True), primary_key=True)]
UUIDCol = Annotated[uuid.UUID, mapped_column(UUID(as_uuid=True))]
TimestampTZ = Annotated[dt.datetime, mapped_column(DateTime(timezone=True))]
# Money in major units, exact: never accumulated in binary floats.
Money = Annotated[decimal.Decimal, mapped_column(Numeric(14, 2))]
Currency = Annotated[str, mapped_column(String(3))]
ShortText = Annotated[str, mapped_column(String(200))]


def sequence_id(table: str, **kwargs) -> MappedColumn:
    """A generated bigint id: the default draws from the sequence `<table>_id_seq` the column
    owns. Not an identity column, which Citus refuses to distribute (migration c001)."""
    return mapped_column(BigInteger, server_default=text(f"nextval('{table}_id_seq'::regclass)"), **kwargs)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenanted:
    """The leading key columns of every domain table: the account and the mode.

    Every query is scoped by them, and the same layout distributes by account later.
    """

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id"), primary_key=True, sort_order=-2
    )
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True, sort_order=-1)


def tenant_foreign_key(column: str, parent: str, name: str) -> ForeignKeyConstraint:
    """A reference within one account and mode: (account_id, livemode, column) to the
    parent table's (account_id, livemode, id)."""
    return ForeignKeyConstraint(
        ["account_id", "livemode", column],
        [f"{parent}.account_id", f"{parent}.livemode", f"{parent}.id"],
        name=name,
    )


def async_url(url: str) -> str:
    """Accepts any PostgreSQL URL and selects the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


# Deadlines of the steps before a statement runs (docs/reliability.md, "Deadlines"): a
# server that accepts connections but never answers, or a pool exhausted by stuck calls,
# becomes a 503 after this long instead of a call that hangs until the gateway's timeout.
# libpq counts `connect_timeout` in whole seconds (at least 2).
DB_CONNECT_TIMEOUT_S = 3
DB_POOL_TIMEOUT_S = 5.0
DB_POOL_RECYCLE_S = 1800


def create_engine(url: str, *, pool_size: int = 10, statement_timeout_ms: int = 0) -> AsyncEngine:
    # JIT misjudges the analytics aggregates and doubles their time (docs/database.md).
    # A statement timeout (0: none) turns a stuck query into a 504 instead of a hung call.
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip each): a connection that died while idle
        # fails its statement, SQLAlchemy drops the pool's connections on that disconnect,
        # and the caller gets a retryable 503; reads retry once themselves
        # (platform_core/reads.py). Connections older than DB_POOL_RECYCLE_S are replaced.
        pool_pre_ping=False,
        pool_recycle=DB_POOL_RECYCLE_S,
        pool_timeout=DB_POOL_TIMEOUT_S,
        connect_args={
            "options": f"-c jit=off -c statement_timeout={int(statement_timeout_ms)}",
            "connect_timeout": DB_CONNECT_TIMEOUT_S,
        },
    )


def reader(engine: AsyncEngine, *, pool_size: int = 10, statement_timeout_ms: int = 0) -> "Reads":
    """Connections for single-statement reads (platform_core/reads.py): psycopg directly,
    autocommit and read-only, so no BEGIN/ROLLBACK round trips; a single statement is its
    own consistent snapshot."""
    from platform_core.reads import Reads

    return Reads(engine, size=pool_size, statement_timeout_ms=statement_timeout_ms,
                 connect_timeout_s=DB_CONNECT_TIMEOUT_S, pool_timeout_s=DB_POOL_TIMEOUT_S)


# Connections of a process's writer pool (db.writer), at most. Small on purpose: its
# statements are short, the limiter's upserts of one key queue on that key's row anyway,
# and every connection of every pool of every process counts against the server's
# max_connections (100 by default; a compose stack of replicas, or bench.lean's four
# stacks on one database, reach it).
WRITER_POOL_SIZE = 4


def writer(engine: AsyncEngine, *, pool_size: int = WRITER_POOL_SIZE, statement_timeout_ms: int = 0) -> "Reads":
    """Writable autocommit psycopg connections for the single statements the request path
    writes (the PostgreSQL rate-limit store's upsert, the audit log's batch INSERT): the
    read path's pool (platform_core/reads.py) without `default_transaction_read_only`.
    Transactions of more than one statement (ingestion, registries) stay in sessions."""
    from platform_core.reads import Reads

    return Reads(engine, size=pool_size, statement_timeout_ms=statement_timeout_ms,
                 connect_timeout_s=DB_CONNECT_TIMEOUT_S, pool_timeout_s=DB_POOL_TIMEOUT_S, read_only=False)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
