"""The hot read path: psycopg connections of their own, one round trip per statement.

Every read of every family (the list, details, analytics, stats, trends, dashboards, and
the key lookup) runs one `text()` statement on an autocommit connection. Through
SQLAlchemy that statement cost a `pool_pre_ping` round trip per checkout and about 0.6 ms
of Python per request (connection events, the greenlet bridge, result processing, `Row`
objects; docs/performance-notes.md, "Cost of one request"). Here the same statement objects run
on psycopg directly:

* a small pool of autocommit connections per process, never pinged: a connection that
  died while idle (PostgreSQL restarted, a network cut) fails its statement, is dropped,
  and the statement is retried once on a new connection. Retrying is safe because these
  connections are read-only (`default_transaction_read_only`): nothing they run changes
  data, so running it twice answers the same;
* statements prepared on their first execution (`prepare_threshold=0`), in the same round
  trip as that execution; every later one sends only Bind/Execute;
* each `text()` compiled once to psycopg's `%(name)s` form and cached by its SQL;
* rows as tuples with attribute access by column name (what the query code reads).

SQLAlchemy stays where it earns its place: models, migrations, writes in sessions. The
engine's dialect gives the connect arguments and psycopg adapters, so a value reads the
same here as through the engine.

The PostgreSQL rate-limit store runs its one upsert per request on a pool of its own of
the same kind, but writable (`read_only=False`; platform_core/ratelimit.py): the same
statement path as the read it guards, instead of SQLAlchemy's checkout, events and result
processing. Its retry of a statement whose idle connection was gone can at worst count
one hit twice (the server ran it and died before answering), which errs on the strict side.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import operator
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg import pq
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import TextClause

log = logging.getLogger("platform_core.reads")

# A statement that fails on a connection taken idle from the pool because that connection
# is gone is retried once on a fresh connection.
_RETRIES = 1


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[tuple]:
    """A tuple type whose items are also attributes by column name (the first of a
    repeated name), like SQLAlchemy's `Row`."""
    attrs: dict[str, Any] = {"__slots__": ()}
    for i, name in enumerate(names):
        attrs.setdefault(name, property(operator.itemgetter(i)))
    attrs["_fields"] = names
    attrs["_mapping"] = property(lambda row: dict(zip(names, row)))
    attrs["_asdict"] = lambda row: dict(zip(names, row))
    return type("Row", (tuple,), attrs)


class Result:
    """The part of SQLAlchemy's `Result` the query code uses, over rows already fetched."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._rows)

    def all(self) -> list[tuple]:
        return self._rows

    def first(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def one(self) -> tuple:
        if len(self._rows) != 1:
            raise (sqlalchemy.exc.NoResultFound if not self._rows else sqlalchemy.exc.MultipleResultsFound)(
                "expected exactly one row")
        return self._rows[0]

    def one_or_none(self) -> tuple | None:
        if len(self._rows) > 1:
            raise sqlalchemy.exc.MultipleResultsFound("expected at most one row")
        return self.first()

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]

    def mappings(self) -> list[dict[str, Any]]:
        return [row._mapping for row in self._rows]  # type: ignore[attr-defined]


_TUPLES = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK)


def _has_rows(result: pq.abc.PGresult | None) -> bool:
    """What psycopg's `cursor.description is not None` tells, without building its
    `Column` objects (one per column, on every call)."""
    return result is not None and (result.nfields > 0 or result.status in _TUPLES)


@functools.lru_cache(maxsize=1024)
def _row_class_of(raw_names: tuple[bytes, ...], encoding: str) -> type[tuple]:
    return _row_class(tuple(name.decode(encoding) for name in raw_names))


def _rows(cursor: psycopg.AsyncCursor) -> Any:
    """psycopg row factory: rows of `_row_class` of the result's column names, read from
    the result's field names (the class cached by them, so a statement seen before costs
    one lookup)."""
    result = cursor.pgresult
    if not _has_rows(result):
        return lambda values: values
    fname = result.fname  # type: ignore[union-attr]
    names = tuple(fname(i) or b"" for i in range(result.nfields))  # type: ignore[union-attr]
    return _row_class_of(names, cursor._encoding)  # the decoding psycopg's `Column` uses


class ReadConnection:
    """One checked-out connection; `execute(text(...), params)` as on SQLAlchemy's."""

    __slots__ = ("_reads", "_conn", "_fresh", "_cursor")

    def __init__(self, reads: "Reads", conn: psycopg.AsyncConnection, fresh: bool,
                 cursor: psycopg.AsyncCursor | None = None) -> None:
        self._reads = reads
        self._conn = conn
        self._fresh = fresh  # True: connected for this checkout (no idle connection to go stale)
        # The connection's one cursor, kept with it in the pool: a statement re-executes it
        # instead of creating and closing a cursor.
        self._cursor = cursor

    async def execute(self, statement: TextClause, params: dict[str, Any] | None = None) -> Result:
        sql = self._reads.compiled(statement)
        attempts = 0
        while True:
            try:
                cursor = self._cursor
                if cursor is None:
                    cursor = self._cursor = self._conn.cursor(row_factory=_rows)
                listeners = self._reads.events.before_cursor_execute
                if listeners:  # the engine's instrumentation sees these statements too
                    for listener in listeners:
                        listener(self._reads.sync_engine, cursor, sql, params, None, False)
                await cursor.execute(sql, params)
                rows = await cursor.fetchall() if _has_rows(cursor.pgresult) else []
                result = Result(rows, cursor.rowcount)
                self._fresh = True  # it answered: no longer a suspect idle connection
                return result
            except psycopg.OperationalError:
                if self._fresh or attempts >= _RETRIES or not self._conn.broken:
                    raise
                attempts += 1
                log.info("pooled database connection was gone; retrying the read on a new one")
                await self._reads.discard(self._conn)
                self._conn = await self._reads.connect()
                self._cursor = None
                self._fresh = True


class Reads:
    """The read connections of one process: at most `size`, idle ones kept for reuse."""

    def __init__(self, engine: AsyncEngine, *, size: int, statement_timeout_ms: int,
                 connect_timeout_s: int, pool_timeout_s: float, read_only: bool = True) -> None:
        dialect = engine.sync_engine.dialect
        # The engine's `before_cursor_execute` listeners (instrumentation, the tests'
        # statement counters) are called for these statements as well; checking for
        # them costs one attribute read when there are none.
        self.sync_engine = engine.sync_engine
        self.events = engine.sync_engine.dispatch
        _args, params = dialect.create_connect_args(engine.url)
        self._connect_kwargs: dict[str, Any] = {
            **params,
            "autocommit": True,
            "prepare_threshold": 0,
            "connect_timeout": connect_timeout_s,
            # JIT off as on the engine (docs/database.md); read-only makes the retry safe.
            "options": f"-c jit=off -c statement_timeout={int(statement_timeout_ms)}"
                       + (" -c default_transaction_read_only=on" if read_only else ""),
        }
        self._dialect = dialect
        # Idle connections, each with its cursor (None until its first statement).
        self._idle: collections.deque[tuple[psycopg.AsyncConnection, psycopg.AsyncCursor | None]] = collections.deque()
        self._slots = asyncio.Semaphore(size)
        self._pool_timeout_s = pool_timeout_s
        self._sql: dict[str, str] = {}
        self._closed = False

    def compiled(self, statement: TextClause) -> str:
        """The statement in psycopg's parameter style, compiled once per SQL text (a
        `text()` built per call, e.g. from an f-string, hits the cache as well)."""
        try:
            return self._sql[statement.text]
        except KeyError:
            pass
        except AttributeError:
            raise TypeError("the read path runs text() statements only") from None
        sql = str(statement.compile(dialect=self._dialect))
        if len(self._sql) > 4096:  # keep the cache bounded whatever the callers build
            self._sql.clear()
        self._sql[statement.text] = sql
        return sql

    async def connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(**self._connect_kwargs)

    async def discard(self, conn: psycopg.AsyncConnection) -> None:
        with contextlib.suppress(Exception):
            await conn.close()

    def __call__(self) -> "_Checkout":
        """`async with reads() as conn`: a connection of the pool for the block."""
        return _Checkout(self)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self.discard(self._idle.pop()[0])


class _Checkout:
    """One checkout of `Reads` (a class rather than a generator-based context manager,
    and the pool's slot taken without `wait_for`'s task when one is free: this runs for
    every statement of every request)."""

    __slots__ = ("_reads", "_reader")

    def __init__(self, reads: Reads) -> None:
        self._reads = reads
        self._reader: ReadConnection | None = None

    async def __aenter__(self) -> ReadConnection:
        reads = self._reads
        slots = reads._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), reads._pool_timeout_s)
            except asyncio.TimeoutError:
                # As SQLAlchemy's pool timeout: the interceptor answers 503.
                raise sqlalchemy.exc.TimeoutError(
                    f"no read connection within {reads._pool_timeout_s}s") from None
        else:
            await slots.acquire()  # a free slot: taken without waiting
        try:
            fresh = not reads._idle
            conn, cursor = reads._idle.pop() if reads._idle else (await reads.connect(), None)
        except BaseException:
            slots.release()
            raise
        self._reader = ReadConnection(reads, conn, fresh, cursor)
        return self._reader

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        reads, reader = self._reads, self._reader
        try:
            if reader is not None:
                conn = reader._conn
                if reads._closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    await reads.discard(conn)
                else:
                    reads._idle.append((conn, reader._cursor))
        finally:
            self._reader = None
            reads._slots.release()
        return False
