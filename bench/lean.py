"""The configurations people run against two lean ceilings, in one run (bench.all's "lean").

The stack as `make run` starts it (embedded PostgreSQL, the PostgreSQL rate-limit store,
audit log, metrics and logs on, the demo data) and as compose runs it (the Redis store,
a redis-server this benchmark starts on a free port), against, in the same run:

* the bare server (bench/bare_server.py): Starlette + asyncpg in one process, the same
  SQL and the same JSON, with a cached key check, an in-memory limit and the same headers,
  for each of the five reads (instance list, campaign analytics, affiliate `stats`, voucher
  `trends`, landing dashboard). Each answer is checked equal to the gateway's (all but the
  answer's request id and instant) before anything is measured; a difference stops the run;
* the gRPC floor (bench/floor.py): the real gateway configuration in front of a trivial
  grpc.aio handler, and Envoy's direct response through the same filter chain.

Ablations, labelled as such: the memory limiter (`RATE_LIMIT_STORE=memory`), and 2
replicas of every service behind Envoy (as `make run SERVICE_REPLICAS=2`) for 1 vs 2
processes. Every limiter still runs: RATE_LIMITS raises the bench account's limits so
that no 429 distorts a figure (any non-2xx answer is counted and reported).

Load: wrk (Debian's package, installed when missing) at 1 and 8 connections for
`--seconds` per series, `--rounds` interleaved rounds; and the Python client (httpx, one
connection, sequential) for the list at 1 connection.

CPU under that load: for every series, the CPU time (user + system, psutil) that the
answering server process spent over the wrk run (the family's service, all its replicas;
the bare server; the floor's trivial handler) and the Envoy in front of it, divided by the
answers (`cpu_us`, `envoy_cpu_us`). The bare server's figure is the same-run ceiling of
the service's. The 20-instance details read (a POST the bare server does not answer) is
loaded through the gateway for its CPU.

    python -m bench.lean [--quick] [--seconds 5] [--rounds 3] [--out bench/results/lean.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import httpx
import psutil

from bench import wrk as loadgen
from bench.ceiling import CEILING_PATH, gateway_chain_config
from stack.demo import DEMO_KEY, LANDING_TENANTS, demo_id, voucher_id
from stack.run import ROOT, SERVICES, Stack, free_port, migrate, seed_demo

RESULTS = ROOT / "bench" / "results"
CONNECTIONS = (1, 8)
# Raised for the bench account (the limiter still runs on every request).
RATE_LIMITS = ("instances.list=1000000000/3600,instances.details=1000000000/3600,landing.track=1000000000/60,"
               "landing.track.source=1000000000/60,campaigns.analytics=1000000000/3600,"
               "vouchers.trends=1000000000/60,affiliate.analytics=1000000000/60,landing.dashboard=1000000000/60")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] lean: {message}", flush=True)


def list_path(today: dt.date) -> str:
    """The instance list over a 30-day window (custom, whole days), page 1 of 20."""
    return (f"/partner/v1/instances/analytics?time_frame=custom&start_date={today - dt.timedelta(days=29)}"
            f"&end_date={today}&limit=20")


def read_paths(today: dt.date) -> dict[str, str]:
    """The five reads of issue 13 on the demo data, by the name the report gives them: the
    instance list, campaign analytics (custom range, 30 days), affiliate `stats` and voucher
    `trends` (their default 30 days) and the landing dashboard."""
    start = today - dt.timedelta(days=29)
    return {
        "list": list_path(today),
        "campaign analytics": f"/api/partner/v1/campaigns/{demo_id('campaign', 0)}/analytics?time_frame=custom_range"
                              f"&start_date={start}&end_date={today}",
        "affiliate stats": "/v1/affiliate/analytics?section=stats",
        "voucher trends": f"/v1/analytics/vouchers/{voucher_id(0)}/trends?interval=week",
        "landing dashboard": f"/api/analytics/{LANDING_TENANTS[0][0]}",
    }


TRACK_PATH = "/api/analytics/track"
# Which service answers each read (its processes' CPU is the series' `cpu_us`).
SERVICE_OF = {"list": "instance", "campaign analytics": "campaign", "affiliate stats": "affiliate",
              "voucher trends": "voucher", "landing dashboard": "landing", "track": "landing"}
DETAILS = "instance details (20): gateway, PostgreSQL limiter (make run)"
DETAILS_PATH = "/partner/v1/instances/analytics?events=all"


def details_ids(owner_url: str) -> list[str]:
    """The 20 instances of the demo data a details request asks for (the newest test-mode ones)."""
    import psycopg

    with psycopg.connect(owner_url) as conn:
        return [str(r[0]) for r in conn.execute(
            "SELECT id FROM instances WHERE livemode = false ORDER BY started_at DESC, id LIMIT 20")]


def track_body() -> str:
    return json.dumps({"tenant_id": LANDING_TENANTS[0][0], "event_type": "pageview", "metadata": {"path": "/bench"}})


# ------------------------------------------------------------------------------- wrk

def ensure_wrk() -> str:
    return loadgen.ensure()


def run_wrk(wrk_path: str, url: str, path: str, method: str, body: str | None, connections: int,
            seconds: float) -> dict[str, Any]:
    """With the demo key. `req_per_s` here counts the 2xx answers only."""
    out = loadgen.run(wrk_path, url, path, method, body, connections, seconds, user_agent=CHROME, key=DEMO_KEY)
    out["req_per_s"] = out["ok_per_s"]
    return out


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def run_measured(wrk_path: str, url: str, path: str, method: str, body: str | None, connections: int,
                 seconds: float, server: list[int], envoy: list[int]) -> dict[str, Any]:
    """One wrk run, with the CPU the answering processes (`server`, `envoy`) spent per
    answer over it (`cpu_us`, `envoy_cpu_us`; None for no process)."""
    before, envoy_before = cpu_s(server), cpu_s(envoy)
    out = run_wrk(wrk_path, url, path, method, body, connections, seconds)
    used, envoy_used = cpu_s(server) - before, cpu_s(envoy) - envoy_before
    answers = max(out["requests"], 1)
    out["cpu_us"] = round(used / answers * 1e6, 1) if server else None
    out["envoy_cpu_us"] = round(envoy_used / answers * 1e6, 1) if envoy else None
    return out


def pids(stack: Stack, name: str) -> list[int]:
    """The pids of a stack's processes called `name`, or `name-<n>` (a service's replicas)."""
    return [p.pid for n, p in stack.processes
            if n == name or (n.startswith(name + "-") and n[len(name) + 1:].isdigit())]


def python_client_p50(url: str, path: str, n: int) -> float:
    """p50 (ms) of `n` sequential requests of one httpx client (one connection)."""
    times = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"{url}{path} answered {r.status_code}: {r.text[:300]}")
    return statistics.median(times)


# ------------------------------------------------------------------------------- the check


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ, leaving out only the answer's request id and instant
    (meta's, and the voucher family's `generated_at`)."""
    if isinstance(a, dict) and isinstance(b, dict):
        skip = ("requestId", "timestamp") if path == ".meta" else ("generated_at",) if path == "" else ()
        return [f"{path}.{k}" if (k in a) != (k in b) else d for k in sorted(set(a) | set(b)) if k not in skip
                for d in (differences(a.get(k), b.get(k), f"{path}.{k}") if (k in a) == (k in b) else [k])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [path or "."]


def fetch(url: str) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {DEMO_KEY}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())


def check_same_answer(gateway_url: str, bare_url: str, path: str) -> dict[str, Any]:
    """The bare server's JSON and headers against the gateway's; raises on any difference."""
    gs, gh, gbody = fetch(gateway_url + path)
    bs, bh, bbody = fetch(bare_url + path)
    diff = differences(gbody, bbody)
    missing = [h for h in ("x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
               if h in gh and h not in bh]
    if gs != 200 or bs != 200 or diff or missing:
        raise RuntimeError(f"the bare server's answer differs from the gateway's for {path}: status {gs}/{bs}, "
                           f"fields {diff}, headers missing {missing}")
    return {"path": path, "equal": True, "items": _items(gbody), "headers": sorted(
        h for h in gh if h.startswith("x-"))}


def _items(body: Any) -> int:
    """The length of the longest list in an answer (its rows, points or days)."""
    if isinstance(body, list):
        return max([len(body), *(_items(x) for x in body)])
    if isinstance(body, dict):
        return max([0, *(_items(x) for x in body.values())])
    return 0


# ------------------------------------------------------------------------------- processes


def start_process(stack: Stack, name: str, argv: list[str], port: int) -> None:
    stack._spawn(name, argv, stack._env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stack._check_alive()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port} in 30s")


def start_ceilings(stack: Stack, database_url: str, answer: Any, data_dir: pathlib.Path) -> tuple[str, str]:
    """Starts the bare server on `database_url` and the floor (an Envoy with the gateway's
    configuration whose instance and landing clusters point at bench.floor, answering
    `answer`, the gateway's list JSON); returns both base URLs."""
    bare_port = free_port()
    start_process(stack, "bare-server", [sys.executable, "-m", "bench.bare_server", "--port", str(bare_port),
                                         "--database-url", database_url], bare_port)
    answer_file = data_dir / "list.json"
    answer_file.parent.mkdir(parents=True, exist_ok=True)
    answer_file.write_text(json.dumps(answer))
    floor_port = free_port()
    start_process(stack, "floor", [sys.executable, "-m", "bench.floor", "--port", str(floor_port),
                                   "--list-json", str(answer_file)], floor_port)
    fport, fadmin = free_port(), free_port()
    upstreams = {n: [("127.0.0.1", p) for p in ports] for n, ports in stack.service_ports.items()}
    upstreams["instance"] = upstreams["landing"] = [("127.0.0.1", floor_port)]
    stack.start_envoy("envoy-floor", gateway_chain_config(fport, fadmin, json.dumps(answer), upstreams), fadmin)
    return f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{fport}"


# The one embedded PostgreSQL holds the four stacks' 25 service processes, each with its
# read, write and engine pools: past PostgreSQL's default of 100 connections once every
# read family has been loaded (one stack alone stays well under it).
MAX_CONNECTIONS = 400


def more_connection_slots(stack: Stack) -> None:
    """Raises the embedded server's max_connections to MAX_CONNECTIONS (a restart)."""
    import psycopg

    with psycopg.connect(stack._pg.admin_url, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    stack._pg.stop_immediately()  # type: ignore[attr-defined]
    stack._pg.start()  # type: ignore[attr-defined]


def service_stack(data_dir: pathlib.Path, database_url: str, env: dict[str, str], replicas: int = 1) -> Stack:
    s = Stack(data_dir=data_dir, gateway_port=free_port(), admin_port=free_port(),
              service_ports={x.name: [free_port() for _ in range(replicas)] for x in SERVICES},
              database_url=database_url, extra_env={"RATE_LIMITS": RATE_LIMITS, "VOUCHER_EXPORT_WORKERS": "0", **env})
    s.start_services()
    s.start_gateway()
    return s


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.lean", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter series (3 s each)")
    p.add_argument("--seconds", type=float, default=None, help="seconds of each wrk series (default 10; quick 3)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--python-requests", type=int, default=None, help="sequential Python-client requests (300)")
    p.add_argument("--out", type=pathlib.Path, default=None)
    p.add_argument("--data-dir", type=pathlib.Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    py_n = args.python_requests or (100 if args.quick else 300)
    out = args.out or RESULTS / f"lean{'-quick' if args.quick else '-latest'}.json"
    wrk = ensure_wrk()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    data_dir = args.data_dir or pathlib.Path(tempfile.mkdtemp(prefix="bench-lean-"))
    env_no_redis = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RATE_LIMIT_STORE")}
    os.environ.clear()
    os.environ.update(env_no_redis)
    results: dict[str, Any] = {
        "command": "python -m bench.lean " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "config": {"seconds": seconds, "rounds": args.rounds, "connections": list(CONNECTIONS),
                   "rate_limits": RATE_LIMITS, "python_requests": py_n},
    }
    stacks: list[Stack] = []
    redis = None
    started = time.monotonic()
    try:
        base = Stack(data_dir=data_dir / "pg", gateway_port=free_port(), admin_port=free_port(),
                     service_ports={x.name: [free_port()] for x in SERVICES},
                     extra_env={"RATE_LIMITS": RATE_LIMITS, "VOUCHER_EXPORT_WORKERS": "0"})
        stacks.append(base)
        base.start_database()
        more_connection_slots(base)
        migrate(base.migration_database_url)
        results["demo"] = seed_demo(base.migration_database_url)
        _say(f"demo data: {results['demo']}")
        base.start_services()
        base.start_gateway()
        url = base.database_url
        today = dt.datetime.now(dt.timezone.utc).date()
        path = list_path(today)

        _status, _h, answer = fetch(base.gateway_url + path)
        bare_url, floor_url = start_ceilings(base, url, answer, data_dir)

        # Compose's configuration: the Redis store.
        rport = free_port()
        redis = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(rport),
                                  "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        red = service_stack(data_dir / "redis", url, {"REDIS_URL": f"redis://127.0.0.1:{rport}/0",
                                                      "RATE_LIMIT_STORE": "redis"})
        stacks.append(red)
        mem = service_stack(data_dir / "memory", url, {"RATE_LIMIT_STORE": "memory"})
        stacks.append(mem)
        two = service_stack(data_dir / "replicas", url, {"RATE_LIMIT_STORE": "postgres"}, replicas=2)
        stacks.append(two)

        reads = read_paths(today)
        checks = {("instance list" if name == "list" else name): check_same_answer(base.gateway_url, bare_url, p)
                  for name, p in reads.items()}
        for s in (red, mem, two):
            _s, _h, other = fetch(s.gateway_url + path)
            if differences(answer, other):
                raise RuntimeError(f"the {s.data_dir.name} stack answers differently: {differences(answer, other)}")
        results["checks"] = checks
        _say(f"the bare server's JSON equals the gateway's: {checks}")

        body = track_body()
        bare, floor, envoy_floor = pids(base, "bare-server"), pids(base, "floor"), pids(base, "envoy-floor")

        def gateway(stack: Stack, read: str) -> tuple[list[int], list[int]]:
            """The processes that answer `read` through `stack`'s gateway: its service's, its Envoy."""
            return pids(stack, SERVICE_OF[read]), pids(stack, "envoy")

        targets = {
            "list: gateway, PostgreSQL limiter (make run)": (base.gateway_url, "GET", path, None,
                                                             *gateway(base, "list")),
            "list: gateway, Redis limiter (compose)": (red.gateway_url, "GET", path, None,
                                                       *gateway(red, "list")),
            "list: bare Starlette + asyncpg": (bare_url, "GET", path, None, bare, []),
            "list: Envoy + transcoder + trivial grpc.aio": (floor_url, "GET", path, None, floor, envoy_floor),
            "list: Envoy direct response (gateway chain)": (floor_url, "GET", CEILING_PATH, None, [], envoy_floor),
            "list: ablation, memory limiter": (mem.gateway_url, "GET", path, None,
                                               *gateway(mem, "list")),
            "list: ablation, 2 replicas (PostgreSQL limiter)": (two.gateway_url, "GET", path, None,
                                                                *gateway(two, "list")),
            **{f"{name}: {where}": (u, "GET", p, None, *procs) for name, p in reads.items() if name != "list"
               for where, u, procs in (("gateway, PostgreSQL limiter (make run)", base.gateway_url,
                                        gateway(base, name)),
                                       ("bare Starlette + asyncpg", bare_url, (bare, [])))},
            DETAILS: (base.gateway_url, "POST", DETAILS_PATH,
                      json.dumps({"instance_ids": details_ids(base.migration_database_url)}), *gateway(base, "list")),
            "track: gateway, PostgreSQL limiter (make run)": (base.gateway_url, "POST", TRACK_PATH, body,
                                                              *gateway(base, "track")),
            "track: gateway, Redis limiter (compose)": (red.gateway_url, "POST", TRACK_PATH, body,
                                                        *gateway(red, "track")),
            "track: Envoy + transcoder + trivial grpc.aio": (floor_url, "POST", TRACK_PATH, body, floor, envoy_floor),
            "track: ablation, memory limiter": (mem.gateway_url, "POST", TRACK_PATH, body,
                                                *gateway(mem, "track")),
        }
        for name, (u, m, p, b, _server, _envoy) in targets.items():  # warm-up, and a check that each answers 2xx
            w = run_wrk(wrk, u, p, m, b, 2, 1)
            if w["non2xx"] or w["errors"]:
                raise RuntimeError(f"{name}: {w['non2xx']} non-2xx answers, {w['errors']} errors in the warm-up")
        series: dict[str, dict[str, list[dict[str, Any]]]] = {n: {str(c): [] for c in CONNECTIONS} for n in targets}
        for r in range(args.rounds):
            order = list(targets.items()) if r % 2 == 0 else list(reversed(targets.items()))
            for name, (u, m, p, b, server, front) in order:
                for c in CONNECTIONS:
                    series[name][str(c)].append(run_measured(wrk, u, p, m, b, c, seconds, server, front))
            _say(f"round {r + 1}/{args.rounds} done ({time.monotonic() - started:.0f} s)")
        results["wrk"] = series
        results["python_client"] = {
            "list: gateway, PostgreSQL limiter (make run)": python_client_p50(base.gateway_url, path, py_n),
            "list: bare Starlette + asyncpg": python_client_p50(bare_url, path, py_n),
            "list: Envoy + transcoder + trivial grpc.aio": python_client_p50(floor_url, path, py_n),
        }
    finally:
        for s in reversed(stacks):
            s.stop()
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["duration_s"] = round(time.monotonic() - started)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    _say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
