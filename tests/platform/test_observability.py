"""Observability of the running stack: each service's Prometheus `/metrics`, Envoy's stats
listener, and the JSON access lines with the request id (docs/observability.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from gateway import envoy_config
from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as pb_grpc
from platform_core.config import load_settings
from platform_core.distribution import CROSS_ACCOUNT
from tests.support import factories as f
from tests.landing.test_landing_grpc import CHROME, create_tenant

PATH = "/partner/v1/instances/analytics"
LIST = "InstanceAnalyticsService/ListInstanceAnalytics"
BATCH = "InstanceIngestionService/BatchCreateInstances"


def scrape(stack, service: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a service process's /metrics, by (name, labels)."""
    port = stack.metrics_ports[service][0]
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest_asyncio.fixture
async def instance_channel(gateway):
    """gRPC straight to the stack's instance service process (no gateway)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.service_ports['instance'][0]}") as channel:
        yield channel


def test_metrics_port_is_the_grpc_port_plus_1000_unless_set_and_0_turns_it_off(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused/db")
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert load_settings().metrics_port_for(50051) == 51051
    monkeypatch.setenv("METRICS_PORT", "9464")
    assert load_settings().metrics_port_for(50051) == 9464
    monkeypatch.setenv("METRICS_PORT", "0")
    assert load_settings().metrics_port_for(50051) == 0


async def test_requests_are_counted_by_method_code_and_mode_with_their_latency(gateway, make_tenant):
    tenant = await make_tenant("metrics")
    before = scrape(gateway, "instance")
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10) as http:
        for key, times in ((tenant.test_key, 3), (tenant.live_key, 1), (None, 2)):
            headers = {"authorization": f"Bearer {key}"} if key else {}
            for _ in range(times):
                expected = 200 if key else 401
                assert (await http.get(f"{PATH}?time_frame=day", headers=headers)).status_code == expected
    after = scrape(gateway, "instance")

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    requests = "partnerlytics_requests_total"
    assert moved(requests, service="instance", method=LIST, code="OK", mode="test") == 3
    assert moved(requests, service="instance", method=LIST, code="OK", mode="live") == 1
    assert moved(requests, service="instance", method=LIST, code="UNAUTHENTICATED", mode="none") == 2
    duration = "partnerlytics_request_duration_seconds"
    assert moved(f"{duration}_count", service="instance", method=LIST) == 6
    assert moved(f"{duration}_bucket", service="instance", method=LIST, le="+Inf") == 6
    assert moved(f"{duration}_sum", service="instance", method=LIST) > 0


async def test_ingested_records_are_counted_after_commit_and_duplicates_apart(gateway, instance_channel, make_tenant):
    tenant = await make_tenant("ingest-metrics")
    stub = pb_grpc.InstanceIngestionServiceStub(instance_channel)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    records = [f.instance(now) for _ in range(5)]
    before = scrape(gateway, "instance")
    first = await stub.BatchCreateInstances(pb.BatchCreateInstancesRequest(instances=records), metadata=tenant.md())
    retry = await stub.BatchCreateInstances(
        pb.BatchCreateInstancesRequest(instances=[*records[:2], f.instance(now)]), metadata=tenant.md()
    )
    with pytest.raises(grpc.aio.AioRpcError):  # refused as a whole: nothing stored, nothing counted
        await stub.BatchCreateInstances(
            pb.BatchCreateInstancesRequest(instances=[f.instance(now), pb.InstanceRecord(id="bad")]),
            metadata=tenant.md(),
        )
    after = scrape(gateway, "instance")
    assert (first.created_count, retry.created_count, retry.duplicate_count) == (5, 1, 2)
    labels = {"service": "instance", "kind": "instances"}
    assert sample(after, "partnerlytics_ingested_records_total", **labels) - sample(
        before, "partnerlytics_ingested_records_total", **labels) == 6
    assert sample(after, "partnerlytics_ingest_duplicate_records_total", **labels) - sample(
        before, "partnerlytics_ingest_duplicate_records_total", **labels) == 2
    code = {"service": "instance", "method": BATCH, "mode": "test"}
    assert sample(after, "partnerlytics_requests_total", code="INVALID_ARGUMENT", **code) - sample(
        before, "partnerlytics_requests_total", code="INVALID_ARGUMENT", **code) == 1


async def test_tracked_landing_events_are_counted_after_the_group_commit_and_bots_not(
    gateway, landing_channel, make_tenant
):
    account = await make_tenant("landing-metrics")
    tenant = await create_tenant(landing_channel, account.test_key, time_zone="Europe/Berlin")
    labels = {"service": "landing", "kind": "events"}
    before = scrape(gateway, "landing")
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10) as http:
        for n, agent in enumerate((CHROME, CHROME, "python-requests/2.32.3")):
            response = await http.post("/api/analytics/track", json={"tenant_id": tenant.id, "event_type": "pageview"},
                                       headers={"user-agent": agent, "x-forwarded-for": f"198.51.100.{n + 1}"})
            assert response.json() == {"success": True}
    after = scrape(gateway, "landing")
    assert sample(after, "partnerlytics_ingested_records_total", **labels) - sample(
        before, "partnerlytics_ingested_records_total", **labels) == 2
    lag = sample(after, "partnerlytics_preaggregation_lag_seconds", projection="landing_daily_stats")
    assert lag == 0


async def test_preaggregation_lag_is_measured_against_the_raw_rows(gateway, instance_channel, make_tenant, database_url):
    tenant = await make_tenant("lag")
    stub = pb_grpc.InstanceIngestionServiceStub(instance_channel)
    now = dt.datetime.now(dt.timezone.utc)
    await stub.BatchCreateInstances(
        pb.BatchCreateInstancesRequest(instances=[f.instance(now - dt.timedelta(hours=3))]), metadata=tenant.md()
    )
    lag = "partnerlytics_preaggregation_lag_seconds"
    projections = ("instance_hourly_counts", "campaign_hourly_stats")
    samples = scrape(gateway, "instance")
    assert [sample(samples, lag, projection=p) for p in projections] == [0, 0]

    # A raw row written behind the projections' back, two hours after the newest bucket.
    bypass = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at) "
            "VALUES (%s, false, %s, %s, %s, %s)",
            (tenant.account_id, bypass, uuid.uuid4(), uuid.uuid4(), now - dt.timedelta(hours=1)),
        )
        try:
            samples = scrape(gateway, "instance")
        finally:
            conn.execute("DELETE FROM instances WHERE account_id = %s AND id = %s", (tenant.account_id, bypass))
    assert [sample(samples, lag, projection=p) for p in projections] == [7200, 7200]
    samples = scrape(gateway, "instance")
    assert [sample(samples, lag, projection=p) for p in projections] == [0, 0]


def _unfinished_exports(conn) -> int:
    """Every account's unfinished jobs, as the gauge counts them (across accounts on purpose:
    marked so for Citus, where the app role's other multi-shard statements fail)."""
    with conn.transaction():
        conn.execute(CROSS_ACCOUNT)
        return conn.execute("SELECT count(*) FROM voucher_exports WHERE status = 'processing'").fetchone()[0]


async def test_export_queue_depth_shows_a_running_then_a_queued_job(gateway, make_tenant, database_url):
    tenant = await make_tenant("queue")
    with psycopg.connect(database_url, autocommit=True) as conn, psycopg.connect(database_url) as holder:
        # Jobs left by other tests are finished by the stack's export workers first.
        deadline = time.monotonic() + 60
        while _unfinished_exports(conn) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert _unfinished_exports(conn) == 0
        job = f"export_{uuid.uuid4().hex[:16]}"
        # Leased by a worker that is not the stack's: no worker of the stack claims it.
        conn.execute(
            "INSERT INTO voucher_exports (account_id, livemode, id, status, format, voucher_ids, metrics, "
            "period_start, period_end, record_count, created_at, estimated_completion, lease_owner, lease_expires_at) "
            "VALUES (%s, false, %s, 'processing', 'csv', '{}', '{uses}', current_date, current_date, 0, now(), now(), "
            "'observability-test', now() + interval '1 hour')",
            (tenant.account_id, job),
        )
        states = scrape(gateway, "voucher")
        assert (sample(states, "partnerlytics_export_jobs", state="queued"),
                sample(states, "partnerlytics_export_jobs", state="running")) == (0, 1)
        # Its lease given up while this test holds a KEY SHARE lock on it: the job waits in
        # the queue (visible to the gauge) but the workers' FOR UPDATE SKIP LOCKED skips it.
        key = (tenant.account_id, job)
        holder.execute("SELECT 1 FROM voucher_exports WHERE account_id = %s AND id = %s FOR KEY SHARE", key)
        conn.execute("UPDATE voucher_exports SET lease_owner = NULL, lease_expires_at = NULL "
                     "WHERE account_id = %s AND id = %s", key)
        states = scrape(gateway, "voucher")
        assert (sample(states, "partnerlytics_export_jobs", state="queued"),
                sample(states, "partnerlytics_export_jobs", state="running")) == (1, 0)
        holder.execute("DELETE FROM voucher_exports WHERE account_id = %s AND id = %s", key)
        holder.commit()


def test_envoy_stats_are_served_on_the_stats_listener_and_nothing_else_of_the_admin(gateway):
    stats = f"http://127.0.0.1:{gateway.stats_port}"
    response = httpx.get(f"{stats}/stats/prometheus", timeout=10)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert "envoy_http_downstream_rq" in names or "envoy_http_downstream_rq_total" in names
    assert httpx.get(f"{stats}/ready").text.strip() == "LIVE"
    for path in ("/config_dump", "/stats", "/quitquitquit", "/logging"):
        assert httpx.post(f"{stats}{path}").status_code == 404


def test_the_stats_listener_is_rendered_only_when_asked(tmp_path):
    lua = envoy_config.DEFAULT_LUA
    common = dict(listen_host="127.0.0.1", listen_port=8080, admin_host="127.0.0.1", admin_port=9901,
                  descriptor_path="x.pb", upstreams={f.cluster: [("127.0.0.1", 1)] for f in envoy_config.FAMILIES},
                  lua_path=str(lua))
    without = envoy_config.render(**common)
    assert [listener["name"] for listener in without["static_resources"]["listeners"]] == ["gateway"]
    config = envoy_config.render(**common, stats_port=9902)
    listener = config["static_resources"]["listeners"][1]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9902}
    routes = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["match"] for r in routes if "route" in r] == [{"path": "/stats/prometheus"}, {"path": "/ready"}]


def _access_lines(gateway, name: str, request_id: str) -> list[dict]:
    """The JSON lines of one process's log that carry `request_id`."""
    lines = (gateway.log_dir / f"{name}.log").read_text().splitlines()
    return [entry for entry in map(_json_or_none, lines) if entry and entry.get("request_id") == request_id]


def _json_or_none(line: str) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


async def _eventually(read, timeout: float = 10.0):
    """Log lines are flushed by another process: wait for them (not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return found


@pytest.mark.parametrize("sent", [True, False], ids=["caller-id", "envoy-id"])
async def test_one_json_access_line_per_request_with_the_request_id_envoy_answered(gateway, make_tenant, sent):
    tenant = await make_tenant("logs")
    headers = {"authorization": f"Bearer {tenant.test_key}"}
    if sent:
        headers["x-request-id"] = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=10) as http:
        response = await http.get(f"{PATH}?time_frame=day", headers=headers)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    if sent:
        assert request_id == headers["x-request-id"]
    lines = await _eventually(lambda: _access_lines(gateway, "instance-0", request_id))
    assert len(lines) == 1
    line = lines[0]
    assert (line["message"], line["status"], line["http_status"]) == ("rpc", "OK", 200)
    assert (line["account_id"], line["mode"]) == (str(tenant.account_id), "test")
    assert line["method"].endswith(LIST) and line["ms"] >= 0
    assert tenant.test_key not in json.dumps(line)
    envoy = await _eventually(lambda: _access_lines(gateway, "envoy", request_id))
    assert [entry["status"] for entry in envoy] == [200]


async def test_a_direct_grpc_call_gets_a_request_id_in_its_metadata_and_the_log(gateway, instance_channel, make_tenant):
    tenant = await make_tenant("grpc-logs")
    stub = pb_grpc.InstanceIngestionServiceStub(instance_channel)
    call = stub.BatchCreateInstances(
        pb.BatchCreateInstancesRequest(instances=[f.instance(dt.datetime.now(dt.timezone.utc))]), metadata=tenant.md()
    )
    await call
    request_id = dict(await call.initial_metadata())["x-request-id"]
    assert uuid.UUID(request_id).version == 4
    lines = await _eventually(lambda: _access_lines(gateway, "instance-0", request_id))
    assert [(line["status"], line["method"]) for line in lines] == [("OK", f"/partnerlytics.instance.v1.{BATCH}")]


@pytest.mark.parametrize("service, projections", [
    ("instance", ["instance_hourly_counts", "campaign_hourly_stats"]),
    ("voucher", ["voucher_daily"]),
    ("affiliate", ["affiliate_daily_counts"]),
    ("landing", ["landing_daily_stats"]),
])
def test_every_projection_has_a_lag_gauge_and_it_is_zero(gateway, service, projections):
    samples = scrape(gateway, service)
    found = {dict(labels)["projection"]: value for (name, labels), value in samples.items()
             if name == "partnerlytics_preaggregation_lag_seconds"}
    assert found == {projection: 0 for projection in projections}
    assert sample(samples, "partnerlytics_scrape_query_errors_total", gauge="partnerlytics_preaggregation_lag_seconds") == 0
