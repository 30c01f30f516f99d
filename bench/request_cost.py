"""What one read costs the service: `python -m bench.request_cost` (about two minutes).

The stack as `make run` starts it, with its defaults: an embedded PostgreSQL of its own,
migrations, the demo data (stack/demo.py), every service as its own process with the
PostgreSQL rate-limit store, authentication, the audit log, metrics and JSON access logs
on, and Envoy rendered by the same code (stack.run.Stack). Only the rate limits are raised
(RATE_LIMITS), so that N requests in a row stay under them; the limiter still does its
work on every call.

For each read family, after a warm-up, N requests one after another through the gateway:

* `cpu_us`: CPU time (user + system, psutil) of the family's service process over the N
  requests, divided by N. Background work the requests cause (the audit writer's batched
  INSERT) is included; the measuring client and Envoy are not.
* `envoy_cpu_us`: the same for the gateway's Envoy process (the transcoder, the Lua
  filter, the access log), which shares the machine's cores with the service.
* `round_trips`: client round trips the service made to PostgreSQL, per request, counted
  by PostgreSQL itself: with `log_min_duration_statement = 0` the server logs one line
  per simple-protocol query (`statement:`) and one per extended-protocol execution
  (`execute`), with the role and database in the prefix; lines of the app role in the
  window are counted and sorted by what they ran: `limiter` (the rate-limit store),
  `audit` (the background audit INSERT), `auth` (key lookups, cached 5 s), `read`.
  A one-time `parse` of a statement being prepared counts too (`prepare`).

Output: a table on stdout and the JSON in bench/results/request_cost.json (or --out).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import psycopg

from bench import lean
from stack.run import ROOT, SERVICES, Stack, free_port, migrate, seed_demo

FAMILIES = ("instance_list", "instance_details_20", "campaign_analytics", "affiliate_stats", "voucher_trends",
            "landing_dashboard")
# Raised so that the measured requests are not refused; every other setting is the default.
LIMITS = ("instances.list", "instances.details", "campaigns.analytics", "affiliate.analytics", "vouchers.trends",
          "landing.dashboard")
PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
LINE = re.compile(r"^\S+ \S+ \S+ \[\d+\] (?P<db>[^|]*)\|(?P<user>[^|]*)\| LOG:  duration: [\d.]+ ms  (?P<kind>statement|execute|parse|bind)(?P<rest>.*)$")


def _requests(client: httpx.Client, family: str, details_ids: list[str]) -> tuple[str, str, dict[str, Any]]:
    from stack.demo import demo_id, voucher_id

    today = dt.datetime.now(dt.timezone.utc).date()
    if family == "instance_list":
        start = (today - dt.timedelta(days=30)).isoformat()
        return "GET", f"/partner/v1/instances/analytics?time_frame=custom&start_date={start}&end_date={today}", {}
    if family == "instance_details_20":
        return "POST", "/partner/v1/instances/analytics?events=all", {"json": {"instance_ids": details_ids}}
    if family == "campaign_analytics":
        return "GET", f"/api/partner/v1/campaigns/{demo_id('campaign', 0)}/analytics?time_frame=per_day", {}
    if family == "affiliate_stats":
        return "GET", "/v1/affiliate/analytics?section=stats", {}
    if family == "voucher_trends":
        return "GET", f"/v1/analytics/vouchers/{voucher_id(0)}/trends?interval=week", {}
    if family == "landing_dashboard":
        return "GET", "/api/analytics/1", {}
    raise ValueError(family)


def _service_of(family: str) -> str:
    return family.split("_", 1)[0]


# The workers' queue polls in the same role (the voucher export worker, the export
# service's and the webhook deliveries'): each a transaction that marks itself
# cross-account for Citus, then its SELECT; background, not a read's round trip.
BACKGROUND = ("voucher_exports", "export_jobs", "webhook_deliveries", "set local citus.")


def _classify(kind: str, rest: str) -> str:
    text = rest.lower()
    sql = text.split(":", 1)[1].strip() if ":" in text else ""
    if sql.startswith("with next as") or any(name in sql for name in BACKGROUND):
        return "background"  # a worker's poll, its one-time parse included
    if kind == "parse":
        return "prepare"
    if not sql.strip(" ;"):
        return "ping"  # SQLAlchemy's pool_pre_ping sends an empty query
    if "rate_limit" in sql:
        return "limiter"
    if "audit_log" in sql:
        return "audit"
    if "api_keys" in sql:
        return "auth"
    if sql.startswith(("begin", "commit", "rollback")):
        return "transaction"  # the workers' transactions (the audit INSERT is autocommit)
    return "read"


# What a request makes the service send (the rest is batched background work).
REQUEST_PATH = ("read", "limiter", "auth", "ping", "prepare")


def _round_trips(log_path: pathlib.Path, start: int, end: int, user: str, database: str) -> collections.Counter:
    """The app role's logged executions between two offsets of the server log, by kind."""
    counts: collections.Counter = collections.Counter()
    with open(log_path, "rb") as f:
        f.seek(start)
        chunk = f.read(end - start).decode(errors="replace")
    # A logged statement spans lines; only its first carries the prefix.
    entries: list[str] = []
    for line in chunk.splitlines():
        if PREFIX.match(line):
            entries.append(line)
        elif entries:
            entries[-1] += " " + line
    for entry in entries:
        m = LINE.match(entry)
        if m is None or m["user"] != user or m["db"] != database or m["kind"] == "bind":
            continue
        counts[_classify(m["kind"], m["rest"])] += 1
    return counts


def _profile(pid: int, family: str) -> subprocess.Popen:
    """py-spy (when installed) sampling the service during the rounds: REQUEST_COST_PYSPY=<dir>."""
    out = pathlib.Path(os.environ["REQUEST_COST_PYSPY"])
    out.mkdir(parents=True, exist_ok=True)
    spy = pathlib.Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "-p", str(pid), "-r", "500", "-f", "raw", "-o",
                             str(out / f"{family}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(n: int, warmup: int, rounds: int, out: pathlib.Path | None) -> dict[str, Any]:
    from stack.demo import DEMO_KEY

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="request-cost-"))
    limits = ",".join(f"{bucket}=1000000000/60" for bucket in LIMITS)
    stack = Stack(
        data_dir=tmp, gateway_port=free_port(), admin_port=free_port(),
        service_ports={s.name: [free_port()] for s in SERVICES},
        # The defaults of `make run` (no REDIS_URL: the PostgreSQL store), limits raised.
        extra_env={"RATE_LIMITS": limits, "RATE_LIMIT_STORE": "postgres", "REDIS_URL": "", "LOG_LEVEL": "INFO"},
    )
    results: dict[str, Any] = {"n": n, "rounds": rounds, "families": {}}
    try:
        app_url = stack.start_database()
        owner_url = stack.migration_database_url
        migrate(owner_url)
        seed_demo(owner_url)
        info = psycopg.conninfo.conninfo_to_dict(app_url)
        user, database = info["user"], info["dbname"]
        admin_url = stack._pg.admin_url  # type: ignore[attr-defined]
        log_path = pathlib.Path(stack._pg._server.pgdata) / "log"  # type: ignore[attr-defined]
        details_ids = lean.details_ids(owner_url)
        stack.start_services()
        stack.start_gateway()
        pids = {name.split("-")[0]: proc.pid for name, proc in stack.processes if name != "envoy"}
        envoy_pid = next(proc.pid for name, proc in stack.processes if name == "envoy")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] %d|%u| '")
            admin.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
            admin.execute("SELECT pg_reload_conf()")
            time.sleep(1.0)
        with httpx.Client(base_url=stack.gateway_url, timeout=30,
                          headers={"authorization": f"Bearer {DEMO_KEY}"}) as client:
            for family in FAMILIES:
                method, path, kw = _requests(client, family, details_ids)
                pid = pids[_service_of(family)]
                for _ in range(warmup):
                    r = client.request(method, path, **kw)
                    if r.status_code != 200:
                        raise RuntimeError(f"{family}: {r.status_code} {r.text[:300]}")
                cpu, envoy_cpu, calls, trips = 0.0, 0.0, 0, collections.Counter()
                spy = _profile(pid, family) if os.environ.get("REQUEST_COST_PYSPY") else None
                for _ in range(rounds):
                    time.sleep(0.3)  # the warm-up's audit rows written before the window opens
                    log_start = log_path.stat().st_size
                    before, envoy_before = lean.cpu_s([pid]), lean.cpu_s([envoy_pid])
                    for _ in range(n):
                        r = client.request(method, path, **kw)
                        if r.status_code != 200:
                            raise RuntimeError(f"{family}: {r.status_code} {r.text[:300]}")
                    time.sleep(0.25)  # the audit writer's batch of this window (every 100 ms)
                    cpu += lean.cpu_s([pid]) - before
                    envoy_cpu += lean.cpu_s([envoy_pid]) - envoy_before
                    calls += n
                    time.sleep(0.2)  # the server log flushed
                    trips += _round_trips(log_path, log_start, log_path.stat().st_size, user, database)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                per = {k: round(v / calls, 3) for k, v in sorted(trips.items())}
                results["families"][family] = {
                    "cpu_us": round(cpu / calls * 1e6, 1),
                    "envoy_cpu_us": round(envoy_cpu / calls * 1e6, 1),
                    "round_trips": round(sum(trips[k] for k in REQUEST_PATH) / calls, 3),
                    "round_trips_by_kind": per,
                    "requests": calls,
                }
                print(f"{family:22s} cpu {cpu / calls * 1e6:8.1f} us/request (envoy {envoy_cpu / calls * 1e6:6.1f})"
                      f"   round trips "
                      f"{results['families'][family]['round_trips']:.2f}  {per}",
                      flush=True)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("ALTER SYSTEM RESET log_min_duration_statement")
            admin.execute("ALTER SYSTEM RESET log_line_prefix")
            admin.execute("SELECT pg_reload_conf()")
    finally:
        stack.stop()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written: {out}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=int(os.environ.get("REQUEST_COST_N", "300")),
                        help="requests per round and family (300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per family (3)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per family (50)")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "bench" / "results" / "request_cost.json")
    args = parser.parse_args(argv)
    measure(args.n, args.warmup, args.rounds, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
