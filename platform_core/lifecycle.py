"""Data lifecycle: monthly partitions of the raw event tables and per-account retention.

The raw event tables are partitioned by month of their event time (`PARTITION BY RANGE`),
with a DEFAULT partition that catches rows of months without a partition (backfills from
long ago, clocks far ahead), so ingestion never fails for lack of a partition.
`ensure_partitions` creates the months ahead (moving rows the DEFAULT partition holds for
a new month into it); `apply_retention` drops whole months older than the longest raw
retention of any account and deletes, in bounded batches, the older rows of accounts that
keep raw data for less. Pre-aggregated tables have their own, longer retention. Instances
go with their orders, items and rewards once their last activity is older than the
raw retention; the audit log has an operator setting (AUDIT_RETENTION_DAYS); every other
table is either swept when it expires or kept while its account exists (TABLE_RULES).

Both run in `python -m platform_core.maintenance` (docs/lifecycle.md).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Iterator

import psycopg
from psycopg import sql
from sqlalchemy import CheckConstraint, ForeignKey, Integer, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, TimestampTZ
from platform_core.distribution import CROSS_ACCOUNT

# Without a row in account_retention an account keeps raw events 400 days (a year and a
# month: a year-over-year comparison of the last month still has its raw rows) and the
# pre-aggregated tables 1,100 days (three years of trends).
DEFAULT_RAW_DAYS = 400
DEFAULT_AGGREGATE_DAYS = 1100
# The audit log's retention (AUDIT_RETENTION_DAYS), the same for every account: a 401 has
# no account, and a year and a month of who-called-what covers a yearly review.
DEFAULT_AUDIT_DAYS = 400
# Months of partitions kept ready ahead of the current one.
MONTHS_AHEAD = 3
# Rows per DELETE statement: each batch is its own short transaction, so retention never
# holds locks or bloats WAL in one huge statement.
DELETE_BATCH = 5000
# Instances per transaction: each one is ~5 rows (order, items, reward) and a foreign-key
# check per child table, the events' one in every partition (about 0.2 ms an instance).
INSTANCE_BATCH = 1000


class AccountRetention(Base):
    """How long one account keeps its data; accounts without a row use the defaults."""

    __tablename__ = "account_retention"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    raw_days: Mapped[int] = mapped_column(Integer)
    aggregate_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("raw_days >= 1", name="raw_days_positive"),
        CheckConstraint("aggregate_days >= raw_days", name="aggregates_outlive_raw"),
    )


@dataclass(frozen=True)
class TimedTable:
    """A table whose rows age by one time column, with the account in every row."""

    name: str
    time_column: str
    # Storage parameters of each partition (a partitioned table cannot hold them).
    storage: str = ""
    # Whether `livemode` follows `account_id` in the keys: naming both modes lets a
    # delete seek (account, mode, time) ranges in the indexes that have them.
    modes: bool = True
    # Only the rows that also match this condition age (SQL over the table's columns).
    where: str = ""


# The raw event streams: partitioned by month.
PARTITIONED = (
    TimedTable("events", "created_at",
               "autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05"),
    TimedTable("affiliate_events", "occurred_at", "autovacuum_vacuum_insert_scale_factor = 0.05"),
    TimedTable("affiliate_conversions", "occurred_at", "autovacuum_vacuum_insert_scale_factor = 0.05"),
    TimedTable("voucher_validations", "validated_at"),
    TimedTable("voucher_redemptions", "redeemed_at"),
    TimedTable("landing_events", "occurred_at", modes=False),
)
# Raw, but small per day: sets of visitors kept to count each one once a day.
RAW_UNPARTITIONED = (
    TimedTable("affiliate_session_days", "day"),
    TimedTable("landing_daily_visitors", "day", modes=False),
    # The claimed client ids of the partitioned tables (platform_core/record_keys.py),
    # with the time of the record that holds each: they expire with it.
    TimedTable("record_keys", "recorded_at"),
    # Finished export jobs (their files are deleted by the voucher worker when they expire):
    # `GET` of one answers "expired" or "failed" until then, "not found" after.
    TimedTable("voucher_exports", "created_at", where="status IN ('expired', 'failed')"),
    # The same for the export service's jobs (docs/exports.md).
    TimedTable("export_jobs", "created_at", where="status IN ('expired', 'failed')"),
    # The webhook outbox and its delivery log (docs/webhooks.md): a delivery is finished
    # within 3 days, so only finished ones ever reach the cutoff.
    TimedTable("webhook_events", "created_at"),
    TimedTable("webhook_deliveries", "created_at", where="status <> 'pending'"),
)
# Pre-aggregated: kept for the account's aggregate_days.
AGGREGATES = (
    TimedTable("campaign_hourly_stats", "hour"),
    TimedTable("affiliate_daily_counts", "day"),
    TimedTable("voucher_daily", "day"),
    TimedTable("landing_daily_stats", "day", modes=False),
)
# An instance with its children, deleted together once its last activity (start, events,
# order, rewards) is older than the account's raw_days; `instance_hourly_counts` is the
# instance list's count of them and loses the deleted ones (delete_expired_instances).
INSTANCE_TREE = ("instances", "orders", "order_items", "insider_rewards", "instance_hourly_counts")
# Rows without an account that carry their own deadline, swept once it passed (the
# services sweep them too; the job makes sure it happens while they are down).
EXPIRING = (("landing_salts", "expires_at"), ("rate_limit_windows", "expires_at"), ("api_sessions", "expires_at"))
AUDIT_LOG = "audit_log"
# What every other table keeps, and why: docs/lifecycle.md lists every table's rule, and
# tests/platform/test_retention.py checks that each table of the schema has exactly one.
KEPT = {
    "accounts": "the tenants; every other row refers to one",
    "api_keys": "an account's keys, revoked ones too: audit rows name them",
    "account_retention": "an account's policy",
    "campaigns": "registry: aggregates and instances name a campaign",
    "affiliates": "registry: aggregates name an affiliate",
    "affiliate_tracking_codes": "registry: ingestion resolves a code to its affiliate",
    "affiliate_products": "registry: ingestion checks the products of a conversion",
    "vouchers": "registry: `voucher_daily` and the exports name a voucher",
    "voucher_customers": "registry: a redemption must name a recorded customer (erasure deletes one on request)",
    "landing_tenants": "registry: the tracker names a tenant",
    "webhook_endpoints": "an account's webhook receivers, until it deletes them",
}


def aged_tables() -> set[str]:
    """Every table some rule of this module deletes from."""
    timed = {t.name for t in PARTITIONED + RAW_UNPARTITIONED + AGGREGATES}
    return timed | set(INSTANCE_TREE) | {name for name, _ in EXPIRING} | {AUDIT_LOG}


# ---------------------------------------------------------------------------------------
# Policy (the admin command)


@dataclass(frozen=True)
class Policy:
    account_id: uuid.UUID
    raw_days: int
    aggregate_days: int
    explicit: bool  # False: the defaults apply


async def set_retention(session: AsyncSession, account_id: uuid.UUID, raw_days: int, aggregate_days: int) -> None:
    """Stores an account's policy (raises ValueError on a policy the table refuses)."""
    if raw_days < 1 or aggregate_days < raw_days:
        raise ValueError("raw_days must be at least 1 and aggregate_days at least raw_days")
    statement = insert(AccountRetention).values(account_id=account_id, raw_days=raw_days, aggregate_days=aggregate_days)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[AccountRetention.account_id],
        # The time as a value: Citus refuses now() in the DO UPDATE SET of a reference table.
        set_={"raw_days": raw_days, "aggregate_days": aggregate_days, "updated_at": dt.datetime.now(dt.UTC)},
    ))


async def get_retention(session: AsyncSession, account_id: uuid.UUID) -> Policy:
    row = await session.get(AccountRetention, account_id)
    if row is None:
        return Policy(account_id, DEFAULT_RAW_DAYS, DEFAULT_AGGREGATE_DAYS, explicit=False)
    return Policy(account_id, row.raw_days, row.aggregate_days, explicit=True)


async def reset_retention(session: AsyncSession, account_id: uuid.UUID) -> bool:
    row = await session.get(AccountRetention, account_id)
    if row is None:
        return False
    await session.delete(row)
    return True


# ---------------------------------------------------------------------------------------
# Partitions


def month_start(moment: dt.date | dt.datetime) -> dt.datetime:
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.timezone.utc)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def months(first: dt.datetime, last: dt.datetime) -> Iterator[dt.datetime]:
    """The month starts from first's month to last's month, both included."""
    month = month_start(first)
    while month <= last:
        yield month
        month = next_month(month)


def partition_name(table: str, month: dt.datetime) -> str:
    return f"{table}_p{month:%Y%m}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def is_partition(name: str) -> bool:
    """Whether a table name is one of the partitions this module creates (not in the models)."""
    return any(name == default_partition(t.name) or re.fullmatch(rf"{t.name}_p\d{{6}}", name) for t in PARTITIONED)


def _with_storage(table: TimedTable) -> sql.Composable:
    return sql.SQL(f" WITH ({table.storage})" if table.storage else "")


def create_default_partition(conn: psycopg.Connection, table: TimedTable) -> None:
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT{}").format(
        sql.Identifier(default_partition(table.name)), sql.Identifier(table.name), _with_storage(table)))


def create_partition(conn: psycopg.Connection, table: TimedTable, month: dt.datetime) -> bool:
    """Creates one month's partition unless it exists; True when it was created.

    Rows the DEFAULT partition holds for that month move into the new partition in the
    same transaction (PostgreSQL refuses the partition while they are there); the
    DEFAULT partition is detached meanwhile, so concurrent writers wait, then go on.
    """
    name = partition_name(table.name, month)
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None:
        return False
    bounds = (month, next_month(month))
    ident, default = sql.Identifier(table.name), sql.Identifier(default_partition(table.name))
    column = sql.Identifier(table.time_column)
    in_month = sql.SQL("{} >= %s AND {} < %s").format(column, column)
    # DDL takes no parameters: the bounds are literals.
    create = sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({}){}").format(
        sql.Identifier(name), ident, *(sql.Literal(bound.isoformat()) for bound in bounds), _with_storage(table))
    with conn.transaction():
        conn.execute(CROSS_ACCOUNT)  # the DEFAULT partition's rows of any account
        # The move below modifies every shard in a transaction that also runs DDL on tables
        # with foreign keys to reference tables: Citus wants one connection per node for it
        # (a placeholder on plain PostgreSQL).
        conn.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
        stranded = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(default, in_month),
                                bounds).fetchone()[0]
        if not stranded:
            conn.execute(create)
            return True
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(ident))
        conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(ident, default))
        conn.execute(create)
        conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE {}").format(ident, default, in_month), bounds)
        conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(default, in_month), bounds)
        conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} DEFAULT").format(ident, default))
    return True


def ensure_partitions(
    conn: psycopg.Connection, now: dt.datetime, back_days: int = DEFAULT_RAW_DAYS, months_ahead: int = MONTHS_AHEAD,
    tables: tuple[TimedTable, ...] = PARTITIONED,
) -> list[str]:
    """Creates the missing partitions from the month `back_days` ago to `months_ahead`
    months after the current one: a backfill inside the retention window finds its month,
    and only rows about to expire or from far ahead land in DEFAULT."""
    last = month_start(now)
    for _ in range(months_ahead):
        last = next_month(last)
    created = []
    for table in tables:
        create_default_partition(conn, table)
        for month in months(now - dt.timedelta(days=back_days), last):
            if create_partition(conn, table, month):
                created.append(partition_name(table.name, month))
    return created


def monthly_partitions(conn: psycopg.Connection, table: str) -> list[tuple[str, dt.datetime]]:
    """The table's month partitions (not the DEFAULT one) with the start of their month."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass AND c.relname ~ %s ORDER BY c.relname",
        (table, f"^{table}_p[0-9]{{6}}$"),
    ).fetchall()
    return [(name, dt.datetime.strptime(name[-6:], "%Y%m").replace(tzinfo=dt.timezone.utc)) for (name,) in rows]


# ---------------------------------------------------------------------------------------
# Retention


def policies(conn: psycopg.Connection) -> list[Policy]:
    """Every account's effective policy."""
    rows = conn.execute(
        "SELECT a.id, coalesce(r.raw_days, %s), coalesce(r.aggregate_days, %s), r.account_id IS NOT NULL "
        "FROM accounts a LEFT JOIN account_retention r ON r.account_id = a.id ORDER BY a.id",
        (DEFAULT_RAW_DAYS, DEFAULT_AGGREGATE_DAYS),
    ).fetchall()
    return [Policy(*row) for row in rows]


def drop_expired_partitions(conn: psycopg.Connection, now: dt.datetime, max_raw_days: int) -> list[str]:
    """Drops the month partitions that end before every account's raw retention began."""
    cutoff = now - dt.timedelta(days=max_raw_days)
    dropped = []
    for table in PARTITIONED:
        for name, month in monthly_partitions(conn, table.name):
            if next_month(month) <= cutoff:
                with conn.transaction():
                    conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                        sql.Identifier(table.name), sql.Identifier(name)))
                    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
    return dropped


def delete_older(conn: psycopg.Connection, table: TimedTable, account_id: uuid.UUID, cutoff: dt.datetime,
                 batch: int = DELETE_BATCH) -> int:
    """Deletes the account's rows older than `cutoff` in batches of `batch`, each committed.

    `(tableoid, ctid)` names a row of a partitioned table (a ctid alone repeats across
    partitions). The outer `account_id = %s` makes the statement a router query on Citus,
    which refuses a ctid subquery it would plan across shards (docs/scaling.md).
    """
    column = sql.Identifier(table.time_column)
    modes = " AND livemode IN (false, true)" if table.modes else ""
    where = f" AND {table.where}" if table.where else ""
    statement = sql.SQL(
        "DELETE FROM {t} WHERE account_id = %s AND (tableoid, ctid) IN "
        "(SELECT tableoid, ctid FROM {t} WHERE account_id = %s{m} AND {c} < %s LIMIT %s)"
    ).format(t=sql.Identifier(table.name), m=sql.SQL(modes + where), c=column)
    bound = cutoff.date() if table.time_column == "day" else cutoff
    return _in_batches(conn, statement, (account_id, account_id, bound, batch), batch)


def _in_batches(conn: psycopg.Connection, statement: sql.Composable | str, params: tuple, batch: int) -> int:
    """Runs a DELETE of at most `batch` rows, each run its own transaction, until one
    deletes fewer; returns the rows deleted."""
    total = 0
    while True:
        with conn.transaction():
            cursor = conn.execute(statement, params)
            deleted = cursor.fetchone()[0] if cursor.description else cursor.rowcount
        total += deleted
        if deleted < batch:
            return total


# One batch of an account's expired instances, with their children, in one statement:
# `doomed` locks (SKIP LOCKED: an instance being written to waits for the next pass)
# instances started before the cutoff that have no event left (raw retention deleted
# the older ones) and no order or reward since the cutoff; the hourly counts of the
# list lose them, and the counts left at zero are returned to be deleted.
_EXPIRED_INSTANCES = """
WITH doomed AS (
  SELECT i.livemode, i.id FROM instances i
  WHERE i.account_id = %(a)s AND i.livemode IN (false, true) AND i.started_at < %(cutoff)s
    AND NOT EXISTS (SELECT FROM events e
                    WHERE e.account_id = i.account_id AND e.livemode = i.livemode AND e.instance_id = i.id)
    AND NOT EXISTS (SELECT FROM orders o WHERE o.account_id = i.account_id AND o.livemode = i.livemode
                    AND o.instance_id = i.id AND o.created_at >= %(cutoff)s)
    AND NOT EXISTS (SELECT FROM insider_rewards r WHERE r.account_id = i.account_id AND r.livemode = i.livemode
                    AND r.instance_id = i.id AND r.created_at >= %(cutoff)s)
  LIMIT %(n)s FOR UPDATE OF i SKIP LOCKED
), items AS (
  DELETE FROM order_items it USING orders o, doomed d
  WHERE o.account_id = %(a)s AND o.livemode = d.livemode AND o.instance_id = d.id
    AND it.account_id = %(a)s AND it.livemode = o.livemode AND it.order_id = o.id RETURNING 1
), gone_orders AS (
  DELETE FROM orders o USING doomed d
  WHERE o.account_id = %(a)s AND o.livemode = d.livemode AND o.instance_id = d.id RETURNING 1
), rewards AS (
  DELETE FROM insider_rewards r USING doomed d
  WHERE r.account_id = %(a)s AND r.livemode = d.livemode AND r.instance_id = d.id RETURNING 1
), gone AS (
  DELETE FROM instances i USING doomed d
  WHERE i.account_id = %(a)s AND i.livemode = d.livemode AND i.id = d.id
  RETURNING i.livemode, i.is_purchase, date_trunc('hour', i.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour
), counted AS (
  UPDATE instance_hourly_counts c SET n = c.n - g.n
  FROM (SELECT livemode, hour, is_purchase, count(*) AS n FROM gone GROUP BY 1, 2, 3) AS g
  WHERE c.account_id = %(a)s AND c.livemode = g.livemode AND c.hour = g.hour AND c.is_purchase = g.is_purchase
  RETURNING c.livemode, c.hour, c.is_purchase, c.n
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM gone_orders), (SELECT count(*) FROM items),
       (SELECT count(*) FROM rewards),
       (SELECT coalesce(array_agg(livemode), '{}') FROM counted WHERE n <= 0),
       (SELECT coalesce(array_agg(hour), '{}') FROM counted WHERE n <= 0),
       (SELECT coalesce(array_agg(is_purchase), '{}') FROM counted WHERE n <= 0)
"""
_EMPTIED_COUNTS = (
    "DELETE FROM instance_hourly_counts c USING unnest(%s::boolean[], %s::timestamptz[], %s::boolean[]) "
    "AS z(livemode, hour, is_purchase) WHERE c.account_id = %s AND c.livemode = z.livemode AND c.hour = z.hour "
    "AND c.is_purchase = z.is_purchase AND c.n <= 0"
)


def delete_expired_instances(conn: psycopg.Connection, account_id: uuid.UUID, cutoff: dt.datetime,
                             batch: int = INSTANCE_BATCH) -> dict[str, int]:
    """Deletes the account's instances whose last activity is older than `cutoff`, with
    their orders, order items and rewards, `batch` instances per transaction. Run after
    the raw events older than the cutoff are gone."""
    totals = dict.fromkeys(INSTANCE_TREE, 0)
    while True:
        with conn.transaction():
            *counts, modes, hours, purchases = conn.execute(
                _EXPIRED_INSTANCES, {"a": account_id, "cutoff": cutoff, "n": batch}).fetchone()
            emptied = conn.execute(_EMPTIED_COUNTS, (modes, hours, purchases, account_id)).rowcount if modes else 0
        for table, n in zip(INSTANCE_TREE, [*counts, emptied]):
            totals[table] += n
        if counts[0] < batch:
            return totals


def sweep_expiring(conn: psycopg.Connection, now: dt.datetime, batch: int = DELETE_BATCH) -> dict[str, int]:
    """Deletes the rows of the EXPIRING tables whose deadline passed."""
    return {name: _in_batches(conn, sql.SQL(
        "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} <= %s LIMIT %s)").format(
            t=sql.Identifier(name), c=sql.Identifier(column)), (now, batch), batch)
        for name, column in EXPIRING}


def expire_audit_log(conn: psycopg.Connection, cutoff: dt.datetime, batch: int = DELETE_BATCH) -> int:
    """Deletes the audit rows older than `cutoff` through `audit_log_expire` (migration
    t001), the only DELETE the append-only trigger lets through: each call the expired
    ones among the `batch` oldest rows by id, until a call finds a younger row among them."""
    return _in_batches(conn, "SELECT audit_log_expire(%s, %s)", (cutoff, batch), batch)


@dataclass
class RunReport:
    created: list[str]
    dropped: list[str]
    deleted: dict[str, int]


def run_once(conn: psycopg.Connection, now: dt.datetime, batch: int = DELETE_BATCH,
             audit_days: int = DEFAULT_AUDIT_DAYS) -> RunReport:
    """One maintenance pass: partitions ahead, expired partitions dropped, old rows deleted.

    `conn` is in autocommit mode (each step commits on its own); `now` is the clock.
    """
    if audit_days < 1:
        raise ValueError("audit_days must be at least 1")
    accounts = policies(conn)
    max_raw = max([DEFAULT_RAW_DAYS, *(p.raw_days for p in accounts)])
    created = ensure_partitions(conn, now, max_raw)
    dropped = drop_expired_partitions(conn, now, max_raw)
    deleted: dict[str, int] = {}
    for policy in accounts:
        raw_cutoff = now - dt.timedelta(days=policy.raw_days)
        aggregate_cutoff = now - dt.timedelta(days=policy.aggregate_days)
        for table in PARTITIONED + RAW_UNPARTITIONED:
            n = delete_older(conn, table, policy.account_id, raw_cutoff, batch)
            deleted[table.name] = deleted.get(table.name, 0) + n
        for name, n in delete_expired_instances(conn, policy.account_id, raw_cutoff,
                                                min(batch, INSTANCE_BATCH)).items():
            deleted[name] = deleted.get(name, 0) + n
        for table in AGGREGATES:
            n = delete_older(conn, table, policy.account_id, aggregate_cutoff, batch)
            deleted[table.name] = deleted.get(table.name, 0) + n
    deleted.update(sweep_expiring(conn, now, batch))
    deleted[AUDIT_LOG] = expire_audit_log(conn, now - dt.timedelta(days=audit_days), batch)
    return RunReport(created, dropped, deleted)
