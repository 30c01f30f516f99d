"""The schema on a real Citus cluster (a coordinator and two workers on this machine):
`alembic upgrade head` distributes it as platform_core/distribution.py says, an account's
rows sit on one worker, and every statement of every read endpoint runs on one shard
(docs/scaling.md).
As under `make test-citus`, the app role's multi-shard statements fail on this cluster
(`refuse_multi_shard`), and the owner's maintenance and erasure run with the same setting.

Citus is installed by tools/citus/install.sh when missing; a machine where that fails
fails these tests with the reason, never skips them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib
import inspect
import subprocess
import uuid

import psycopg
import pytest
import pytest_asyncio
from google.protobuf import struct_pb2
from partnerlytics.affiliate.v1 import affiliate_analytics_pb2 as affiliate
from partnerlytics.campaign.v1 import campaign_analytics_pb2 as campaign
from partnerlytics.campaign.v1 import campaigns_pb2 as campaigns
from partnerlytics.exports.v1 import exports_pb2 as family_exports
from partnerlytics.instance.v1 import instance_analytics_pb2 as instance
from partnerlytics.landing.v1 import landing_analytics_pb2 as landing
from partnerlytics.landing.v1 import tenants_pb2 as tenants
from partnerlytics.voucher.v1 import voucher_analytics_pb2 as voucher
from partnerlytics.webhooks.v1 import webhooks_pb2 as webhooks
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.schema import REFERENCE_TABLES
from platform_core import context as request_context
from platform_core import db, erasure, lifecycle, sessions
from platform_core.accounts import Principal
from platform_core.auth import Authenticator
from platform_core.citus_cluster import CitusCluster, citus_installed, citus_library, refuse_multi_shard
from platform_core.context import RequestContext
from platform_core.distribution import CROSS_ACCOUNT
from platform_core.errors import Unprocessable
from platform_core.ratelimit import MemoryLimiter
from platform_core.server import Deps
from services.affiliate.servicer import SECTIONS
from services.exports import config as exports_config
from services.exports import jobs as family_jobs
from services.exports.jobs import ExportWorker as FamilyExportWorker
from services.exports.sources import SOURCES as EXPORT_SOURCES
from services.landing.store import COLUMNS as LANDING_COLUMNS
from services.landing.store import prune_daily_visitors
from services.registry import families
from services.voucher import exports
from services.voucher.config import voucher_settings
from services.voucher.exports import ExportWorker
from stack.demo import DEMO_ACCOUNT_ID, DEMO_KEY, LANDING_TENANTS, demo_id, voucher_id
from stack.run import ROOT, migrate, seed_demo
from tests.conftest import make_settings
from tests.support.databases import SINGLE_SHARD

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


def _is_router(plan: str) -> bool:
    """A Citus plan of one task: the statement runs on the one node of its shard."""
    tasks = [line.strip() for line in plan.splitlines() if "Task Count" in line]
    return "Citus Adaptive" in plan and bool(tasks) and all(t == "Task Count: 1" for t in tasks)


def declared_read_rpcs() -> set[str]:
    """Every read RPC the protos declare (`Service/Method`): a method of any service whose
    name starts with Get, List or Download, from the generated descriptors."""
    found = set()
    for path in sorted((ROOT / "gen" / "partnerlytics").rglob("*_pb2.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT / "gen").with_suffix("").parts))
        for service in module.DESCRIPTOR.services_by_name.values():
            found.update(f"{service.name}/{m.name}" for m in service.methods
                         if m.name.startswith(("Get", "List", "Download")))
    return found


def _read_calls(ids: dict[str, str]) -> list[tuple[str, object]]:
    """Each read RPC with every variant of its parameters that changes its SQL (`Service/Method`, request)."""
    today = dt.datetime.now(dt.UTC).date()
    week_ago, month_ago = str(today - dt.timedelta(days=6)), str(today - dt.timedelta(days=30))
    calls: list[tuple[str, object]] = []
    for frame in ("hour", "day", "custom"):
        for purchased in (None, "true", "false"):
            request = instance.ListInstanceAnalyticsRequest(time_frame=frame, limit="5")
            if purchased is not None:
                request.is_purchased = purchased
            if frame == "custom":
                request.start_date, request.end_date = month_ago, str(today)
            calls.append(("InstanceAnalyticsService/ListInstanceAnalytics", request))
    ids_value = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[
        struct_pb2.Value(string_value=ids["instance"]), struct_pb2.Value(string_value=ids["purchased_instance"])]))
    for events in ("first", "last", "all"):
        calls.append(("InstanceAnalyticsService/GetInstanceDetails", instance.GetInstanceDetailsRequest(
            events=events, body=instance.GetInstanceDetailsBody(instance_ids=ids_value))))
    for frame in ("per_hour", "per_day", "per_month", "custom_range"):
        for purchased in (None, "true"):
            request = campaign.GetCampaignAnalyticsRequest(campaign_id=ids["campaign"], time_frame=frame, limit="5")
            if purchased is not None:
                request.is_purchase = purchased
            if frame == "custom_range":
                request.start_date, request.end_date = month_ago, str(today)
            calls.append(("CampaignAnalyticsService/GetCampaignAnalytics", request))
    calls.append(("CampaignService/ListCampaigns", campaigns.ListCampaignsRequest(page_size=5)))
    for section in SECTIONS:  # every metric of the section (none named)
        calls.append(("AffiliateAnalyticsService/GetAffiliateAnalytics",
                      affiliate.GetAffiliateAnalyticsRequest(section=section, **{"from": week_ago})))
    calls.append(("AffiliateAnalyticsService/GetAffiliateAnalytics",
                  affiliate.GetAffiliateAnalyticsRequest(section="recent_conversions", page="2", per_page="10")))
    for details in ("true", "false"):
        calls.append(("VoucherAnalyticsService/GetVoucherPerformance",
                      voucher.GetVoucherPerformanceRequest(voucher_id=ids["voucher"], include_details=details)))
    for interval in ("day", "week", "month"):
        calls.append(("VoucherAnalyticsService/GetVoucherTrends",
                      voucher.GetVoucherTrendsRequest(voucher_id=ids["voucher"], interval=interval)))
    calls.append(("VoucherAnalyticsService/GetVoucherCustomers",
                  voucher.GetVoucherCustomersRequest(voucher_id=ids["voucher"], start_date=month_ago)))
    calls.append(("VoucherAnalyticsService/GetExport", voucher.GetExportRequest(export_id=ids["export"])))
    calls.append(("VoucherAnalyticsService/DownloadExport", voucher.DownloadExportRequest(export_id=ids["export"])))
    calls.append(("ExportService/GetExportJob", family_exports.GetExportJobRequest(export_id=ids["export_job"])))
    calls.append(("ExportService/ListExportJobs", family_exports.ListExportJobsRequest()))
    calls.append(("ExportService/DownloadExportJob",
                  family_exports.DownloadExportJobRequest(export_id=ids["export_job"])))
    calls.append(("LandingAnalyticsService/GetAnalytics", landing.GetAnalyticsRequest(tenant_id=ids["tenant"])))
    calls.append(("LandingAnalyticsService/GetTodayAnalytics", landing.GetTodayAnalyticsRequest(tenant_id=ids["tenant"])))
    calls.append(("LandingTenantService/GetTenant", tenants.GetTenantRequest(id=int(ids["tenant"]))))
    calls.append(("WebhookService/ListWebhookEndpoints", webhooks.ListWebhookEndpointsRequest()))
    calls.append(("WebhookService/GetWebhookEndpoint", webhooks.GetWebhookEndpointRequest(endpoint_id=ids["webhook"])))
    calls.append(("WebhookService/ListWebhookDeliveries",
                  webhooks.ListWebhookDeliveriesRequest(endpoint_id=ids["webhook"], limit=5)))
    return calls


@pytest.fixture(scope="module")
def demo_database(citus):
    """The cluster's database with `make run`'s demo data (the demo account's rows)."""
    urls, _ = citus
    seed_demo(urls.owner)
    return urls


class _Context:
    """The servicer context of a call without metadata (no `range` header on a download)."""

    def invocation_metadata(self):
        return ()


async def _call(servicer, method: str, request) -> None:
    """One RPC on the servicer as the server calls it (a streaming one read to its end).
    A window without data answers 422 after its reads: the statements are what counts."""
    reply = getattr(servicer, method)(request, _Context())
    with contextlib.suppress(Unprocessable):
        if inspect.isasyncgen(reply):
            assert [message async for message in reply]
        else:
            await reply


async def test_every_read_endpoints_statements_are_router_plans(demo_database, monkeypatch, tmp_path):
    """Each read RPC the protos declare (`declared_read_rpcs`), called on its servicer as
    the server does for the demo account, with each variant of its parameters that
    changes its SQL: every statement it sends is planned as one task on one node
    (docs/scaling.md). So is the lookup of a key and of a session every request starts
    with. A read RPC added without a call here fails the test."""
    monkeypatch.setenv("VOUCHER_EXPORT_WORKERS", "0")
    monkeypatch.setenv("VOUCHER_EXPORT_DIR", str(tmp_path))
    monkeypatch.setenv("EXPORTS_WORKERS", "0")
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "family-exports"))
    monkeypatch.setenv("WEBHOOK_WORKERS", "0")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_URLS", "1")
    deps = Deps.from_settings(make_settings(demo_database.app), limiter=MemoryLimiter())
    key = await deps.authenticator.identify(f"Bearer {DEMO_KEY}")
    who = Principal(account_id=DEMO_ACCOUNT_ID, key_id=key.key_id, mode="test", scopes=key.scopes)
    statements: dict[str, list[tuple[str, object]]] = {}
    capturing: contextvars.ContextVar[list | None] = contextvars.ContextVar("capturing", default=None)

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen = capturing.get()
        if seen is not None:
            seen.append((statement, parameters))

    def enter(method: str) -> None:
        ctx = RequestContext(request_id=str(uuid.uuid4()), method=method, received_at=dt.datetime.now(dt.UTC),
                             principal=who)
        request_context.current.set(ctx)

    event.listen(deps.engine.sync_engine, "before_cursor_execute", capture)
    outside = request_context.current.set(None)
    try:
        async with contextlib.AsyncExitStack() as stack:
            servicers = {}
            for family in families():
                for spec in await stack.enter_async_context(family.serve(deps)):
                    servicers[spec.full_name.rsplit(".", 1)[-1]] = spec.servicer
            # What the reads name: the demo's ids, an export built by a worker, a webhook endpoint.
            enter("setup")
            export = await servicers["VoucherAnalyticsService"].CreateExport(voucher.CreateExportRequest(
                voucher_ids=[voucher_id(0)], metrics=["uses", "orders"], format="csv"), None)
            assert await ExportWorker(deps.engine, demo_database.app, voucher_settings()).run_once()
            job = await servicers["ExportService"].CreateExportJob(family_exports.CreateExportJobRequest(
                source="instance_journeys", format="csv"), None)
            assert await FamilyExportWorker(deps.engine, demo_database.app, exports_config.load(),
                                            EXPORT_SOURCES).run_once()
            endpoint = await servicers["WebhookService"].CreateWebhookEndpoint(webhooks.CreateWebhookEndpointRequest(
                url="http://127.0.0.1:9/hook"), None)
            ids = {"instance": demo_id("instance", 0), "campaign": demo_id("campaign", 0), "voucher": voucher_id(0),
                   "export": export.export_id, "export_job": job.export.export_id, "tenant": str(LANDING_TENANTS[0][0]),
                   "webhook": endpoint.endpoint.id}
            async with deps.sessions() as session, session.begin():
                _row, token = await sessions.create_session(session, who, 60, dt.datetime.now(dt.UTC))
            ids["purchased_instance"] = _purchased_instance(demo_database.app)
            for rpc, request in _read_calls(ids):
                service, method = rpc.split("/")
                seen = statements.setdefault(rpc, [])
                enter(rpc)
                reset = capturing.set(seen)
                try:
                    await _call(servicers[service], method, request)
                finally:
                    capturing.reset(reset)
            for name, bearer in (("key lookup", DEMO_KEY), ("session lookup", token)):
                reset = capturing.set(statements.setdefault(name, []))
                try:
                    await Authenticator(deps.reader, cache_seconds=0).identify(f"Bearer {bearer}")
                finally:
                    capturing.reset(reset)
    finally:
        request_context.current.reset(outside)
        event.remove(deps.engine.sync_engine, "before_cursor_execute", capture)
        await deps.audit.close()
        await deps.engine.dispose()
    assert set(statements) - {"key lookup", "session lookup"} == declared_read_rpcs()
    assert {rpc for rpc, seen in statements.items() if not seen} == set()
    not_router = {}
    with psycopg.connect(demo_database.app, autocommit=True) as conn:
        for rpc, seen in statements.items():
            for statement, parameters in seen:
                plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + statement, parameters).fetchall())
                if not _is_router(plan):
                    not_router.setdefault(rpc, []).append(f"{statement}\n{plan}")
        # The check tells a statement on every shard apart (which the app role may plan
        # only once it says so: the setting refuses it even in EXPLAIN).
        with conn.transaction():
            conn.execute(CROSS_ACCOUNT)
            spanning = "\n".join(row[0] for row in conn.execute("EXPLAIN SELECT count(*) FROM instances"))
    assert not_router == {}
    assert not _is_router(spanning) and "Citus Adaptive" in spanning


def _purchased_instance(app_url: str) -> str:
    """A demo instance with a purchase (its order and rewards are read too)."""
    with psycopg.connect(app_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM instances WHERE account_id = %s AND is_purchase LIMIT 1",
                           (DEMO_ACCOUNT_ID,)).fetchone()
    return str(row[0])


@pytest.mark.parametrize("queue", [exports.QUEUE, family_jobs.QUEUE], ids=lambda queue: queue.name)
async def test_the_export_claim_takes_its_job_with_a_router_query(app_engine, queue):
    """The claim's second step, the one that locks (docs/scaling.md, "The export queue"),
    of each family's queue table (platform_core/export_queue.py)."""
    params = {"a": uuid.uuid4(), "l": False, "id": "export_x", "w": "worker", "lease": 60,
              "now": dt.datetime.now(dt.UTC)}
    async with app_engine.connect() as conn:
        compiled = queue.claim.compile(conn.sync_connection)
        rows = (await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)).all()
    assert _is_router("\n".join(row[0] for row in rows))


async def test_a_multi_shard_statement_of_the_app_fails_unless_it_says_it_spans_accounts(citus, app_engine):
    urls, _ = citus
    async with app_engine.connect() as conn:
        with pytest.raises(Exception, match="multi-task query about to be executed"):
            await conn.exec_driver_sql("SELECT count(*) FROM instances")
        await conn.rollback()
        await conn.exec_driver_sql(CROSS_ACCOUNT)
        counted = (await conn.exec_driver_sql("SELECT count(*) FROM instances")).scalar()
        await conn.rollback()
    with psycopg.connect(urls.superuser) as superuser:
        assert superuser.execute("SELECT count(*) FROM instances").fetchone() == (counted,)
    async with app_engine.connect() as conn:
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
