"""Data lifecycle: month partitions, per-account retention, the maintenance job, and the
schema's readiness to be distributed by account (docs/lifecycle.md, docs/scaling.md).

The retention passes run with a chosen clock in a database of this module's own, so they
never remove rows other tests wrote.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import signal
import subprocess
import sys
import uuid

import psycopg
import pytest
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as pb
from sqlalchemy import text

from migrations.schema import REFERENCE_TABLES, metadata
from platform_core import distribution, lifecycle, maintenance
from stack.run import migrate
from tests.support import voucher_data as vd
from tests.support.databases import scratch_database, single_shard

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
REDEMPTIONS = next(t for t in lifecycle.PARTITIONED if t.name == "voucher_redemptions")


def days_ago(n: int) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


@pytest.fixture(scope="module")
def own_database(database_server):
    """A migrated database for this module alone (the owner role's URL: the job runs DDL)."""
    with scratch_database(database_server, "lifecycle") as urls:
        migrate(urls.owner)
        yield urls.owner


@pytest.fixture
def conn(own_database):
    with psycopg.connect(own_database, autocommit=True) as connection:
        yield connection


def account(conn, raw_days: int | None = None, aggregate_days: int | None = None) -> uuid.UUID:
    account_id = uuid.uuid4()
    conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'lifecycle')", (account_id,))
    if raw_days is not None:
        conn.execute("INSERT INTO account_retention (account_id, raw_days, aggregate_days) VALUES (%s, %s, %s)",
                     (account_id, raw_days, aggregate_days))
    return account_id


def redeem(conn, account_id: uuid.UUID, at: dt.datetime) -> str:
    record_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO voucher_redemptions (account_id, livemode, id, voucher_id, customer_id, order_total, discount, "
        "redeemed_at) VALUES (%s, false, %s, 'v_0000000000000000', 'c', 100, 10, %s)", (account_id, record_id, at))
    return record_id


def redemptions(conn, account_id: uuid.UUID) -> set[str]:
    rows = conn.execute("SELECT id FROM voucher_redemptions WHERE account_id = %s", (account_id,)).fetchall()
    return {row[0] for row in rows}


# A row's partition; on Citus its tableoid is the shard's table, <partition>_<shard id>.
PARTITION = "regexp_replace(tableoid::regclass::text, '_[0-9]+$', '')"


def partition_of(conn, record_id: str) -> str:
    return conn.execute(f"SELECT {PARTITION} FROM voucher_redemptions WHERE id = %s", (record_id,)).fetchone()[0]


def exists(conn, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


# ---------------------------------------------------------------------------------------
# Partitions


def test_a_pass_creates_the_partitions_of_the_months_ahead(conn):
    later = NOW + dt.timedelta(days=200)
    with single_shard(conn):
        report = lifecycle.run_once(conn, later)
    ahead = list(lifecycle.months(later, later + dt.timedelta(days=92)))[:4]
    for table in lifecycle.PARTITIONED:
        assert all(exists(conn, lifecycle.partition_name(table.name, month)) for month in ahead), table.name
    assert lifecycle.partition_name("events", ahead[-1]) in report.created


def test_a_row_of_a_month_without_a_partition_is_kept_in_default_then_moved_to_its_month(conn):
    owner = account(conn)
    far = NOW.replace(year=NOW.year + 6)
    record = redeem(conn, owner, far)
    assert partition_of(conn, record) == "voucher_redemptions_default"
    lifecycle.create_partition(conn, REDEMPTIONS, lifecycle.month_start(far))
    assert partition_of(conn, record) == lifecycle.partition_name("voucher_redemptions", lifecycle.month_start(far))
    assert redemptions(conn, owner) == {record}


# ---------------------------------------------------------------------------------------
# Retention


def test_retention_is_per_account_and_drops_only_months_every_account_is_done_with(conn):
    short = account(conn, raw_days=30, aggregate_days=90)
    default = account(conn)
    longest = account(conn, raw_days=450, aggregate_days=1100)
    very_old, old = lifecycle.month_start(days_ago(500)), lifecycle.month_start(days_ago(430))
    for month in (very_old, old):
        lifecycle.create_partition(conn, REDEMPTIONS, month)
    short_kept, short_gone = redeem(conn, short, days_ago(10)), redeem(conn, short, days_ago(60))
    default_kept = {redeem(conn, default, days_ago(60)), redeem(conn, default, days_ago(10))}
    redeem(conn, default, days_ago(430))
    redeem(conn, default, days_ago(500))
    longest_kept = redeem(conn, longest, days_ago(430))
    for owner in (short, default):
        for day in (days_ago(10), days_ago(60), days_ago(120)):
            conn.execute("INSERT INTO voucher_daily (account_id, livemode, voucher_id, day, uses) "
                         "VALUES (%s, false, 'v_0000000000000000', %s, 1)", (owner, day.date()))
            conn.execute("INSERT INTO affiliate_session_days (account_id, livemode, day, session_id) "
                         "VALUES (%s, false, %s, 's')", (owner, day.date()))

    with single_shard(conn):
        report = lifecycle.run_once(conn, NOW, batch=1)  # one row per DELETE: the batches loop

    assert lifecycle.partition_name("voucher_redemptions", very_old) in report.dropped
    assert not exists(conn, lifecycle.partition_name("voucher_redemptions", very_old))
    assert exists(conn, lifecycle.partition_name("voucher_redemptions", old))  # `longest` still keeps it
    assert redemptions(conn, short) == {short_kept} and short_gone not in redemptions(conn, short)
    assert redemptions(conn, default) == default_kept
    assert redemptions(conn, longest) == {longest_kept}

    def days(table: str, owner: uuid.UUID) -> int:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE account_id = %s", (owner,)).fetchone()[0]

    # Aggregates outlive raw rows: `short` keeps 90 days of them, 30 of raw.
    assert (days("voucher_daily", short), days("affiliate_session_days", short)) == (2, 1)
    assert (days("voucher_daily", default), days("affiliate_session_days", default)) == (3, 3)


def test_every_table_the_job_ages_has_the_account_and_its_time_column():
    for table in lifecycle.PARTITIONED + lifecycle.RAW_UNPARTITIONED + lifecycle.AGGREGATES:
        columns = metadata.tables[table.name].columns
        assert "account_id" in columns and table.time_column in columns, table.name
        assert ("livemode" in columns) == table.modes, table.name
    for table in lifecycle.PARTITIONED:
        assert metadata.tables[table.name].dialect_options["postgresql"]["partition_by"] == \
            f"RANGE ({table.time_column})"


# ---------------------------------------------------------------------------------------
# Idempotency through the ingestion API, in a month without a partition


async def test_a_retried_batch_of_another_month_is_stored_once_in_default(voucher_channel, make_tenant, deps):
    tenant = await make_tenant()
    data = vd.build(dt.datetime(2019, 6, 30, tzinfo=dt.timezone.utc), seed=5, days=5)
    ingest = vd.VoucherIngest(voucher_channel, tenant.test_key)
    await ingest.all(data)
    again = await ingest.stub.BatchCreateRedemptions(
        pb.BatchCreateRedemptionsRequest(redemptions=data.redemptions), metadata=ingest.md)
    assert (again.created_count, again.duplicate_count) == (0, len(data.redemptions))
    async with deps.reader() as db:
        stored = (await db.execute(text(
            f"SELECT {PARTITION} AS part, count(*) AS n FROM voucher_redemptions WHERE account_id = :a "
            "GROUP BY 1"), {"a": tenant.account_id})).all()
        uses = (await db.execute(text("SELECT sum(uses) FROM voucher_daily WHERE account_id = :a"),
                                 {"a": tenant.account_id})).scalar()
    assert [(row.part, row.n) for row in stored] == [("voucher_redemptions_default", len(data.redemptions))]
    assert uses == len(data.redemptions)


# ---------------------------------------------------------------------------------------
# The job and the admin commands


def test_the_job_runs_once_on_the_owner_url(own_database):
    env = {**os.environ, "MIGRATION_DATABASE_URL": own_database,
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run([sys.executable, "-m", "platform_core.maintenance", "--once"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"message": "maintenance pass"' in result.stderr


def test_the_loop_runs_a_pass_at_start_and_stops_on_sigterm(own_database):
    env = {**os.environ, "DATABASE_URL": own_database, "MAINTENANCE_INTERVAL_SECONDS": "3600"}
    env.pop("MIGRATION_DATABASE_URL", None)
    job = subprocess.Popen([sys.executable, "-m", "platform_core.maintenance"], env=env,
                           stderr=subprocess.PIPE, text=True)
    try:
        first = job.stderr.readline()
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=60) == 0
    finally:
        if job.poll() is None:
            job.kill()
    assert '"message": "maintenance pass"' in first


def test_a_pass_is_skipped_while_another_holds_the_lock(own_database, conn):
    conn.execute("SELECT pg_advisory_lock(%s)", (maintenance.LOCK_KEY,))
    try:
        assert maintenance.run_pass(own_database) is None
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (maintenance.LOCK_KEY,))


def admin(database_url: str, *args: str) -> subprocess.CompletedProcess:
    """As operators run it: as the owner role."""
    env = {**os.environ, "MIGRATION_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "services.admin", *args], env=env, capture_output=True, text=True)


def test_the_admin_commands_set_show_and_reset_an_accounts_retention(owner_database_url):
    database_url = owner_database_url
    account_id = re.search(r"account (\S+)", admin(database_url, "create-account", "Retained").stdout).group(1)
    assert f"raw_days={lifecycle.DEFAULT_RAW_DAYS} " in admin(database_url, "show-retention", account_id).stdout
    assert "raw_days=30 aggregate_days=1100 (set)" in admin(
        database_url, "set-retention", account_id, "--raw-days", "30").stdout
    refused = admin(database_url, "set-retention", account_id, "--aggregate-days", "10")
    assert refused.returncode == 2 and "aggregate_days" in refused.stderr
    assert "(default)" in admin(database_url, "reset-retention", account_id).stdout
    assert admin(database_url, "show-retention", str(uuid.uuid4())).returncode == 2


# ---------------------------------------------------------------------------------------
# Distribution by account (docs/scaling.md)


def test_every_table_but_the_reference_tables_has_the_account_in_every_unique_key():
    assert set(REFERENCE_TABLES) <= set(metadata.tables)
    for name in distribution.distributed_tables(metadata, REFERENCE_TABLES):
        table = metadata.tables[name]
        assert "account_id" in table.primary_key.columns, name
        for index in table.indexes:
            assert not index.unique or "account_id" in index.columns, index.name
        for constraint in table.constraints:
            if hasattr(constraint, "columns") and constraint.__class__.__name__ == "UniqueConstraint":
                assert "account_id" in constraint.columns, constraint.name


def test_the_scaling_document_lists_every_table_with_its_distribution():
    doc = (pathlib.Path(__file__).parent.parent.parent / "docs" / "scaling.md").read_text()
    listed = dict(re.findall(r"^\| `(\w+)` \| (reference|`account_id`) \|", doc, re.MULTILINE))
    expected = {name: "reference" if name in REFERENCE_TABLES else "`account_id`"
                for name in metadata.tables}
    assert listed == expected
