"""The schema on a real Citus cluster (a coordinator and two workers on this machine):
`alembic upgrade head` distributes it as platform_core/distribution.py says, an account's
rows sit on one worker, and each family's main read runs on one shard (docs/scaling.md).
As under `make test-citus`, the app role's multi-shard statements fail on this cluster
(`refuse_multi_shard`), and the owner's maintenance and erasure run with the same setting.

Citus is installed by tools/citus/install.sh when missing; a machine where that fails
fails these tests with the reason, never skips them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.schema import REFERENCE_TABLES
from platform_core import db, erasure, lifecycle
from platform_core.accounts import Principal
from platform_core.citus_cluster import CitusCluster, citus_installed, citus_library, refuse_multi_shard
from platform_core.distribution import CROSS_ACCOUNT
from platform_core.paging import PageRequest, Window
from services.affiliate import queries as affiliate_queries
from services.campaign import queries as campaign_queries
from services.instance import queries as instance_queries
from services.landing import queries as landing_queries
from services.landing.store import COLUMNS as LANDING_COLUMNS
from services.landing.store import prune_daily_visitors
from services.voucher import exports
from services.voucher import queries as voucher_queries
from services.voucher.periods import Period
from stack.run import ROOT, migrate
from tests.databases import SINGLE_SHARD

INSTALL = ROOT / "tools" / "citus" / "install.sh"


def ensure_citus() -> None:
    if citus_installed():
        return
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=1800, check=False)
    if not citus_installed():
        pytest.fail(f"Citus is not installed ({citus_library()} is missing) and {INSTALL} could not install it "
                    f"(exit {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


@pytest.fixture(scope="module")
def citus():
    """A migrated database on a fresh cluster: its URLs and the cluster."""
    ensure_citus()
    with CitusCluster(workers=2) as cluster:
        refuse_multi_shard(cluster.admin_url)
        urls = cluster.create_database("partnerlytics")
        migrate(urls.owner)
        yield urls, cluster


def _tables(conn: psycopg.Connection) -> dict[str, tuple[str, str | None, int]]:
    """Every table of the schema (not the month partitions, nor alembic_version) with its
    Citus type, distribution column and colocation group."""
    rows = conn.execute("""
        SELECT c.relname, coalesce(t.citus_table_type, 'local'), t.distribution_column, t.colocation_id
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN citus_tables t ON t.table_name = c.oid
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname <> 'alembic_version'
    """).fetchall()
    return {name: (kind, column, colocation) for name, kind, column, colocation in rows}


def test_every_table_is_a_reference_table_or_distributed_by_account_in_one_colocation_group(citus):
    urls, _ = citus
    with psycopg.connect(urls.superuser) as conn:
        tables = _tables(conn)
    reference = {name for name, (kind, _, _) in tables.items() if kind == "reference"}
    distributed = {name: (column, colocation) for name, (kind, column, colocation) in tables.items()
                   if kind == "distributed"}
    assert reference == set(REFERENCE_TABLES)
    assert set(distributed) == set(tables) - reference
    assert {column for column, _ in distributed.values()} == {"account_id"}
    assert len({colocation for _, colocation in distributed.values()}) == 1


def test_the_shards_of_one_account_sit_on_one_worker_and_accounts_spread_over_both(citus):
    urls, cluster = citus
    accounts = [uuid.UUID(int=n * 7919 + 1) for n in range(8)]
    with psycopg.connect(urls.superuser) as conn:
        tables = [name for name, (kind, _, _) in _tables(conn).items() if kind == "distributed"]
        partitions = [r[0] for r in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent::regclass::text = ANY(%s)",
            (tables,)).fetchall()]
        workers_of = {}
        for account in accounts:
            ports = conn.execute("""
                SELECT DISTINCT s.nodeport FROM unnest(%s::text[]) AS t(name)
                JOIN citus_shards s ON s.shardid = get_shard_id_for_distribution_column(t.name, %s::uuid)
            """, (tables + partitions, str(account))).fetchall()
            workers_of[account] = {port for (port,) in ports}
    assert all(len(ports) == 1 for ports in workers_of.values()), workers_of
    assert set().union(*workers_of.values()) == {w.port for w in cluster.worker_nodes}


def test_the_audit_log_stays_append_only_on_the_cluster(citus):
    urls, _ = citus
    with psycopg.connect(urls.app, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (endpoint, status, grpc_code, request_id) VALUES ('t', 200, 'OK', 'r')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")
    with psycopg.connect(urls.owner, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit_log SET status = 500")
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)


def test_the_audit_logs_retention_deletes_only_expired_rows_on_the_cluster(citus):
    """`audit_log_expire` (migration t001) gets its cutoff to the workers' triggers."""
    urls, _ = citus
    with psycopg.connect(urls.owner, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (at, endpoint, status, grpc_code, request_id) "
                     "VALUES (now() - interval '500 days', 'old', 200, 'OK', 'r1'), (now(), 'new', 200, 'OK', 'r2')")
        before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        assert lifecycle.expire_audit_log(conn, dt.datetime.now(dt.UTC) - dt.timedelta(days=400), 100) == 1
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (before - 1,)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE endpoint = 'old'").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE endpoint = 'new'")


def test_a_maintenance_pass_runs_on_the_cluster(citus):
    """Partitions made ahead and dropped (DDL on distributed parents) and an account's old
    rows deleted (per-account statements), as `python -m platform_core.maintenance` does."""
    urls, _ = citus
    account = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(urls.owner, autocommit=True, options=SINGLE_SHARD) as conn:
        conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'maintenance')", (account,))
        conn.execute("INSERT INTO account_retention (account_id, raw_days, aggregate_days) VALUES (%s, 30, 400)",
                     (account,))
        conn.execute("INSERT INTO record_keys (account_id, livemode, kind, client_id, recorded_at) "
                     "VALUES (%s, false, 'events', 'old', %s), (%s, false, 'events', 'new', %s)",
                     (account, now - dt.timedelta(days=40), account, now))
        # A row in a DEFAULT partition: the pass moves it to the month it makes (a cross-account step).
        conn.execute("INSERT INTO record_keys (account_id, livemode, kind, client_id, recorded_at) "
                     "VALUES (%s, false, 'events', 'far', %s)", (account, now + dt.timedelta(days=400)))
        report = lifecycle.run_once(conn, now)
        left = conn.execute("SELECT client_id FROM record_keys WHERE account_id = %s", (account,)).fetchall()
    assert report.deleted["record_keys"] == 1 and sorted(left) == [("far",), ("new",)]


@pytest_asyncio.fixture
async def app_engine(citus):
    urls, _ = citus
    engine = db.create_engine(urls.app, pool_size=1)
    yield engine
    await engine.dispose()


async def _main_reads(conn, who: Principal) -> None:
    """The first statements of each family's main read endpoint, through the services' own query functions."""
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    window = Window.trailing(now, dt.timedelta(days=7))
    page = PageRequest(page=1, limit=10)
    await instance_queries.list_instances(conn, who, window, None, page)
    await campaign_queries.campaign_page(conn, who, uuid.uuid4(), window, None, page)
    await affiliate_queries.period_totals(conn, who, affiliate_queries.Days(today - dt.timedelta(days=6), today), True)
    await voucher_queries.performance(conn, who, "SUMMER", Period(today - dt.timedelta(days=6), today))
    await landing_queries.report(conn, who, 1, now, 7)


def _is_router(plan: str) -> bool:
    """A Citus plan of one task: the statement runs on the one node of its shard."""
    tasks = [line.strip() for line in plan.splitlines() if "Task Count" in line]
    return "Citus Adaptive" in plan and bool(tasks) and all(t == "Task Count: 1" for t in tasks)


async def test_each_familys_main_read_is_a_router_plan(app_engine):
    who = Principal(account_id=uuid.uuid4(), key_id=uuid.uuid4(), mode="test", scopes=frozenset())
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    async with app_engine.connect() as conn:
        event.listen(app_engine.sync_engine, "before_cursor_execute", capture)
        try:
            await _main_reads(conn, who)
        finally:
            event.remove(app_engine.sync_engine, "before_cursor_execute", capture)
        plans = {}
        for statement, parameters in statements:
            rows = (await conn.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
            plans[statement] = "\n".join(row[0] for row in rows)
    assert len(plans) >= 5
    assert {s: p for s, p in plans.items() if not _is_router(p)} == {}


async def test_the_export_claim_takes_its_job_with_a_router_query(app_engine):
    """The claim's second step, the one that locks (docs/scaling.md, "The export queue")."""
    params = {"a": uuid.uuid4(), "l": False, "id": "export_x", "w": "worker", "lease": 60}
    async with app_engine.connect() as conn:
        compiled = exports._CLAIM.compile(conn.sync_connection)
        rows = (await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)).all()
    assert _is_router("\n".join(row[0] for row in rows))


async def test_a_multi_shard_statement_of_the_app_fails_unless_it_says_it_spans_accounts(app_engine):
    async with app_engine.connect() as conn:
        with pytest.raises(Exception, match="multi-task query about to be executed"):
            await conn.exec_driver_sql("SELECT count(*) FROM instances")
        await conn.rollback()
        await conn.exec_driver_sql(CROSS_ACCOUNT)
        assert (await conn.exec_driver_sql("SELECT count(*) FROM instances")).scalar() == 0
        await conn.rollback()
        await prune_daily_visitors(conn, dt.datetime.now(dt.UTC))


async def test_erasure_of_each_kind_runs_on_one_shard(citus):
    """Every statement of an erasure (deletes, aggregate adjustments, export cancellation,
    the audit row) under the setting that fails a multi-shard one, on seeded rows."""
    urls, _ = citus
    account, instance, now = uuid.uuid4(), uuid.uuid4(), dt.datetime.now(dt.UTC)
    with psycopg.connect(urls.owner, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'erasure')", (account,))
        conn.execute("INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at) "
                     "VALUES (%s, false, %s, %s, %s, %s)", (account, instance, uuid.uuid4(), uuid.uuid4(), now))
    engine = create_async_engine(db.async_url(urls.owner), connect_args={"options": SINGLE_SHARD})
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    hooks = erasure.LandingHooks(columns=LANDING_COLUMNS, visitor_hash=lambda salt, tenant, ip: "h")
    try:
        for kind, subject in (("instance", str(instance)), ("customer", "c1"), ("visitor", "h")):
            async with engine.begin() as conn:
                done = await erasure.erase(conn, kind, account, [subject], actor="t", landing=hooks)
            assert kind != "instance" or done.counts["instances"] == 1
    finally:
        await engine.dispose()
    assert len(statements) >= 12
