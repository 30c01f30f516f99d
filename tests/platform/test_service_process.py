"""The service as operators run it: its own process, health, and graceful SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stack.run import ROOT, free_port


def test_sigterm_reports_not_serving_then_exits_cleanly(database_url, tmp_path):
    port = free_port()
    log = open(tmp_path / "service.log", "wb")
    env = {**os.environ, "DATABASE_URL": database_url, "INSTANCE_GRPC_PORT": str(port), "SHUTDOWN_GRACE_SECONDS": "2",
           "METRICS_PORT": str(free_port())}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen")])
    proc = subprocess.Popen([sys.executable, "-m", "services.instance"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            proc.send_signal(signal.SIGTERM)
            statuses = []
            try:
                for reply in watch:
                    statuses.append(reply.status)
            except grpc.RpcError:
                pass  # the stream ends when the server stops
        assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "service.log").read_text()
    assert '"message": "shutting down"' in text and '"message": "stopped"' in text
    # grpcio prints (outside logging) that it cancelled the open Watch stream at stop; that
    # is the stream being cut by the shutdown, not a failure. Nothing else may appear.
    cancelled = re.compile(r"Traceback \(most recent call last\):\n.*_schedule_rpc_coro\n(asyncio\.exceptions\.)?CancelledError\n")
    assert "Traceback" not in cancelled.sub("", text)
