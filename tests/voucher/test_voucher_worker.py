"""The export queue and its workers, on a database of their own (no other worker sees it):
a worker killed mid-export, a worker that lost its lease, failures, expiry on a
controlled clock, and downloads before a file exists."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace

import grpc
import psycopg
import pytest
import pytest_asyncio
from partnerlytics.voucher.v1 import voucher_analytics_pb2 as api
from partnerlytics.voucher.v1 import voucher_analytics_pb2_grpc as api_grpc

from platform_core import accounts, export_queue
from platform_core.distribution import CROSS_ACCOUNT
from platform_core.ratelimit import MemoryLimiter
from platform_core.server import Deps, create_server
from services.voucher import exports
from services.voucher.config import VoucherSettings
from services.voucher.errors import voucher_envelope
from services.voucher.exports import ExportWorker
from services.voucher.servicer import service_specs
from stack.run import ROOT, migrate
from tests.conftest import make_settings
from tests.support import voucher_data as vd
from tests.support.databases import scratch_database

LEASE = 1.5


@dataclass
class Private:
    url: str
    deps: Deps
    settings: VoucherSettings
    stub: api_grpc.VoucherAnalyticsServiceStub
    md: tuple
    data: vd.VoucherData


@pytest_asyncio.fixture(scope="module")
async def private(database_server, tmp_path_factory):
    with scratch_database(database_server, "worker") as urls:
        migrate(urls.owner)
        own_url = urls.app
        deps = Deps.from_settings(make_settings(own_url), limiter=MemoryLimiter())
        settings = VoucherSettings(export_dir=tmp_path_factory.mktemp("worker-exports"), lease_seconds=LEASE,
                                   public_base_url="http://gateway.test")
        async with deps.sessions() as session:
            account = await accounts.create_account(session, "worker tests")
            _, key = await accounts.create_key(session, account.id, "test")
            await session.commit()
        running = await create_server("127.0.0.1:0", deps, service_specs(deps, settings), voucher_envelope)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        data = vd.build(dt.datetime.now(dt.timezone.utc), seed=41, days=30, vouchers=12, customers=20)
        await vd.VoucherIngest(channel, key).all(data)
        yield Private(own_url, deps, settings, api_grpc.VoucherAnalyticsServiceStub(channel),
                      (("authorization", f"Bearer {key}"),), data)
        await channel.close()
        await running.stop(1)
        await deps.engine.dispose()


@pytest_asyncio.fixture
async def queue(private):
    """An empty queue and export folder for each test."""
    with psycopg.connect(private.url, autocommit=True) as conn:
        with conn.transaction():  # every account's jobs: every shard on Citus
            conn.execute(CROSS_ACCOUNT)
            conn.execute("DELETE FROM voucher_exports")
    for path in private.settings.export_dir.rglob("*"):
        if path.is_file():
            path.unlink()
    return private


async def _request(p: Private, fmt: str = "csv", days: int = 90) -> str:
    today = dt.date.today()
    created = await p.stub.CreateExport(api.CreateExportRequest(
        voucher_ids=list(p.data.vouchers), metrics=["uses", "discount", "conversion_rate"], format=fmt,
        time_period=api.ExportPeriod(start=str(today - dt.timedelta(days=days - 1)), end=str(today)),
    ), metadata=p.md)
    return created.export_id


def _row(p: Private, export_id: str) -> dict:
    with psycopg.connect(p.url) as conn:
        conn.execute(CROSS_ACCOUNT)  # by export id alone: every shard on Citus
        cur = conn.execute("SELECT status, attempts, lease_owner, record_count, file_name, failure_reason "
                           "FROM voucher_exports WHERE id = %s", (export_id,))
        names = [c.name for c in cur.description]
        return dict(zip(names, cur.fetchone()))


def _files(p: Private, export_id: str) -> list[pathlib.Path]:
    return sorted(path for path in p.settings.export_dir.rglob(f"{export_id}*") if path.is_file())


async def _envelope_of(call) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    trailers = dict(caught.value.trailing_metadata())
    return caught.value.code(), trailers["x-envelope-status"], trailers["x-envelope"]


async def _download(p: Private, export_id: str) -> bytes:
    call = p.stub.DownloadExport(api.DownloadExportRequest(export_id=export_id), metadata=p.md)
    return b"".join([m.data async for m in call])


async def test_a_worker_killed_mid_export_is_replaced_and_the_job_completes_once(queue):
    p = queue
    export_id = await _request(p)
    env = {**os.environ, "DATABASE_URL": p.url, "VOUCHER_EXPORT_DIR": str(p.settings.export_dir),
           "VOUCHER_EXPORT_LEASE_SECONDS": str(LEASE), "VOUCHER_EXPORT_BATCH_ROWS": "50",
           "VOUCHER_EXPORT_PAUSE_SECONDS": "0.1", "VOUCHER_EXPORT_POLL_SECONDS": "0.1", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "services.voucher.worker"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not any(f.suffix == ".tmp" and f.stat().st_size > 0 for f in _files(p, export_id)):
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never started writing"
            await asyncio.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    # Mid-export: the job is still processing, leased to the dead worker, half a file on disk.
    assert _row(p, export_id)["status"] == "processing"
    assert [f.suffix for f in _files(p, export_id)] == [".tmp"]

    replacement = ExportWorker(p.deps.engine, p.url, p.settings)
    assert await replacement.run_once() is False  # the dead worker's lease still holds
    await asyncio.sleep(LEASE + 0.2)
    assert await replacement.run_once() is True
    row = _row(p, export_id)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("completed", 2, None)
    assert [f.name for f in _files(p, export_id)] == [f"{export_id}.csv"]  # one file, no leftovers
    lines = (await _download(p, export_id)).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 12 * 90 == 1 + row["record_count"]
    assert await replacement.run_once() is False  # nothing left: never a second file


async def test_a_worker_that_lost_its_lease_throws_its_file_away(queue):
    p = queue
    export_id = await _request(p, days=10)
    slow = ExportWorker(p.deps.engine, p.url, p.settings, worker_id="slow")
    job = await slow.claim()
    final = export_queue.file_path(p.settings.export_dir, job)
    final.parent.mkdir(parents=True, exist_ok=True)
    slow_tmp = final.parent / f"{export_id}.slow.tmp"
    count = exports.build_file(export_queue.plain_url(p.url), job, slow_tmp, p.settings, threading.Event())
    await asyncio.sleep(LEASE + 0.2)  # the slow worker stalls past its lease
    fast = ExportWorker(p.deps.engine, p.url, p.settings, worker_id="fast")
    assert await fast.run_once() is True
    winner = final.read_bytes()
    assert not slow_tmp.exists()  # the new owner cleared what the stalled one left
    assert await slow._complete(job, slow_tmp, final, count) is False
    slow_tmp.write_bytes(b"stale")  # even with its file back, it cannot complete the job
    assert await slow._complete(job, slow_tmp, final, count) is False
    assert not slow_tmp.exists() and final.read_bytes() == winner
    assert [f.name for f in _files(p, export_id)] == [final.name]


async def test_a_job_that_keeps_failing_is_marked_failed_with_a_reason(queue):
    p = queue
    export_id = await _request(p, days=5)
    with psycopg.connect(p.url, autocommit=True) as conn, conn.transaction():
        conn.execute(CROSS_ACCOUNT)
        conn.execute("UPDATE voucher_exports SET attempts = 3 WHERE id = %s", (export_id,))
    assert await ExportWorker(p.deps.engine, p.url, p.settings).run_once() is True
    status = await p.stub.GetExport(api.GetExportRequest(export_id=export_id), metadata=p.md)
    assert status.status == "failed"
    assert status.reason == "The export could not be generated after 3 attempts"
    assert status.HasField("failed_at") and not status.HasField("download_url")
    code, http_status, body = await _envelope_of(_download(p, export_id))
    assert (code, http_status) == (grpc.StatusCode.FAILED_PRECONDITION, "409")
    assert '"code":"EXPORT_NOT_READY"' in body and '"status":"failed"' in body
    assert _files(p, export_id) == []


async def test_an_export_cannot_be_downloaded_while_processing(queue):
    p = queue
    export_id = await _request(p, days=3)
    status = await p.stub.GetExport(api.GetExportRequest(export_id=export_id), metadata=p.md)
    assert status.status == "processing" and status.HasField("estimated_completion")
    code, http_status, body = await _envelope_of(_download(p, export_id))
    assert (code, http_status) == (grpc.StatusCode.FAILED_PRECONDITION, "409")
    assert body == ('{"error":{"code":"EXPORT_NOT_READY","message":"The export is not ready for download",'
                    f'"details":{{"export_id":"{export_id}","status":"processing"}}}}}}')


async def test_files_expire_after_24_hours_and_are_deleted(queue):
    p = queue
    export_id = await _request(p, fmt="json", days=3)
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    worker = ExportWorker(p.deps.engine, p.url, p.settings, clock=lambda: t0 + dt.timedelta(microseconds=250))
    assert await worker.run_once() is True
    (path,) = _files(p, export_id)
    assert await worker.sweep_expired(now=t0 + dt.timedelta(hours=24) - dt.timedelta(seconds=1)) == 0
    assert path.exists()
    status = await p.stub.GetExport(api.GetExportRequest(export_id=export_id), metadata=p.md)
    assert status.status == "completed"
    assert status.expires_at.ToDatetime(tzinfo=dt.timezone.utc) == t0 + dt.timedelta(hours=24)
    assert await worker.sweep_expired(now=t0 + dt.timedelta(hours=24)) == 1
    assert not path.exists() and _row(p, export_id)["status"] == "expired"
    status = await p.stub.GetExport(api.GetExportRequest(export_id=export_id), metadata=p.md)
    assert status.status == "expired" and not status.HasField("download_url")
    code, http_status, body = await _envelope_of(_download(p, export_id))
    assert (code, http_status) == (grpc.StatusCode.NOT_FOUND, "410")
    assert '"code":"EXPORT_EXPIRED"' in body


async def test_an_export_past_its_expiry_is_expired_before_the_sweep(queue):
    p = queue
    export_id = await _request(p, days=2)
    yesterday = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24, seconds=1)
    assert await ExportWorker(p.deps.engine, p.url, p.settings, clock=lambda: yesterday).run_once() is True
    status = await p.stub.GetExport(api.GetExportRequest(export_id=export_id), metadata=p.md)
    assert status.status == "expired"
    code, http_status, _ = await _envelope_of(_download(p, export_id))
    assert http_status == "410"


@pytest.mark.parametrize("value,expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-1", "'-1"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("SUMMER2024", "SUMMER2024"), ("", ""), (-5, -5), (0.5, 0.5),
])
def test_formula_cells_are_neutralised(value, expected):
    assert exports.neutralise(value) == expected


async def test_a_live_worker_keeps_its_job_past_the_lease_by_renewing_it(queue):
    p = queue
    export_id = await _request(p, days=90)
    slow = replace(p.settings, batch_rows=60, pause_seconds=0.12)  # ~2.2 s, > the 1.5 s lease
    owner = ExportWorker(p.deps.engine, p.url, slow, worker_id="owner")
    job = await owner.claim()
    work = asyncio.create_task(owner.process(job))
    rival = ExportWorker(p.deps.engine, p.url, p.settings, worker_id="rival")
    started = time.monotonic()
    while not work.done():
        assert await rival.claim() is None  # the heartbeat keeps the lease
        await asyncio.sleep(0.2)
    assert time.monotonic() - started > LEASE
    assert work.result() is True
    row = _row(p, export_id)
    assert (row["status"], row["attempts"]) == ("completed", 1)
