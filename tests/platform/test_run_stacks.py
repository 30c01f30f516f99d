"""`make run` (`python -m stack.run`) as an operator meets it: every port and folder it
binds comes from the README's variables, so two stacks run side by side on one machine,
and a superuser DATABASE_URL is refused before anything starts."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stack.demo import DEMO_KEY
from stack.run import ROOT, SERVICES

READY = "Press Ctrl-C to stop everything."


def _free(port: int) -> bool:
    """Nothing listens on it (SO_REUSEADDR: closed connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_runs(count: int, width: int, taken: set[int]) -> list[int]:
    """`count` ports p, each with p .. p+width-1 and p+1000 .. p+1000+width-1 free."""
    found: list[int] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        start = 20000 + s.getsockname()[1] % 10000
    # Below the kernel's ephemeral range (32768 and up here): a port picked there can be
    # taken by any outgoing connection between this check and the stack's bind.
    port = start
    while len(found) < count:
        block = [*range(port, port + width), *range(port + 1000, port + 1000 + width)]
        if not taken.intersection(block) and all(_free(p) for p in block):
            found.append(port)
            taken.update(block)
        port = port + width + 7 if port < 31000 else 20000
    return found


def _env(data: pathlib.Path, base: int, metrics: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL", "RATE_LIMIT_STORE", "METRICS_PORT")}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "DATA_DIR": str(data),
        "GATEWAY_PORT": str(base + 10),
        "GATEWAY_ADMIN_PORT": str(base + 11),
        "GATEWAY_STATS_PORT": str(base + 12),
        "LANDING_DEMO_PORT": str(base + 13),
        **{s.port_env: str(base + i) for i, s in enumerate(SERVICES)},
    })
    if metrics is not None:
        env["METRICS_PORT"] = metrics
    return env


def _wait_for(proc: subprocess.Popen, out: pathlib.Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = out.read_text(errors="replace")
        if text in seen:
            return seen
        if proc.poll() is not None:
            raise AssertionError(f"stack.run exited with {proc.returncode}:\n{seen[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout}s:\n{out.read_text(errors='replace')[-3000:]}")


def _serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def test_two_stacks_run_side_by_side_on_the_ports_of_their_environment(tmp_path):
    # Stack a: /metrics on each gRPC port + 1000 (the default); stack b: METRICS_PORT as the
    # first process's /metrics port, the others following it.
    a_base, b_base, b_metrics = _free_runs(3, 14, set())
    stacks = {"a": (a_base, None), "b": (b_base, str(b_metrics))}
    procs: dict[str, tuple[subprocess.Popen, pathlib.Path]] = {}
    try:
        for name, (base, metrics) in stacks.items():
            out = tmp_path / f"{name}.out"
            with open(out, "wb") as sink:
                procs[name] = (subprocess.Popen([sys.executable, "-m", "stack.run"], cwd=ROOT,
                                                env=_env(tmp_path / name, base, metrics),
                                                stdout=sink, stderr=subprocess.STDOUT), out)
        for name, (proc, out) in procs.items():
            banner = _wait_for(proc, out, READY, 600)
            base, metrics = stacks[name]
            gateway = f"http://127.0.0.1:{base + 10}"
            assert f"Gateway: {gateway}" in banner
            assert f"grpcurl -plaintext 127.0.0.1:{base} list" in banner
            auth = {"Authorization": f"Bearer {DEMO_KEY}"}
            # A documented read of two families through this stack's gateway.
            stats = httpx.get(f"{gateway}/v1/affiliate/analytics?section=stats", headers=auth, timeout=30)
            assert stats.status_code == 200, stats.text
            assert stats.json()["data"]["stats"]["total_clicks"] > 0
            listed = httpx.get(f"{gateway}/partner/v1/instances/analytics?is_purchased=true&time_frame=day"
                               f"&page=1&limit=20", headers=auth, timeout=30)
            assert listed.status_code == 200, listed.text
            assert listed.json()["meta"]["requestId"]
            for i, service in enumerate(SERVICES):
                assert _serving(base + i), service.name
                metrics_port = base + i + 1000 if metrics is None else int(metrics) + i
                scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
                assert scrape.status_code == 200 and "partnerlytics_requests" in scrape.text, service.name
            assert httpx.get(f"http://127.0.0.1:{base + 11}/ready", timeout=10).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{base + 12}/stats/prometheus", timeout=10).status_code == 200
            page = httpx.get(f"http://127.0.0.1:{base + 13}/", timeout=10)
            assert page.status_code == 200 and f"{gateway}/api/analytics/tracker.js" in page.text
            assert (tmp_path / name / "postgres").is_dir() and (tmp_path / name / "logs").is_dir()
    finally:
        for proc, _out in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(timeout=120) for name, (proc, _out) in procs.items()}
    for name, (proc, out) in procs.items():
        assert codes[name] == 0, out.read_text(errors="replace")[-3000:]
        assert "stopped: no process left running" in out.read_text()
        base, _ = stacks[name]
        assert all(_free(p) for p in (*range(base, base + 5), base + 10, base + 12, base + 13)), name


def test_a_superuser_database_url_is_refused_before_anything_starts(tmp_path, database_urls):
    env = {**_env(tmp_path / "su", 0, None), "DATABASE_URL": database_urls.superuser}
    run = subprocess.run([sys.executable, "-m", "stack.run", "--no-demo"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "a superuser" in run.stderr and "partnerlytics_app" in run.stderr
    assert "migrations: at head" not in run.stdout and "services:" not in run.stdout.replace("(services: the app role)", "")
    assert not (tmp_path / "su" / "logs").exists()  # no service was started


def test_the_app_role_is_not_refused(database_urls):
    from platform_core.roles import superuser_role

    assert superuser_role(database_urls.app) is None
    assert superuser_role(database_urls.superuser) is not None


def test_a_citus_stack_serves_every_family_through_the_gateway(tmp_path):
    """`CITUS=1 make run`: a coordinator and two workers in DATA_DIR/citus, migrated and
    seeded; a documented read of every family answers through the gateway; Ctrl-C (here
    SIGTERM) stops every server it started."""
    from stack.demo import LANDING_TENANTS, demo_id, voucher_id
    from tests.platform.test_citus import ensure_citus

    ensure_citus()
    (base,) = _free_runs(1, 14, set())
    out = tmp_path / "citus.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "stack.run"], cwd=ROOT,
                                env={**_env(tmp_path / "data", base, "0"), "CITUS": "1"},
                                stdout=sink, stderr=subprocess.STDOUT)
    nodes: list[pathlib.Path] = []
    try:
        banner = _wait_for(proc, out, READY, 600)
        assert f"a Citus coordinator and two workers in {tmp_path / 'data' / 'citus'}" in banner
        # Linked to a folder the postgres user can reach when run as root (tmp_path is 0700).
        nodes = sorted(p.resolve() for p in (tmp_path / "data" / "citus").iterdir())
        assert [p.name for p in nodes] == ["coordinator", "worker-1", "worker-2"]
        assert all((p / "postmaster.pid").exists() for p in nodes)
        gateway, auth = f"http://127.0.0.1:{base + 10}", {"Authorization": f"Bearer {DEMO_KEY}"}
        reads = {
            "instance": "/partner/v1/instances/analytics?time_frame=day&limit=5",
            "campaign": f"/api/partner/v1/campaigns/{demo_id('campaign', 0)}/analytics?time_frame=per_month&limit=5",
            "affiliate": "/v1/affiliate/analytics?section=stats",
            "voucher": f"/v1/analytics/vouchers/{voucher_id(0)}/performance?include_details=true",
            "landing": f"/api/analytics/{LANDING_TENANTS[0][0]}",
        }
        answers = {name: httpx.get(gateway + path, headers=auth, timeout=30) for name, path in reads.items()}
        assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(reads, 200), \
            {name: r.text[:300] for name, r in answers.items()}
        assert answers["affiliate"].json()["data"]["stats"]["total_clicks"] > 0
        assert answers["voucher"].json()["performance"]["total_uses"] > 0
        assert _serving(base + [s.name for s in SERVICES].index("webhooks"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0, out.read_text(errors="replace")[-3000:]
    assert "stopped: no process left running" in out.read_text()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert nodes and not [p for p in nodes if str(p) in ps]  # no node of the cluster left running
