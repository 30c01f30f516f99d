"""Two replicas of every service behind the real gateway (`make run SERVICE_REPLICAS=2`,
docker compose with `--scale`): limits, idempotent ingestion and export jobs behave as
with one replica. Envoy's per-endpoint counters prove that both replicas served."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.request
import uuid

import grpc
import httpx
import pytest_asyncio
from sqlalchemy import text

from platform_core import accounts, db
from tests.conftest import REPLICA_LIST_LIMIT, Tenant
from tests.support import voucher_data as vd

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def served(stack, cluster: str) -> dict[int, int]:
    """Requests Envoy has sent to each endpoint (port) of `cluster`, from its admin /clusters."""
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.admin_port}/clusters", timeout=5) as response:
        lines = response.read().decode().splitlines()
    counts = {}
    for line in lines:
        name, _, rest = line.partition("::")
        host, _, stat = rest.partition("::")
        if name == cluster and stat.startswith("rq_total::"):
            counts[int(host.rsplit(":", 1)[1])] = int(stat.split("::")[1])
    return counts


def delta(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {port: after[port] - before.get(port, 0) for port in after}


@pytest_asyncio.fixture
async def http(gateway_replicas):
    async with httpx.AsyncClient(base_url=gateway_replicas.gateway_url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def sessions(replicas_database_url):
    """Sessions on the replicated stack's own database."""
    engine = db.create_engine(replicas_database_url, pool_size=2)
    yield db.sessionmaker(engine)
    await engine.dispose()


@pytest_asyncio.fixture
async def tenant(sessions):
    """A fresh account with a test key, in the replicated stack's database."""
    async with sessions() as session:
        account = await accounts.create_account(session, "replicas")
        _, key = await accounts.create_key(session, account.id, "test")
        await session.commit()
    return Tenant(account.id, key, "", "", "")


async def count(sessions, sql: str, account_id) -> list:
    async with sessions() as session:
        return (await session.execute(text(sql), {"a": account_id})).all()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_rate_limit_is_shared_by_the_replicas(http, gateway_replicas, tenant):
    before = served(gateway_replicas, "instance")
    remaining = []
    for _ in range(REPLICA_LIST_LIMIT):
        response = await http.get("/partner/v1/instances/analytics?time_frame=day", headers=auth(tenant.test_key))
        assert response.status_code == 200, response.text
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    refused = await http.get("/partner/v1/instances/analytics?time_frame=day", headers=auth(tenant.test_key))
    per_replica = delta(before, served(gateway_replicas, "instance"))

    assert remaining == list(range(REPLICA_LIST_LIMIT - 1, -1, -1))
    assert refused.status_code == 429 and refused.json()["error"] == "Too Many Requests"
    # Round robin: each of the two replicas served about half of the nine requests.
    assert sorted(per_replica.values()) == [4, 5], per_replica


async def test_a_batch_sent_to_both_replicas_is_stored_once(http, gateway_replicas, tenant, sessions):
    headers = auth(tenant.test_key)
    for path, body in [
        ("/v1/affiliate/affiliates:batch", {"affiliates": [{"id": "aff_rep", "name": "Replica Test"}]}),
        ("/v1/affiliate/tracking-codes:batch", {"tracking_codes": [{"code": "AFF-REP-1", "affiliate_id": "aff_rep"}]}),
    ]:
        assert (await http.post(path, json=body, headers=headers)).status_code == 200
    at = (NOW - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch = {"events": [{"id": str(uuid.uuid4()), "type": "click", "occurred_at": at, "tracking_code": "AFF-REP-1",
                         "page_url": "https://shop.example.com/"} for _ in range(20)]}
    before = served(gateway_replicas, "affiliate")
    # Twice in a row (round robin: the other replica) and four times at once.
    sequential = [(await http.post("/v1/affiliate/events:batch", json=batch, headers=headers)) for _ in range(2)]
    concurrent = await asyncio.gather(
        *(http.post("/v1/affiliate/events:batch", json=batch, headers=headers) for _ in range(4))
    )
    per_replica = delta(before, served(gateway_replicas, "affiliate"))

    assert [r.status_code for r in sequential + list(concurrent)] == [200] * 6, [r.text for r in concurrent]
    replies = [r.json()["data"] for r in sequential + list(concurrent)]
    assert sum(r["created_count"] for r in replies) == 20
    assert sum(r["duplicate_count"] for r in replies) == 5 * 20
    assert replies[0] == {"created_count": 20, "duplicate_count": 0}
    assert await count(sessions, "SELECT count(*) FROM affiliate_events WHERE account_id = :a",
                       tenant.account_id) == [(20,)]
    assert len(per_replica) == 2 and all(n >= 1 for n in per_replica.values()), per_replica


async def test_exports_with_two_replicas_and_two_workers_complete_once(http, gateway_replicas, tenant, sessions):
    data = vd.build(NOW, seed=41, days=10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway_replicas.service_ports['voucher'][0]}") as channel:
        await vd.VoucherIngest(channel, tenant.test_key).all(data)
    request = {"voucher_ids": list(data.vouchers), "metrics": ["uses", "orders"], "format": "csv"}
    created = await asyncio.gather(
        *(http.post("/v1/analytics/export", json=request, headers=auth(tenant.test_key)) for _ in range(4))
    )
    ids = [c.json()["export_id"] for c in created]
    for export_id in ids:
        for _ in range(200):
            status = (await http.get(f"/v1/analytics/export/{export_id}", headers=auth(tenant.test_key))).json()
            if status["status"] != "processing":
                break
            await asyncio.sleep(0.1)
        assert status["status"] == "completed", status

    attempts = await count(sessions, "SELECT id, attempts FROM voucher_exports WHERE account_id = :a",
                           tenant.account_id)
    assert sorted(tuple(row) for row in attempts) == sorted((export_id, 1) for export_id in ids)
    # One file per export (no leftover temporary file) in the folder the replicas share.
    files = sorted(p.name for p in (gateway_replicas.data_dir / "exports" / str(tenant.account_id)).iterdir())
    assert files == sorted(f"{export_id}.csv" for export_id in ids)
    # Each export was written by exactly one of the two workers.
    written = []
    for log in sorted((gateway_replicas.log_dir).glob("voucher-worker-*.log")):
        for line in log.read_text().splitlines():
            fields = json.loads(line)
            if fields.get("message") == "export" and fields.get("export_id") in ids:
                written.append(fields["export_id"])
    assert sorted(written) == sorted(ids)


async def test_a_dead_replica_is_skipped(http, gateway_replicas, tenant):
    """Last in this module: it stops one replica of the campaign service for good."""
    name, process = next((n, p) for n, p in gateway_replicas.processes if n == "campaign-1")
    process.terminate()
    process.wait(timeout=15)
    gateway_replicas.processes.remove((name, process))
    for _ in range(6):
        response = await http.get(f"/api/partner/v1/campaigns/{uuid.uuid4()}/analytics?time_frame=per_day", headers=auth(tenant.test_key))
        assert response.status_code == 404, response.text
