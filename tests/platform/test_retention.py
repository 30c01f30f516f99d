"""Every table's retention rule, applied by one maintenance pass on a chosen clock
(platform_core/lifecycle.py, docs/lifecycle.md "Every table's rule")."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import secrets
import uuid

import psycopg
import pytest

from migrations.schema import metadata
from platform_core import lifecycle, maintenance
from platform_core.config import ConfigError
from stack.run import migrate
from tests.support.databases import scratch_database, single_shard

NOW = dt.datetime.now(dt.timezone.utc).replace(minute=30, second=0, microsecond=0)
# The short account keeps raw rows 30 days and aggregates 90; the other one the defaults.
YOUNG, OLD = NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=60)


@pytest.fixture(scope="module")
def urls(database_server):
    with scratch_database(database_server, "retention") as urls:
        migrate(urls.owner)
        yield urls


@pytest.fixture
def conn(urls):
    with psycopg.connect(urls.owner, autocommit=True) as connection:
        yield connection


def new_account(conn, raw_days: int | None = None, aggregate_days: int | None = None) -> uuid.UUID:
    account_id = uuid.uuid4()
    conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'retention')", (account_id,))
    if raw_days is not None:
        conn.execute("INSERT INTO account_retention (account_id, raw_days, aggregate_days) VALUES (%s, %s, %s)",
                     (account_id, raw_days, aggregate_days))
    return account_id


def instance(conn, a: uuid.UUID, started: dt.datetime, *, event=None, order=None, reward=None) -> uuid.UUID:
    """An instance with the given children, counted in the list's hourly counts and the
    campaign's hourly stats as ingestion would."""
    i, campaign = uuid.uuid4(), uuid.UUID(int=1)
    hour = started.replace(minute=0)
    conn.execute("INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at, is_purchase) "
                 "VALUES (%s, true, %s, %s, %s, %s, %s)", (a, i, campaign, uuid.uuid4(), started, order is not None))
    conn.execute("INSERT INTO instance_hourly_counts (account_id, livemode, hour, is_purchase, n) VALUES (%s, true, %s, %s, 1) "
                 "ON CONFLICT "
                 "(account_id, livemode, hour, is_purchase) DO UPDATE SET n = instance_hourly_counts.n + 1",
                 (a, hour, order is not None))
    conn.execute("INSERT INTO campaign_hourly_stats (account_id, livemode, campaign_id, hour, instances, purchases, "
                 "revenue) VALUES (%s, true, %s, %s, 1, 0, 0) ON CONFLICT (account_id, livemode, campaign_id, hour) "
                 "DO UPDATE SET instances = campaign_hourly_stats.instances + 1", (a, campaign, hour))
    if event:
        conn.execute("INSERT INTO events (account_id, livemode, id, instance_id, name, tracker_type, created_at, "
                     "updated_at, metadata) VALUES (%s, true, %s, %s, 'view', 'page', %s, %s, '{}')",
                     (a, uuid.uuid4(), i, event, event))
    if order:
        order_id = uuid.uuid4()
        conn.execute("INSERT INTO orders (account_id, livemode, id, instance_id, purchased_insider_id, total, "
                     "currency, status, cashfunds_used, credits_used, created_at) "
                     "VALUES (%s, true, %s, %s, %s, 10, 'EUR', 'paid', 0, 0, %s)", (a, order_id, i, uuid.uuid4(), order))
        for line in (1, 2):
            conn.execute("INSERT INTO order_items (account_id, livemode, order_id, line, product_id, quantity, price) "
                         "VALUES (%s, true, %s, %s, 'p', 1, 5)", (a, order_id, line))
    if reward:
        conn.execute("INSERT INTO insider_rewards (account_id, livemode, id, instance_id, insider_id, type, amount, "
                     "currency, status, created_at) VALUES (%s, true, %s, %s, %s, 'cash', 1, 'EUR', 'paid', %s)",
                     (a, uuid.uuid4(), i, uuid.uuid4(), reward))
    return i


def export(conn, a: uuid.UUID, status: str, created: dt.datetime) -> str:
    export_id = f"export_{secrets.token_hex(8)}"
    conn.execute("INSERT INTO voucher_exports (account_id, livemode, id, status, format, voucher_ids, metrics, "
                 "period_start, period_end, record_count, created_at, estimated_completion) "
                 "VALUES (%s, true, %s, %s, 'csv', '{}', '{}', %s, %s, 0, %s, %s)",
                 (a, export_id, status, created.date(), created.date(), created, created))
    return export_id


def ids(conn, table: str, a: uuid.UUID, column: str = "id") -> set:
    return {row[0] for row in conn.execute(f"SELECT {column} FROM {table} WHERE account_id = %s", (a,))}


def rows(conn, query: str, *params) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def seed(conn, a: uuid.UUID) -> dict:
    """Rows on both sides of the short account's cutoffs."""
    for day in (OLD, YOUNG):
        conn.execute("INSERT INTO voucher_daily (account_id, livemode, voucher_id, day, uses) "
                     "VALUES (%s, true, 'v_0000000000000000', %s, 1)", (a, day.date()))
    return {
        "gone": instance(conn, a, OLD, event=OLD, order=OLD, reward=OLD),
        # Started before the cutoff, but active since: kept whole, its old order too.
        "evented": instance(conn, a, OLD, event=YOUNG, order=OLD),
        "rewarded": instance(conn, a, OLD, reward=YOUNG),
        "young": instance(conn, a, YOUNG, event=YOUNG, order=YOUNG, reward=YOUNG),
        "exports": [export(conn, a, "expired", OLD), export(conn, a, "failed", OLD),
                    export(conn, a, "processing", OLD), export(conn, a, "expired", YOUNG)],
    }


def test_one_pass_applies_every_rule_to_its_own_rows_and_keeps_the_aggregates(conn, urls):
    short, other = new_account(conn, raw_days=30, aggregate_days=90), new_account(conn)
    seeded = {a: seed(conn, a) for a in (short, other)}
    audit = {at: conn.execute("INSERT INTO audit_log (at, account_id, endpoint, status, grpc_code, request_id) "
                              "VALUES (%s, %s, 'x', 200, 'OK', 'r') RETURNING id", (at, a)).fetchone()[0]
             for at, a in ((NOW - dt.timedelta(days=500), short), (NOW - dt.timedelta(days=401), None),
                           (NOW - dt.timedelta(days=399), other))}
    for zone, expires in (("Europe/Paris", NOW - dt.timedelta(hours=1)), ("Asia/Tokyo", NOW + dt.timedelta(hours=1))):
        conn.execute("INSERT INTO landing_salts (time_zone, day, salt, expires_at) VALUES (%s, %s, %s, %s)",
                     (zone, NOW.date(), b"s" * 32, expires))
        conn.execute("INSERT INTO rate_limit_windows (key, window_start_ms, prev_count, cur_count, allowed, seen_ms, "
                     "expires_at) VALUES (%s, 0, 0, 1, true, 0, %s)", (zone, expires))
    aggregates = "SELECT * FROM {} WHERE account_id = ANY(%s) ORDER BY 1, 2, 3, 4"
    before = {t: rows(conn, aggregates.format(t), [short, other]) for t in ("campaign_hourly_stats", "voucher_daily")}

    with single_shard(conn):
        report = lifecycle.run_once(conn, NOW, batch=1, audit_days=400)  # one row per batch: the batches loop

    s, o = seeded[short], seeded[other]
    assert ids(conn, "instances", short) == {s["evented"], s["rewarded"], s["young"]}
    assert ids(conn, "instances", other) == {o["gone"], o["evented"], o["rewarded"], o["young"]}
    assert ids(conn, "orders", short, "instance_id") == {s["evented"], s["young"]}
    assert ids(conn, "insider_rewards", short, "instance_id") == {s["rewarded"], s["young"]}
    assert ids(conn, "events", short, "instance_id") == {s["evented"], s["young"]}  # the 60-day-old event went
    assert ids(conn, "events", other, "instance_id") == {o["gone"], o["evented"], o["young"]}
    items = "SELECT count(*) FROM order_items WHERE account_id = %s"
    assert (rows(conn, items, short), rows(conn, items, other)) == ([(4,)], [(6,)])
    assert report.deleted["instances"] == 1 and report.deleted["order_items"] == 2
    # The list's hourly counts follow the instances (its total is what it can list) ...
    for a in (short, other):
        assert rows(conn, "SELECT hour, is_purchase, n FROM instance_hourly_counts WHERE account_id = %s "
                          "ORDER BY 1, 2", a) == rows(
            conn, "SELECT date_trunc('hour', started_at), is_purchase, count(*) FROM instances "
                  "WHERE account_id = %s GROUP BY 1, 2 ORDER BY 1, 2", a)
    # ... the aggregates keep the expired instances' figures.
    assert {t: rows(conn, aggregates.format(t), [short, other]) for t in before} == before
    assert ids(conn, "voucher_exports", short) == set(s["exports"][2:])  # processing and young stay
    assert ids(conn, "voucher_exports", other) == set(o["exports"])
    assert {r[0] for r in rows(conn, "SELECT id FROM audit_log")} == {audit[NOW - dt.timedelta(days=399)]}
    assert rows(conn, "SELECT time_zone FROM landing_salts") == [("Asia/Tokyo",)]
    assert rows(conn, "SELECT key FROM rate_limit_windows") == [("Asia/Tokyo",)]


def test_the_audit_log_stays_append_only_outside_its_retention(conn, urls):
    old = NOW - dt.timedelta(days=900)
    conn.execute("INSERT INTO audit_log (at, endpoint, status, grpc_code, request_id) VALUES (%s, 'x', 200, 'OK', 'r')",
                 (old,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE at = %s", (old,))  # the owner, outside audit_log_expire
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE audit_log SET status = 1 WHERE at = %s", (old,))
    with psycopg.connect(urls.app, autocommit=True) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT audit_log_expire(now(), 10)")
    assert rows(conn, "SELECT count(*) FROM audit_log WHERE at = %s", old) == [(1,)]


def test_every_table_has_exactly_one_rule_and_the_document_lists_it():
    timed = [t.name for t in lifecycle.PARTITIONED + lifecycle.RAW_UNPARTITIONED + lifecycle.AGGREGATES]
    assert len(timed) == len(set(timed)) and not lifecycle.aged_tables() & set(lifecycle.KEPT)
    assert lifecycle.aged_tables() | set(lifecycle.KEPT) == set(metadata.tables)
    doc = (pathlib.Path(__file__).parent.parent.parent / "docs" / "lifecycle.md").read_text()
    section = doc.split("## Every table's rule", 1)[1].split("\n## ", 1)[0]
    assert sorted(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)) == sorted(metadata.tables)


def test_the_job_reads_the_audit_retention_from_its_setting(monkeypatch):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    assert maintenance.audit_days() == 30
    monkeypatch.delenv("AUDIT_RETENTION_DAYS")
    assert maintenance.audit_days() == lifecycle.DEFAULT_AUDIT_DAYS == 400
    for wrong in ("0", "a year"):
        monkeypatch.setenv("AUDIT_RETENTION_DAYS", wrong)
        with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
            maintenance.audit_days()
