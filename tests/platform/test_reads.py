"""The hot read path (platform_core/reads.py): no ping, one retry on a dead pooled
connection, read-only connections, rows as SQLAlchemy's query code reads them."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from platform_core import db


@pytest.fixture
async def reads(database_url):
    engine = db.create_engine(database_url, pool_size=1)
    reader = db.reader(engine, pool_size=2)
    yield reader
    await reader.close()
    await engine.dispose()


async def _backend_pid(reader) -> int:
    async with reader() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid() AS pid"))).scalar_one()


async def test_a_pooled_connection_killed_while_idle_is_replaced_and_the_read_answers(reads, database_url):
    first = await _backend_pid(reads)
    with psycopg.connect(database_url, autocommit=True) as other:  # the same role may end its own backends
        assert other.execute("SELECT pg_terminate_backend(CAST(%s AS integer))", (first,)).fetchone()[0] is True
    async with reads() as conn:
        row = (await conn.execute(text("SELECT 41 + :n AS answer, pg_backend_pid() AS pid"), {"n": 1})).one()
    assert row.answer == 42 and row[0] == 42
    assert row.pid != first
    assert await _backend_pid(reads) == row.pid  # the new connection went back to the pool


async def test_read_connections_refuse_writes_so_a_retried_statement_changes_nothing(reads):
    async with reads() as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await conn.execute(text("CREATE TEMP TABLE t_written (x int)"))
    async with reads() as conn:  # the failed statement left the connection usable
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


async def test_rows_answer_like_sqlalchemy_rows(reads):
    async with reads() as conn:
        result = await conn.execute(text(
            "SELECT n, n * 2 AS \"order\", 'x' AS name FROM generate_series(1, 3) AS n WHERE n >= :low "
            "ORDER BY n"), {"low": 2})
    rows = result.all()
    assert [tuple(r) for r in rows] == [(2, 4, "x"), (3, 6, "x")]
    assert [r.order for r in rows] == [4, 6] and rows[0].name == "x"
    assert result.mappings() == [{"n": 2, "order": 4, "name": "x"}, {"n": 3, "order": 6, "name": "x"}]
    assert result.first() == rows[0] and result.scalar() == 2
