"""Starts the whole stack locally: `make run` (python -m stack.run).

Embedded PostgreSQL in DATA_DIR unless DATABASE_URL is set (CITUS=1: a Citus coordinator
and two workers instead), migrations, the demo data, every service and Envoy; prints the
gateway URL and working curl examples. Ctrl-C (or SIGTERM) stops every process it
started: Envoy first, then the services (gracefully), then the database servers.
"""

from __future__ import annotations

import argparse
import http.client
import asyncio
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from platform_core.config import env_int, rate_limit_store
from platform_core.family import ServiceFamily as Service
from services.registry import families

# Every family's service (services/registry.py), in the order of their base ports
# (50051-50055): the order `make run` starts them and numbers a given METRICS_PORT in.
SERVICES: list[Service] = sorted(families(), key=lambda family: family.base_port)
# Replica i of a service listens on its base port + i * REPLICA_PORT_STEP (50051, 50151, ...).
REPLICA_PORT_STEP = 100

ROOT = pathlib.Path(__file__).resolve().parent.parent
DESCRIPTOR = ROOT / "gen" / "partnerlytics.pb"
DATABASE_NAME = "partnerlytics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = database_url
    command.upgrade(config, "head")


@dataclass
class Stack:
    data_dir: pathlib.Path
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    admin_port: int = 9901
    # Envoy's Prometheus stats on their own listener (None: only on the admin port).
    stats_port: int | None = None
    service_ports: dict[str, list[int]] = field(default_factory=dict)
    # Each service process's /metrics port (METRICS_PORT): gRPC port + 1000 for the
    # default ports, free ports when the gRPC ports were given (tests, benchmarks), 0 for
    # every process when the environment says METRICS_PORT=0.
    metrics_ports: dict[str, list[int]] = field(default_factory=dict)
    database_url: str | None = None
    # The owner role's URL (migrations, demo data); DATABASE_URL's when not given.
    migration_database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: pathlib.Path | None = None
    route_timeout_s: float = 15.0
    # Trusted proxies in front of the gateway (GATEWAY_XFF_TRUSTED_HOPS, docs/gateway.md).
    xff_trusted_hops: int = 0
    # A Citus coordinator and two workers in data_dir/citus instead of the embedded server
    # (CITUS=1 make run; docs/scaling.md).
    citus: bool = False
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    _pg: object | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    def start_database(self) -> str:
        """The services' URL (the app role). The embedded server (or, with `citus`, the
        Citus cluster) is ours: as its superuser we create both roles and the database
        owned by the owner role."""
        if self.database_url is None and self.citus:
            import shutil

            from platform_core.citus_cluster import CitusCluster

            # A fresh cluster each start (the demo data is loaded again anyway).
            shutil.rmtree(self.data_dir / "citus", ignore_errors=True)
            self._pg = CitusCluster(workers=2, base_dir=self.data_dir / "citus").start()
            urls = self._pg.create_database(DATABASE_NAME)
            self.database_url, self.migration_database_url = urls.app, urls.owner
        elif self.database_url is None:
            from platform_core.embedded_pg import EmbeddedPostgres
            from platform_core.roles import prepare_database

            self._pg = EmbeddedPostgres(self.data_dir / "postgres")
            urls = prepare_database(self._pg.admin_url, DATABASE_NAME)
            self.database_url, self.migration_database_url = urls.app, urls.owner
        self.migration_database_url = self.migration_database_url or self.database_url
        return self.database_url

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env, "DATABASE_URL": self.database_url or ""}
        env.pop("MIGRATION_DATABASE_URL", None)  # services never get the owner role's URL
        # Where services keep files (voucher exports) and how partners reach the gateway.
        env.setdefault("DATA_DIR", str(self.data_dir))
        env.setdefault("PUBLIC_BASE_URL", self.gateway_url)
        # Local stacks post webhooks to local receivers (docs/webhooks.md, "Receivers").
        env.setdefault("WEBHOOK_ALLOW_PRIVATE_URLS", "1")
        path = [str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_dir = self.log_dir or self.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")
        # A session of its own: Ctrl-C reaches only this process, which stops children in order.
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, proc))
        return proc

    def start_services(self, replicas: int = 1) -> None:
        metrics_off = self._env().get("METRICS_PORT") == "0"
        for service in SERVICES:
            given = service.name in self.service_ports
            ports = self.service_ports.setdefault(
                service.name, [service.base_port + REPLICA_PORT_STEP * i for i in range(replicas)]
            )
            self.metrics_ports.setdefault(
                service.name, [0 if metrics_off else free_port() if given else port + 1000 for port in ports]
            )
            for i in range(len(ports)):
                self.start_service(service, i, wait=False)
        for service in SERVICES:
            for port in self.service_ports[service.name]:
                self._wait_serving(service.name, port)

    def start_maintenance(self) -> None:
        """The data-lifecycle loop (partitions ahead, retention): docs/lifecycle.md."""
        # The one process with the owner role's URL: it creates partitions (DDL).
        env = {**self._env(), "MIGRATION_DATABASE_URL": self.migration_database_url or self.database_url or ""}
        self._spawn("maintenance", [sys.executable, "-m", "platform_core.maintenance"], env)

    def start_export_workers(self, count: int) -> None:
        """Standalone voucher export workers (`python -m services.voucher.worker`), as the
        compose deployment runs them; they share the queue table with in-service workers."""
        for i in range(count):
            self._spawn(f"voucher-worker-{i}", [sys.executable, "-m", "services.voucher.worker"], self._env())

    def start_service(self, service: Service, replica: int = 0, *, wait: bool = True) -> subprocess.Popen:
        """Starts one replica of `service` on its port (again, after `kill`)."""
        port = self.service_ports[service.name][replica]
        metrics_port = self.metrics_ports[service.name][replica]
        env = {**self._env(), service.port_env: str(port), "METRICS_PORT": str(metrics_port)}
        proc = self._spawn(f"{service.name}-{replica}", [sys.executable, "-m", service.module], env)
        if wait:
            self._wait_serving(service.name, port)
        return proc

    def kill(self, name: str) -> None:
        """SIGKILLs the process started as `name` (e.g. `instance-0`): a crash, no shutdown."""
        for entry in list(self.processes):
            if entry[0] == name:
                entry[1].kill()
                entry[1].wait()
                self.processes.remove(entry)
                return
        raise KeyError(name)

    def grpc_host(self) -> str:
        """Where Envoy and the health checks reach the services: GRPC_HOST (the interface
        they bind), or the loopback when that is a wildcard."""
        host = self._env().get("GRPC_HOST") or "127.0.0.1"
        return "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host.strip("[]")

    def _wait_serving(self, name: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        host = self.grpc_host()
        with grpc.insecure_channel(f"[{host}]:{port}" if ":" in host else f"{host}:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{name} on port {port} did not become healthy in {timeout}s")

    def start_gateway(self) -> None:
        self.start_envoy("envoy", self.gateway_config(), self.admin_port)

    def gateway_config(self) -> dict:
        """The Envoy bootstrap of this stack: every replica of a service is an endpoint of
        its family's cluster (round robin, see gateway/envoy_config.py `_cluster`)."""
        from gateway.envoy_config import render

        return render(
            listen_host=self.gateway_host,
            listen_port=self.gateway_port,
            admin_host="127.0.0.1",
            admin_port=self.admin_port,
            descriptor_path=str(DESCRIPTOR),
            upstreams={name: [(self.grpc_host(), p) for p in ports] for name, ports in self.service_ports.items()},
            lua_path=str(ROOT / "gateway" / "partner.lua"),
            route_timeout_s=self.route_timeout_s,
            xff_trusted_hops=self.xff_trusted_hops,
            stats_host=os.environ.get("GATEWAY_STATS_HOST", "127.0.0.1"),
            stats_port=self.stats_port,
        )

    def start_envoy(self, name: str, config: dict, admin_port: int) -> None:
        """Writes `config` as DATA_DIR/<name>.yaml, starts Envoy on it and waits for its
        admin `/ready` (the gateway, and the benchmarks' direct-response ceilings)."""
        out = self.data_dir / f"{name}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(config, sort_keys=False))
        envoy = pathlib.Path(sys.executable).parent / "envoy"
        self._spawn(
            name,
            [str(envoy), "-c", str(out), "--log-level", "warn", "--concurrency", "2", "--base-id", str(admin_port)],
            self._env(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except (OSError, http.client.HTTPException):
                # Not listening yet, or an answer that is not HTTP yet (BadStatusLine while
                # the admin listener starts): try again until the deadline.
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become ready in 30s")

    def _check_alive(self) -> None:
        for name, proc in self.processes:
            if proc.poll() is not None:
                log_dir = self.log_dir or self.data_dir / "logs"
                tail = (log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """Envoy first (no new requests), then services (graceful), then the database.

        The services drain side by side: each takes 1-2 s to stop gracefully, so one after
        the other a stack of eight processes took 11-17 s to stop, together about 2 s."""
        gateways = [p for name, p in self.processes if name.startswith("envoy")]
        self._terminate(gateways)
        self._terminate([p for _name, p in reversed(self.processes) if p not in gateways])
        self.processes.clear()
        if self._pg is not None:
            self._pg.stop()
            self._pg = None

    @staticmethod
    def _terminate(procs: list[subprocess.Popen], timeout: float = 15) -> None:
        """SIGTERM to all of them at once, then each gets `timeout` seconds to exit before a SIGKILL."""
        running = [p for p in procs if p.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def seed_demo(database_url: str) -> dict[str, int]:
    """(Re)loads the demo data of every family; returns how many records of each kind."""
    from platform_core import db
    from stack import demo_affiliate
    from stack.demo import seed, seed_landing, seed_vouchers

    async def _seed() -> dict[str, int]:
        engine = db.create_engine(database_url, pool_size=2)
        try:
            sessions = db.sessionmaker(engine)
            counts = await seed(sessions)
            counts.update(await seed_vouchers(sessions))
            counts.update(await demo_affiliate.seed(sessions))
            counts.update(await seed_landing(sessions))
            return counts
        finally:
            await engine.dispose()

    return asyncio.run(_seed())


def _examples(url: str, key: str) -> str:
    return f"""
Gateway: {url}
Demo key (test mode): {key}

  curl -s -H "Authorization: Bearer {key}" "{url}/partner/v1/instances/analytics?time_frame=day&limit=5"
  curl -s -H "Authorization: Bearer {key}" "{url}/partner/v1/instances/analytics?is_purchased=true&time_frame=custom&start_date=$(date -u -d '-30 days' +%F)&end_date=$(date -u +%F)&page=2&limit=20"
  curl -s -X POST -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
       -d '{{"instance_ids": ["{_demo_instance()}"]}}' "{url}/partner/v1/instances/analytics?events=all"
  curl -s -H "Authorization: Bearer {key}" "{url}/api/partner/v1/campaigns/{_demo_campaign()}/analytics?time_frame=per_month&limit=5"

  curl -s -H "Authorization: Bearer {key}" "{url}/v1/analytics/vouchers/{_demo_voucher()}/performance?include_details=true"
  curl -s -H "Authorization: Bearer {key}" "{url}/v1/analytics/vouchers/{_demo_voucher()}/trends?interval=week"
  (README.md, "Voucher analytics": an export requested, polled and downloaded)

  curl -s -H "Authorization: Bearer {key}" "{url}/v1/affiliate/analytics?section=stats"
  curl -s -H "Authorization: Bearer {key}" "{url}/v1/affiliate/analytics?section=charts&metrics=clicks_over_time,device_breakdown&from=$(date -u -d '-6 days' +%F)"
  (every affiliate section: README.md, "Affiliate Analytics")

gRPC (reflection on): grpcurl -plaintext 127.0.0.1:{{INSTANCE_GRPC_PORT}} list
Press Ctrl-C to stop everything.
"""


CTRL_C = "Press Ctrl-C to stop everything."


def _metrics_endpoints(stack: Stack) -> str:
    """The Prometheus endpoints of the running stack (docs/observability.md)."""
    lines = [f"  {name}: http://127.0.0.1:{port}/metrics"
             for name, ports in stack.metrics_ports.items() for port in ports if port]
    if stack.stats_port:
        lines.append(f"  envoy: http://127.0.0.1:{stack.stats_port}/stats/prometheus")
    return "metrics:\n" + "\n".join(lines)


def _serve_landing_page(stack: Stack):
    """The demo landing page of tenant 1 on its own origin (LANDING_DEMO_PORT, default 8090)."""
    from stack.demo import LANDING_TENANTS
    from stack.landing_page import render_page, serve_page

    tenant_id, name, _zone = LANDING_TENANTS[0]
    port = env_int("LANDING_DEMO_PORT", 8090)
    return serve_page(render_page(stack.gateway_url, tenant_id, name), stack.gateway_host, port)


def _landing_examples(url: str, key: str, page_url: str) -> str:
    return f"""Landing analytics: open the demo landing page {page_url} (tenant 1, tracked by
{url}/api/analytics/tracker.js), click its buttons, then:

  curl -s -H "Authorization: Bearer {key}" "{url}/api/analytics/1"
  curl -s -H "Authorization: Bearer {key}" "{url}/api/analytics/1/today"
"""


def dashboard_url(url: str) -> str:
    """The dashboard with every demo campaign, voucher and landing tenant (the public API
    lists none of them, so the page takes their ids from its address)."""
    from stack.demo import CAMPAIGNS, LANDING_TENANTS, VOUCHER_CODES, demo_id, voucher_id

    campaigns = ",".join(demo_id("campaign", i) for i in range(len(CAMPAIGNS)))
    vouchers = ",".join(voucher_id(n) for n in range(len(VOUCHER_CODES)))
    tenants = ",".join(str(t[0]) for t in LANDING_TENANTS)
    return f"{url}/dashboard/?campaigns={campaigns}&vouchers={vouchers}&tenants={tenants}"


def _demo_campaign() -> str:
    from stack.demo import demo_id

    return demo_id("campaign", 0)


def _demo_voucher() -> str:
    from stack.demo import voucher_id

    return voucher_id(0)


def _demo_instance() -> str:
    from stack.demo import demo_id

    return demo_id("instance", 0)


def configured_ports(replicas: int) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """`make run`'s gRPC and /metrics ports from the environment (README, "Configuration").

    Replica i of a service listens on its `<NAME>_GRPC_PORT` (default 50051-50055) + 100·i.
    `/metrics` is each process's gRPC port + 1000; `METRICS_PORT=0` turns it off, and
    another `METRICS_PORT` is the first process's, the others following it one by one
    (instance, campaign, affiliate, voucher, landing; replicas in order).
    """
    grpc_ports = {s.name: [env_int(s.port_env, s.base_port) + REPLICA_PORT_STEP * i for i in range(replicas)]
                  for s in SERVICES}
    base = env_int("METRICS_PORT", -1) if os.environ.get("METRICS_PORT") else -1
    if base == -1:
        metrics = {name: [port + 1000 for port in ports] for name, ports in grpc_ports.items()}
    else:
        order = [(name, i) for name, ports in grpc_ports.items() for i in range(len(ports))]
        metrics = {name: [0] * len(ports) for name, ports in grpc_ports.items()}
        for n, (name, i) in enumerate(order):
            metrics[name][i] = 0 if base == 0 else base + n
    every = [p for ports in grpc_ports.values() for p in ports] + [p for ports in metrics.values() for p in ports if p]
    if len(set(every)) != len(every):
        raise SystemExit(f"configuration error: the gRPC and metrics ports overlap: {sorted(every)}")
    return grpc_ports, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-demo", action="store_true", help="do not (re)load the demo data")
    args = parser.parse_args()
    from stack.demo import DEMO_KEY

    replicas = env_int("SERVICE_REPLICAS", 1)
    if replicas < 1:
        raise SystemExit("configuration error: SERVICE_REPLICAS must be at least 1")
    store = rate_limit_store()
    if replicas > 1 and store == "memory":
        # In-process limiters would each count their own window: limits would multiply.
        raise SystemExit("configuration error: SERVICE_REPLICAS > 1 needs a shared RATE_LIMIT_STORE (postgres or redis)")
    service_ports, metrics_ports = configured_ports(replicas)
    stack = Stack(
        service_ports=service_ports,
        metrics_ports=metrics_ports,
        data_dir=pathlib.Path(os.environ.get("DATA_DIR") or ROOT / ".data").resolve(),
        gateway_host=os.environ.get("GATEWAY_HOST") or "127.0.0.1",
        gateway_port=env_int("GATEWAY_PORT", 8080),
        admin_port=env_int("GATEWAY_ADMIN_PORT", 9901),
        stats_port=env_int("GATEWAY_STATS_PORT", 9902) or None,
        database_url=os.environ.get("DATABASE_URL") or None,
        migration_database_url=os.environ.get("MIGRATION_DATABASE_URL") or None,
        xff_trusted_hops=env_int("GATEWAY_XFF_TRUSTED_HOPS", 0),
        citus=env_int("CITUS", 0) == 1,
    )
    stopping = False
    landing_page = None

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):  # explicit: a background job inherits SIGINT ignored
        signal.signal(sig, on_signal)
    try:
        stack.start_database()
        if stack._pg is None:  # a server of the operator's: never the services as a superuser
            from platform_core.roles import refuse_superuser

            refuse_superuser(stack.database_url)
        url = stack.migration_database_url
        where = ("DATABASE_URL" if stack._pg is None
                 else f"a Citus coordinator and two workers in {stack.data_dir / 'citus'}" if stack.citus
                 else f"embedded PostgreSQL in {stack.data_dir / 'postgres'}")
        print(f"database: {where}\n  DATABASE_URL={stack.database_url}  (services: the app role)"
              f"\n  MIGRATION_DATABASE_URL={url}  (migrations, admin: the owner role)")
        migrate(url)
        print("migrations: at head")
        if not args.no_demo:
            counts = seed_demo(url)
            print("demo data:", ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        stack.start_services(replicas)
        stack.start_maintenance()
        print(f"services: {replicas} replica(s) each behind Envoy (round robin), rate limits in {store}")
        stack.start_gateway()
        landing_page = _serve_landing_page(stack)
        print(f"logs: {stack.data_dir / 'logs'}")
        print(_metrics_endpoints(stack))
        print(_examples(stack.gateway_url, DEMO_KEY).replace(
            "{INSTANCE_GRPC_PORT}", str(stack.service_ports["instance"][0])).replace(CTRL_C, ""))
        print(_landing_examples(stack.gateway_url, DEMO_KEY, landing_page.url))
        print(f"Partner dashboard (sign in with the demo key): {dashboard_url(stack.gateway_url)}\n")
        print(CTRL_C)
        while True:
            stack._check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        if landing_page is not None:
            landing_page.stop()
        stack.stop()
        print("stopped: no process left running")


if __name__ == "__main__":
    main()
