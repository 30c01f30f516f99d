"""Database engine, sessions and the declarative base shared by every service's models."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated, Callable

from sqlalchemy import DateTime, MetaData, Numeric, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column

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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accepts any PostgreSQL URL and selects the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # JIT misjudges the analytics aggregates and doubles their time (DATABASE-NOTES.md).
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"options": "-c jit=off"},
    )


def reader(engine: AsyncEngine) -> Callable[[], AsyncConnection]:
    """Connections for single-statement reads: autocommit, so no BEGIN/ROLLBACK round
    trips; a single statement is its own consistent snapshot."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return autocommit.connect


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
