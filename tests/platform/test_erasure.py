"""Erasure on request (`admin erase`): one subject of one account gone from every table,
the aggregates still equal a recount of the raw rows, the other account untouched."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql

from partnerlytics.landing.v1 import landing_analytics_pb2_grpc as landing_grpc
from partnerlytics.voucher.v1 import voucher_analytics_pb2 as voucher_api
from partnerlytics.voucher.v1 import voucher_analytics_pb2_grpc as voucher_api_grpc
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from partnerlytics.voucher.v1 import voucher_ingestion_pb2_grpc as vpb_grpc
from platform_core.erasure import CANCELLED_REASON, subject_digest
from platform_core.paging import timestamp_of
from services.landing.salts import visitor_hash
from tests.support import factories as f
from tests.support.databases import SINGLE_SHARD
from tests.landing.test_landing_grpc import CHROME, create_tenant, track_request

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)
HOUR = NOW.replace(minute=0, second=0) - dt.timedelta(hours=3)
IP, OTHER_IP = "203.0.113.7", "203.0.113.8"


def erase(owner_url: str, export_dir, *args: str) -> dict:
    env = {**os.environ, "MIGRATION_DATABASE_URL": owner_url, "VOUCHER_EXPORT_DIR": str(export_dir),
           "EXPORTS_DIR": str(export_dir),
           "PGOPTIONS": SINGLE_SHARD}  # on Citus, a multi-shard statement of the erasure fails
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "services.admin", "erase", *args, "--actor", "dpo@example.com"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def references(owner_url: str, value: str, account_id: uuid.UUID) -> dict[str, int]:
    """Rows of the account, in every table of the schema, whose text holds `value` (any
    column, JSON and arrays included). A table without an account or tenant column is
    searched whole."""
    found = {}
    with psycopg.connect(owner_url) as conn:
        tables = conn.execute(
            "SELECT c.relname, array_agg(a.attname::text) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND a.attnum > 0 AND NOT a.attisdropped GROUP BY c.relname").fetchall()
        for table, columns in tables:
            if "account_id" in columns:
                scope = sql.SQL("AND account_id = %(a)s")
            elif "tenant_id" in columns:
                scope = sql.SQL("AND tenant_id IN (SELECT id FROM landing_tenants WHERE account_id = %(a)s)")
            else:
                scope = sql.SQL("")
            n = conn.execute(sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %(v)s) > 0 {}").format(
                sql.Identifier(table), scope), {"v": value, "a": account_id}).fetchone()[0]
            if n:
                found[table] = n
    return found


# Each aggregate table next to the same figures recounted from the raw rows; both sides
# must be equal as sets (EXCEPT both ways is empty).
RECOUNTS = {
    "instance_hourly_counts": (
        "SELECT livemode, hour, is_purchase, n FROM instance_hourly_counts WHERE account_id = %(a)s AND n <> 0",
        "SELECT livemode, date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', is_purchase, count(*) "
        "FROM instances WHERE account_id = %(a)s GROUP BY 1, 2, 3",
    ),
    "campaign_hourly_stats": (
        "SELECT livemode, campaign_id, hour, instances, purchases, revenue FROM campaign_hourly_stats "
        "WHERE account_id = %(a)s AND instances <> 0",
        "SELECT i.livemode, i.campaign_id, date_trunc('hour', i.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
        "count(*), count(*) FILTER (WHERE i.is_purchase), coalesce(sum(o.total) FILTER (WHERE i.is_purchase), 0) "
        "FROM instances i LEFT JOIN orders o ON o.account_id = i.account_id AND o.livemode = i.livemode "
        "AND o.instance_id = i.id WHERE i.account_id = %(a)s GROUP BY 1, 2, 3",
    ),
    "voucher_daily": (
        "SELECT livemode, voucher_id, day, uses, discount, gross, validations FROM voucher_daily "
        "WHERE account_id = %(a)s AND (uses <> 0 OR validations <> 0)",
        "SELECT livemode, voucher_id, day, sum(uses), sum(discount), sum(gross), sum(validations) FROM ("
        " SELECT livemode, voucher_id, (redeemed_at AT TIME ZONE 'UTC')::date AS day, 1 AS uses, discount, "
        "  order_total AS gross, 0 AS validations FROM voucher_redemptions WHERE account_id = %(a)s"
        " UNION ALL SELECT livemode, voucher_id, (validated_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 1 "
        "  FROM voucher_validations WHERE account_id = %(a)s) x GROUP BY 1, 2, 3",
    ),
    "landing_daily_stats": (
        "SELECT s.tenant_id, s.day, s.visitors, s.pageview, s.click_call, s.duration_ms FROM landing_daily_stats s "
        "JOIN landing_tenants t ON t.id = s.tenant_id WHERE t.account_id = %(a)s AND s.visitors <> 0",
        "SELECT e.tenant_id, (e.occurred_at AT TIME ZONE t.time_zone)::date, count(DISTINCT e.visitor_hash), "
        "count(*) FILTER (WHERE e.event_type = 1), count(*) FILTER (WHERE e.event_type = 3), "
        "coalesce(sum(e.duration_ms), 0) FROM landing_events e JOIN landing_tenants t ON t.id = e.tenant_id "
        "WHERE t.account_id = %(a)s GROUP BY 1, 2",
    ),
}


def aggregate_mismatches(owner_url: str, account_id: uuid.UUID) -> dict[str, int]:
    with psycopg.connect(owner_url) as conn:
        return {
            table: n for table, (kept, recount) in RECOUNTS.items()
            if (n := conn.execute(f"SELECT (SELECT count(*) FROM (({kept}) EXCEPT ({recount})) a) + "
                                  f"(SELECT count(*) FROM (({recount}) EXCEPT ({kept})) b)", {"a": account_id}
                                  ).fetchone()[0])
        }


async def _instances(channel, key: str, subject: str, order_id: str, event_id: str) -> None:
    """The subject (with an event, an order and a reward) and a neighbour in the same campaign-hour."""
    ingest = f.Ingest(channel, key)
    campaign, insider = str(uuid.uuid4()), str(uuid.uuid4())
    neighbour = str(uuid.uuid4())
    await ingest.instances([f.instance(HOUR, id=subject, campaign_id=campaign, insider_id=insider),
                            f.instance(HOUR + dt.timedelta(minutes=5), id=neighbour, campaign_id=campaign)])
    await ingest.events([f.page_view(subject, HOUR + dt.timedelta(minutes=1), id=event_id),
                         f.page_view(neighbour, HOUR + dt.timedelta(minutes=6))])
    await ingest.orders([f.order(subject, insider, HOUR + dt.timedelta(minutes=2), "40.00", id=order_id),
                         f.order(neighbour, insider, HOUR + dt.timedelta(minutes=7), "15.50")])
    await ingest.rewards([f.reward(subject, insider, HOUR + dt.timedelta(minutes=3))])


async def _vouchers(channel, key: str, voucher: str) -> None:
    """Two customers of one voucher: the subject `cus_erase` and `cus_keep`, both on the same days."""
    stub, md = vpb_grpc.VoucherIngestionServiceStub(channel), (("authorization", f"Bearer {key}"),)
    await stub.BatchCreateVouchers(vpb.BatchCreateVouchersRequest(vouchers=[vpb.VoucherRecord(
        id=voucher, code="ERASE10", currency="USD", created_at=timestamp_of(NOW - dt.timedelta(days=10)))]),
        metadata=md)
    await stub.BatchCreateCustomers(vpb.BatchCreateCustomersRequest(customers=[
        vpb.CustomerRecord(id=c, segment="retail", region="EU") for c in ("cus_erase", "cus_keep")]), metadata=md)
    validations, redemptions = [], []
    for n, customer in enumerate(["cus_erase", "cus_keep"] * 3):
        at = NOW - dt.timedelta(days=n // 2, minutes=n)
        validations.append(vpb.ValidationRecord(id=f"val_{n}", voucher_id=voucher, customer_id=customer,
                                                order_amount=1000 + n, validated_at=timestamp_of(at)))
        redemptions.append(vpb.RedemptionRecord(id=f"red_{n}", voucher_id=voucher, customer_id=customer,
                                                order_total=1000 + n, discount=100 + n, redeemed_at=timestamp_of(at)))
    await stub.BatchCreateValidations(vpb.BatchCreateValidationsRequest(validations=validations), metadata=md)
    await stub.BatchCreateRedemptions(vpb.BatchCreateRedemptionsRequest(redemptions=redemptions), metadata=md)


async def _export(channel, key: str, voucher: str) -> str:
    created = await voucher_api_grpc.VoucherAnalyticsServiceStub(channel).CreateExport(voucher_api.CreateExportRequest(
        voucher_ids=[voucher], metrics=["uses", "unique_customers"], format="csv",
        time_period=voucher_api.ExportPeriod(start=str(NOW.date() - dt.timedelta(days=5)), end=str(NOW.date())),
    ), metadata=(("authorization", f"Bearer {key}"),))
    return created.export_id


async def _visits(channel, tenant_id: int) -> None:
    stub = landing_grpc.LandingAnalyticsServiceStub(channel)
    for ip, kind in [(IP, "pageview"), (IP, "click_call"), (OTHER_IP, "pageview"), (IP, "pageview")]:
        await stub.TrackEvent(track_request(tenant_id, kind),
                              metadata=(("x-landing-user-agent", CHROME), ("x-landing-client-ip", ip)))


@pytest.fixture
async def two_accounts(make_tenant, channel, voucher_channel, landing_channel):
    """Two accounts holding the very same subject ids."""
    subject, order_id, event_id, voucher = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), "v_00e5a5e00e5a5e00"
    accounts = []
    for name in ("erasing", "keeping"):
        tenant = await make_tenant(name)
        await _instances(channel, tenant.test_key, subject, order_id, event_id)
        await _vouchers(voucher_channel, tenant.test_key, voucher)
        landing_tenant = await create_tenant(landing_channel, tenant.test_key, time_zone="Europe/Berlin")
        await _visits(landing_channel, landing_tenant.id)
        accounts.append((tenant, landing_tenant.id))
    return accounts, {"instance": [subject, order_id, event_id], "customer": ["cus_erase"], "voucher": voucher}


def _hashes(owner_url: str, tenant_id: int, ip: str) -> list[str]:
    with psycopg.connect(owner_url) as conn:
        salts = conn.execute("SELECT s.salt FROM landing_salts s JOIN landing_tenants t ON t.time_zone = s.time_zone "
                             "WHERE t.id = %s", (tenant_id,)).fetchall()
    return [visitor_hash(bytes(s), tenant_id, ip) for (s,) in salts]


def _audit_of_erasures(owner_url: str, account_id: uuid.UUID) -> list[dict]:
    with psycopg.connect(owner_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT details FROM audit_log WHERE endpoint = 'admin:erase' AND account_id = %s ORDER BY id",
            (account_id,))]


async def test_erasing_an_instance_leaves_no_trace_and_consistent_aggregates(two_accounts, owner_database_url,
                                                                             voucher_settings):
    (erasing, _), (keeping, _) = two_accounts[0]
    ids = two_accounts[1]["instance"]
    before = [references(owner_database_url, v, keeping.account_id) for v in ids]
    assert all(before) and not any(aggregate_mismatches(owner_database_url, a.account_id) for a in (erasing, keeping))

    done = erase(owner_database_url, voucher_settings.export_dir, "--kind", "instance",
                 "--account", str(erasing.account_id), "--id", ids[0])

    assert [references(owner_database_url, v, erasing.account_id) for v in ids] == [{}, {}, {}]
    assert [references(owner_database_url, v, keeping.account_id) for v in ids] == before
    assert aggregate_mismatches(owner_database_url, erasing.account_id) == {}
    assert {t: done["rows"][t] for t in ("instances", "events", "orders", "order_items", "insider_rewards")} == {
        "instances": 1, "events": 1, "orders": 1, "order_items": 1, "insider_rewards": 1}
    [audit] = _audit_of_erasures(owner_database_url, erasing.account_id)
    assert audit["subjects_sha256"] == [subject_digest(erasing.account_id, "instance", ids[0])]
    assert (audit["actor"], audit["rows"]) == ("dpo@example.com", done["rows"]) and ids[0] not in json.dumps(audit)


async def test_erasing_an_instance_cancels_and_deletes_the_export_services_jobs_of_its_sources(
    two_accounts, owner_database_url, voucher_settings
):
    """docs/exports.md: the jobs of the sources that hold instances (instance_journeys,
    campaign_instances) are cancelled or lose their file; other sources and accounts keep theirs."""
    (erasing, _), (keeping, _) = two_accounts[0]
    ids = two_accounts[1]["instance"]
    folder = voucher_settings.export_dir / str(erasing.account_id)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = {"running": (erasing, "instance_journeys", "processing"), "done": (erasing, "campaign_instances", "completed"),
            "other_source": (erasing, "affiliate_events", "completed"),
            "other_account": (keeping, "instance_journeys", "completed")}
    with psycopg.connect(owner_database_url) as conn:
        for n, (name, (tenant, source, status)) in enumerate(jobs.items()):
            # Pinned as no worker of the gateway's export service takes them: leased
            # elsewhere for an hour, or completed a day before they expire.
            conn.execute(
                "INSERT INTO export_jobs (account_id, livemode, id, source, format, range_start, range_end, status, "
                "created_at, lease_owner, lease_expires_at, file_name, completed_at, expires_at) VALUES "
                "(%(a)s, false, %(id)s, %(s)s, 'csv', now() - interval '1 day', now(), %(st)s::varchar, now(), "
                "CASE WHEN %(st)s::varchar = 'processing' THEN 'elsewhere' END, "
                "CASE WHEN %(st)s::varchar = 'processing' THEN now() + interval '1 hour' END, "
                "CASE WHEN %(st)s::varchar = 'completed' THEN %(f)s END, "
                "CASE WHEN %(st)s::varchar = 'completed' THEN now() END, "
                "CASE WHEN %(st)s::varchar = 'completed' THEN now() + interval '1 day' END)",
                {"a": tenant.account_id, "id": f"exp_{n:020x}", "s": source, "st": status, "f": f"{name}.csv"})
    for name in ("done", "other_source"):
        (folder / f"{name}.csv").write_text("instance_id\n")

    done = erase(owner_database_url, voucher_settings.export_dir, "--kind", "instance",
                 "--account", str(erasing.account_id), "--id", ids[0])

    with psycopg.connect(owner_database_url) as conn:
        found = {row[0]: row[1:] for row in conn.execute(
            "SELECT source || ':' || status, failure_reason, file_name FROM export_jobs WHERE account_id = ANY(%s)",
            ([erasing.account_id, keeping.account_id],)).fetchall()}
    assert found["instance_journeys:failed"] == (CANCELLED_REASON, None)
    assert found["campaign_instances:expired"] == (None, None)
    assert found["affiliate_events:completed"] == (None, "other_source.csv")
    assert found["instance_journeys:completed"] == (None, "other_account.csv")
    assert not (folder / "done.csv").exists() and (folder / "other_source.csv").exists()
    assert done["export_files_deleted"] == 1
    assert (done["rows"]["export_jobs (queued, cancelled)"], done["rows"]["export_jobs (file deleted)"]) == (1, 1)


async def test_erasing_a_customer_cancels_and_deletes_the_exports_that_hold_them(
    two_accounts, owner_database_url, voucher_channel, voucher_settings
):
    (erasing, _), (keeping, _) = two_accounts[0]
    voucher = two_accounts[1]["voucher"]
    queued = await _export(voucher_channel, erasing.test_key, voucher)
    completed = await _export(voucher_channel, erasing.test_key, voucher)
    other = await _export(voucher_channel, keeping.test_key, voucher)
    # A finished file of the account, as the worker leaves it.
    file = voucher_settings.export_dir / str(erasing.account_id) / f"{completed}.csv"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("voucher_id,day,uses,unique_customers\n")
    # The gateway's voucher service works on the same queue: pin both jobs' states (one
    # leased to a worker of its own, one done) so that its workers leave them alone.
    with psycopg.connect(owner_database_url) as conn:
        conn.execute("UPDATE voucher_exports SET status = 'processing', lease_owner = 'elsewhere', "
                     "lease_expires_at = now() + interval '1 hour', file_name = NULL, completed_at = NULL "
                     "WHERE id = %s", (queued,))
        conn.execute("UPDATE voucher_exports SET status = 'completed', file_name = %s, completed_at = now(), "
                     "expires_at = now() + interval '1 day', lease_owner = NULL WHERE id = %s", (file.name, completed))
    before = references(owner_database_url, "cus_erase", keeping.account_id)

    done = erase(owner_database_url, voucher_settings.export_dir, "--kind", "customer",
                 "--account", str(erasing.account_id), "--id", "cus_erase")

    assert references(owner_database_url, "cus_erase", erasing.account_id) == {}
    assert references(owner_database_url, "cus_keep", erasing.account_id) != {}
    assert references(owner_database_url, "cus_erase", keeping.account_id) == before != {}
    assert aggregate_mismatches(owner_database_url, erasing.account_id) == {}
    with psycopg.connect(owner_database_url) as conn:
        jobs = dict(conn.execute("SELECT id, (status, failure_reason, file_name) FROM voucher_exports "
                                 "WHERE id = ANY(%s)", ([queued, completed, other],)).fetchall())
    assert {k: v for k, v in jobs.items() if k != other} == {
        queued: ("failed", CANCELLED_REASON, None), completed: ("expired", None, None)}
    assert jobs[other][0] in ("processing", "completed")  # the other account's export is not touched
    assert not file.exists() and done["export_files_deleted"] == 1
    assert (done["rows"]["voucher_redemptions"], done["rows"]["voucher_validations"]) == (3, 3)


async def test_erasing_a_visitor_by_ip_removes_its_hashes_everywhere(two_accounts, owner_database_url,
                                                                     voucher_settings):
    (erasing, erasing_tenant), (keeping, keeping_tenant) = two_accounts[0]
    hashes = _hashes(owner_database_url, erasing_tenant, IP)
    kept = _hashes(owner_database_url, keeping_tenant, IP)
    before = [references(owner_database_url, h, keeping.account_id) for h in kept]
    assert any(references(owner_database_url, h, erasing.account_id) for h in hashes) and any(before)

    done = erase(owner_database_url, voucher_settings.export_dir, "--kind", "visitor",
                 "--account", str(erasing.account_id), "--ip", IP)

    assert [references(owner_database_url, h, erasing.account_id) for h in hashes] == [{}] * len(hashes)
    assert [references(owner_database_url, h, keeping.account_id) for h in kept] == before
    assert aggregate_mismatches(owner_database_url, erasing.account_id) == {}
    assert done["rows"]["landing_events"] == 3
    with psycopg.connect(owner_database_url) as conn:  # the other visitor of the tenant stays counted
        assert conn.execute("SELECT visitors, pageview FROM landing_daily_stats WHERE tenant_id = %s",
                            (erasing_tenant,)).fetchall() == [(1, 1)]
    for value in (IP, *hashes):
        assert value not in json.dumps(_audit_of_erasures(owner_database_url, erasing.account_id))


def test_erase_refuses_an_ip_for_other_kinds_and_a_malformed_instance_id(owner_database_url):
    env = {**os.environ, "MIGRATION_DATABASE_URL": owner_database_url}
    for args in (["--kind", "customer", "--ip", IP], ["--kind", "instance", "--id", "not-a-uuid"]):
        done = subprocess.run([sys.executable, "-m", "services.admin", "erase", "--account", str(uuid.uuid4()),
                               *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "error" in done.stderr
