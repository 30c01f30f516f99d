"""The benchmark database and its bulk data.

The read benchmark needs millions of rows, which the ingestion API would take far too
long to write; they are generated inside PostgreSQL with `generate_series`, in time
order (as ingestion writes them), and the hourly counts the service relies on are then
filled from the rows themselves, so they are exactly what ingestion would have kept.

Layout per data set: instances spread uniformly over the 180 days before the load,
~27% of them purchased (an order with 1-3 items and an insider reward each, and
`is_purchase` / `purchased_insider_id` set), 1-19 events per instance (10 on average)
with the documented metadata of their tracker type. The benchmark account holds the
large set, a second account the small one (scale / 10), and some other data (another
account in each mode, and live-mode rows of the benchmark account) makes the tenant
and mode filters matter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import pathlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import psycopg

log = logging.getLogger("bench.dataset")

LAYOUT_VERSION = 3
DAYS = 180
PURCHASE_RATE = 0.27
SLICE_INSTANCES = 100_000  # instances generated per statement (10x as many events)
DATABASE_NAME = "partnerlytics_bench"

# Settings of the embedded server, applied with ALTER SYSTEM (shared_buffers needs a
# restart). Left at their defaults on a server named by DATABASE_URL.
EMBEDDED_SETTINGS = {
    # 128MB (the default) is a toy size; 2GB is about a quarter of a small DB host's memory.
    "shared_buffers": "2GB",
    # Index builds after the bulk load.
    "maintenance_work_mem": "1GB",
    # Fewer checkpoints while gigabytes are loaded; does not change query plans.
    "max_wal_size": "4GB",
}
# Session settings of the loading connection only.
LOAD_SESSION = {"work_mem": "512MB", "synchronous_commit": "off", "jit": "off", "TimeZone": "UTC"}


@dataclass
class Tenant:
    """One data set: an account, a mode, how many instances, and a key to read it."""

    label: str
    account_id: uuid.UUID
    livemode: bool
    instances: int
    key: str | None = None  # a test-mode key with every scope (None for extra data)


@dataclass
class Database:
    url: str
    embedded: Any | None  # platform_core.embedded_pg.EmbeddedPostgres, or None
    settings_changed: dict[str, str]

    def postmaster_pid(self) -> int | None:
        if self.embedded is None:
            return None
        try:
            return self.embedded._server.get_pid()
        except Exception:  # pragma: no cover - informational only
            return None

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def connect(url: str, **session: str) -> psycopg.Connection:
    options = " ".join(f"-c {k}={v}" for k, v in {"jit": "off", **session}.items())
    return psycopg.connect(url, autocommit=True, options=options)


def open_database(data_dir: pathlib.Path, fresh: bool, name: str = DATABASE_NAME) -> Database:
    """The embedded server in `data_dir` (tuned, see EMBEDDED_SETTINGS) unless DATABASE_URL is set.

    The benchmark always works in a database of its own (`name`, by default
    `partnerlytics_bench`), which a fresh run drops and re-creates.
    """
    from platform_core.embedded_pg import EmbeddedPostgres

    server_url = os.environ.get("DATABASE_URL")
    embedded = None
    changed: dict[str, str] = {}
    if server_url:
        admin_url = server_url.replace("postgresql+psycopg://", "postgresql://")
    else:
        embedded = EmbeddedPostgres(data_dir / "postgres")
        with psycopg.connect(embedded.admin_url, autocommit=True) as conn:
            for name, value in EMBEDDED_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed[name] = value
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            pending = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
        if pending:
            log.info("restarting the embedded PostgreSQL to apply %s", EMBEDDED_SETTINGS)
            embedded.stop()
            embedded = EmbeddedPostgres(data_dir / "postgres")
        admin_url = embedded.admin_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = embedded.url(name) if embedded is not None else _with_database(admin_url, name)
    return Database(url=url, embedded=embedded, settings_changed=changed)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


# ---------------------------------------------------------------------------------------
# Accounts and keys through the platform's own functions


async def _create_account(url: str, name: str, with_key: bool) -> tuple[uuid.UUID, str | None]:
    from platform_core import accounts, db

    engine = db.create_engine(url, pool_size=1)
    try:
        async with db.sessionmaker(engine)() as session:
            account = await accounts.create_account(session, name)
            key = None
            if with_key:
                _, key = await accounts.create_key(session, account.id, "test", name=f"{name} benchmark key")
            await session.commit()
            return account.id, key
    finally:
        await engine.dispose()


def create_account(
    loop: asyncio.AbstractEventLoop, url: str, name: str, with_key: bool = True
) -> tuple[uuid.UUID, str | None]:
    return loop.run_until_complete(_create_account(url, name, with_key))


# ---------------------------------------------------------------------------------------
# Bulk generation

_INSTANCES = """
INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at, is_purchase,
                       purchased_insider_id, ingested_at)
SELECT %(a)s, %(l)s, gen_random_uuid(), campaign, insider, started, purchase,
       CASE WHEN purchase THEN CASE WHEN random() < 0.85 THEN insider ELSE other END END,
       started + interval '2 seconds'
FROM (
  SELECT %(lo)s::timestamptz + random() * (%(hi)s::timestamptz - %(lo)s::timestamptz) AS started,
         random() < %(purchase_rate)s AS purchase,
         md5(%(a)s::text || ':campaign:' || floor(random() * 24)::int)::uuid AS campaign,
         md5(%(a)s::text || ':insider:' || floor(random() * 5000)::int)::uuid AS insider,
         md5(%(a)s::text || ':insider:' || floor(random() * 5000)::int)::uuid AS other
  FROM generate_series(1, %(n)s)
) s
ORDER BY started
"""

# Events of the instances started in [lo, hi), written in created_at order (as ingestion
# would), so that one instance's events lie on different heap pages as in production.
_EVENTS = """
WITH src AS (
  SELECT i.account_id, i.livemode, i.id AS instance_id, i.started_at,
         1 + abs(hashtext(i.id::text)) %% 19 AS n,
         'prod_' || lpad((abs(hashtext(i.id::text || 'p')) %% 400)::text, 3, '0') AS product
  FROM instances i
  WHERE i.account_id = %(a)s AND i.livemode = %(l)s AND i.started_at >= %(lo)s AND i.started_at < %(hi)s
), ev AS (
  SELECT s.account_id, s.livemode, s.instance_id, s.product,
         CASE WHEN e.k = 1 THEN 1 ELSE 1 + floor(random() * 4)::int END AS kind,
         least(s.started_at + e.k * (interval '15 seconds' + random() * interval '90 seconds'),
               %(anchor)s::timestamptz - random() * interval '1 second') AS at
  FROM src s CROSS JOIN LATERAL generate_series(1, s.n) AS e(k)
)
INSERT INTO events (account_id, livemode, id, instance_id, name, tracker_type, reference_id, created_at,
                    updated_at, metadata)
SELECT account_id, livemode, gen_random_uuid(), instance_id,
       (ARRAY['page view', 'product click', 'scroll', 'time on page'])[kind],
       (ARRAY['page_view', 'click_tracking', 'scroll_tracking', 'time_tracking'])[kind],
       CASE WHEN random() < 0.3 THEN 'ref_' || substr(md5(random()::text), 1, 16) END,
       at, at,
       CASE kind
         WHEN 1 THEN jsonb_build_object(
           'url', 'https://shop.example.com/p/' || product || '?utm_source=insider&utm_medium=share_link',
           'user_agent', (ARRAY[
             'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
             'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
             'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
             'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15'
           ])[1 + floor(random() * 4)::int],
           'referrer', (ARRAY['https://www.instagram.com/', 'https://t.co/', 'https://www.google.com/', 'direct'])[1 + floor(random() * 4)::int],
           'country', (ARRAY['US', 'GB', 'DE', 'FR', 'CA', 'AU'])[1 + floor(random() * 6)::int])
         WHEN 2 THEN jsonb_build_object(
           'product_id', product, 'price', round((5 + random() * 195)::numeric, 2),
           'element', (ARRAY['add-to-cart', 'buy-now', 'gallery', 'size-chart'])[1 + floor(random() * 4)::int])
         WHEN 3 THEN jsonb_build_object(
           'scroll_depth', round((random() * 100)::numeric, 1), 'max_scroll', 100,
           'page_height', 2400 + floor(random() * 3000)::int,
           'viewport_height', (ARRAY[667, 844, 900, 1080])[1 + floor(random() * 4)::int],
           'scroll_speed', (ARRAY['slow', 'medium', 'fast'])[1 + floor(random() * 3)::int])
         ELSE jsonb_build_object(
           'time_spent', round((5 + random() * 600)::numeric, 1), 'active_time', round((random() * 300)::numeric, 1),
           'idle_time', round((random() * 120)::numeric, 1), 'session_duration', round((30 + random() * 900)::numeric, 1),
           'engagement_score', round(random()::numeric, 2))
       END
FROM ev
ORDER BY at
"""

_ORDERS = """
INSERT INTO orders (account_id, livemode, id, instance_id, purchased_insider_id, total, currency, status,
                    discounted_price, cashfunds_used, credits_used, created_at)
SELECT account_id, livemode, gen_random_uuid(), id, purchased_insider_id, total, 'USD',
       (ARRAY['completed', 'completed', 'completed', 'refunded'])[1 + floor(random() * 4)::int],
       CASE WHEN random() < 0.3 THEN round(total * 0.9, 2) END,
       CASE WHEN random() < 0.15 THEN least(total, 10.00) ELSE 0 END,
       CASE WHEN random() < 0.1 THEN 5.00 ELSE 0 END,
       least(started_at + interval '4 minutes' + random() * interval '30 minutes',
             %(anchor)s::timestamptz - random() * interval '1 second')
FROM (SELECT *, round((10 + random() * 290)::numeric, 2) AS total FROM instances
      WHERE account_id = %(a)s AND livemode = %(l)s AND is_purchase) i
ORDER BY started_at
"""

_ORDER_ITEMS = """
INSERT INTO order_items (account_id, livemode, order_id, line, product_id, quantity, price)
SELECT o.account_id, o.livemode, o.id, k - 1, 'prod_' || lpad(floor(random() * 400)::text, 3, '0'),
       1 + floor(random() * 2)::int, round(o.total / o.n, 2)
FROM (SELECT *, 1 + floor(random() * 3)::int AS n FROM orders WHERE account_id = %(a)s AND livemode = %(l)s) o
CROSS JOIN LATERAL generate_series(1, o.n) AS k
"""

_REWARDS = """
INSERT INTO insider_rewards (account_id, livemode, id, instance_id, insider_id, type, amount, currency, status,
                             created_at)
SELECT account_id, livemode, gen_random_uuid(), instance_id, purchased_insider_id, 'commission',
       round(total * 0.1, 2), 'USD', (ARRAY['pending', 'paid'])[1 + floor(random() * 2)::int],
       created_at + interval '1 minute'
FROM orders WHERE account_id = %(a)s AND livemode = %(l)s
"""

# Exactly what ingestion keeps: instances per UTC hour and purchase state.
HOURLY_COUNTS = """
INSERT INTO instance_hourly_counts (account_id, livemode, hour, is_purchase, n)
SELECT account_id, livemode, date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', is_purchase, count(*)
FROM instances WHERE account_id = %(a)s AND livemode = %(l)s
GROUP BY 1, 2, 3, 4
ON CONFLICT (account_id, livemode, hour, is_purchase) DO UPDATE SET n = EXCLUDED.n
"""


def table_ddl(conn: psycopg.Connection, table: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """(foreign-key drops, key and index drops, key and index creates, foreign-key creates) of
    `table`, read from the catalog so that they are exactly what the migrations made.

    Bulk loads drop them all first and build them once at the end (sorted, fast); with
    several tables, every foreign key goes first and comes back last."""
    fk_drops, drops, creates, fk_creates = [], [], [], []
    fks = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", (table,)
    ).fetchall()
    keys = conn.execute(  # the primary key, unique and exclusion constraints
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'x') ORDER BY contype <> 'p', conname", (table,)
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) "
        "ORDER BY i.relname", (table,)
    ).fetchall()
    for name, definition in fks:
        fk_drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        fk_creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in keys:
        drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        drops.append(f'DROP INDEX "{name}"')
        # A partitioned table's index reads back as `ON ONLY` (the parent alone); rebuilt
        # without it, it is built on every partition too.
        creates.append(definition.replace(" ON ONLY ", " ON ", 1))
    return fk_drops, drops, creates, fk_creates


def _events_ddl(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """(drop statements, re-create statements) for the events table's PK, indexes and FKs."""
    fk_drops, drops, creates, fk_creates = table_ddl(conn, "events")
    return fk_drops + drops, creates + fk_creates


def load(
    url: str,
    tenants: list[Tenant],
    anchor: dt.datetime,
    progress: Callable[[str], None],
    deadline: float,
) -> dict[str, Any]:
    """Generates every tenant's data, builds the events indexes, VACUUM ANALYZE, CHECKPOINT.

    Returns timings and row counts. Bounded: one statement per slice of 100k instances.
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    with connect(url, **LOAD_SESSION) as conn:
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM events)").fetchone()[0]
        drops, creates = _events_ddl(conn) if empty else ([], [])
        for statement in drops:  # bulk load first, then build the indexes (sorted, fast)
            conn.execute(statement)
        # Time slices outermost and tenants within a slice, so that the tenants' rows are
        # interleaved in the tables as they are when many accounts ingest at once.
        slices = max(1, math.ceil(max(t.instances for t in tenants) / SLICE_INSTANCES))
        span = dt.timedelta(days=DAYS) / slices
        first = anchor - dt.timedelta(days=DAYS)
        done = {t.label: 0 for t in tenants}
        t0 = time.monotonic()
        for s in range(slices):
            lo, hi = first + span * s, first + span * (s + 1)
            for tenant in tenants:
                if time.monotonic() > deadline:
                    raise TimeoutError("the data load exceeded its time budget")
                n = tenant.instances * (s + 1) // slices - done[tenant.label]
                done[tenant.label] += n
                params = {"a": tenant.account_id, "l": tenant.livemode, "lo": lo, "hi": hi, "n": n,
                          "purchase_rate": PURCHASE_RATE, "anchor": anchor}
                with conn.transaction():
                    conn.execute(_INSTANCES, params)
                    conn.execute(_EVENTS, params)
            progress(f"  slice {s + 1}/{slices}: " + ", ".join(f"{k} {v:,}" for k, v in done.items()) + " instances")
        timings["instances and events"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        for tenant in tenants:
            params = {"a": tenant.account_id, "l": tenant.livemode, "anchor": anchor}
            with conn.transaction():
                conn.execute(_ORDERS, params)
                conn.execute(_ORDER_ITEMS, params)
                conn.execute(_REWARDS, params)
                conn.execute(HOURLY_COUNTS, params)
        timings["orders, items, rewards, hourly counts"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        for statement in creates:
            progress(f"  {statement[:90]}")
            conn.execute(statement)
        timings["build events PK, index and FKs"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        progress("  VACUUM ANALYZE")
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        timings["VACUUM ANALYZE + CHECKPOINT"] = round(time.monotonic() - t0, 1)
        counts = table_counts(conn)
    timings["total"] = round(time.monotonic() - started, 1)
    return {"timings_s": timings, "rows": counts}


def table_counts(conn: psycopg.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("instances", "events", "orders", "order_items", "insider_rewards", "instance_hourly_counts"):
        out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    sizes = conn.execute(
        "SELECT c.relname, pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)) "
        "FROM pg_class c WHERE c.relname IN ('instances', 'events', 'instance_hourly_counts') ORDER BY 1"
    ).fetchall()
    out["sizes"] = {name: {"table": t, "indexes": i} for name, t, i in sizes}
    out["database_size"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return out


def vacuum(url: str) -> float:
    t0 = time.monotonic()
    with connect(url) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return round(time.monotonic() - t0, 1)


# ---------------------------------------------------------------------------------------
# What a previous load left (for --reuse-data)

_META = "bench_meta"


def save_meta(url: str, meta: dict[str, Any]) -> None:
    with connect(url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_META} (id int PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute(
            f"INSERT INTO {_META} VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
            (json.dumps(meta, default=str),),
        )


def read_meta(url: str) -> dict[str, Any] | None:
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_META,)).fetchone()[0]
        if not exists:
            return None
        row = conn.execute(f"SELECT value FROM {_META} WHERE id = 1").fetchone()
        return row[0] if row else None


def tenant_to_json(t: Tenant) -> dict[str, Any]:
    return {**dataclasses.asdict(t), "account_id": str(t.account_id)}


def tenant_from_json(d: dict[str, Any]) -> Tenant:
    return Tenant(**{**d, "account_id": uuid.UUID(d["account_id"])})
