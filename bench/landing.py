"""Landing Analytics benchmark: `make bench` (python -m bench.landing) writes docs/performance-landing.md.

One run, side by side on the same machine:

1. an embedded PostgreSQL (or a fresh `partnerlytics_bench_landing` database on the
   DATABASE_URL server), migrated; a tenant with EVENTS events (5M; `--quick` 200k) over
   the last 35 days, generated inside PostgreSQL: 35 days at the documented 100 events a
   minute would be 5.04M, so its 7-day window holds about what the limit admits;
2. the services and Envoy from stack.run.Stack, one trusted proxy hop (wrk plays the load
   balancer and spreads events over ~1,900 client addresses), the landing limits raised
   so that they are computed on every event but never refuse;
3. tracking: wrk on loopback, bounded in time, many connections, POST /api/analytics/track
   through the whole gateway to the service and a committed row per acknowledged event
   (checked: rows written = 2xx answers), against Envoy's direct response with the same
   wrk settings (a minimal Envoy, and the real gateway's filter chain);
4. dashboards: GET /api/analytics/{id} and /today of the big tenant through the gateway
   vs the service's own statement and a hand-written one in raw SQL (psycopg);
5. results as JSON in bench/results/ and the report.

    python -m bench.landing                 # ~4-6 minutes on 2 cores
    python -m bench.landing --quick         # a smoke check in ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import pathlib
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from bench import dataset
from bench import wrk as loadgen
from bench.ceiling import start_ceilings
from bench.measure import CpuMeter, cpu_model, process_tree, run_series, spread, summary
from platform_core.accounts import Principal
from services.landing import queries
from services.landing.salts import local_midnight
from stack.run import ROOT, Stack, free_port, migrate
from bench.landing_report import DAYS, ZONE, render

log = logging.getLogger("bench.landing")

DATABASE_NAME = "partnerlytics_bench_landing"
# Computed on every event (both limiters run), never refusing.
RATE_LIMITS = ("landing.track=1000000000/60,landing.track.source=1000000000/60,"
               "landing.dashboard=1000000000/60,landing.tenants.write=1000000/60")
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.landing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="200k events, short wrk runs, one round")
    p.add_argument("--events", type=int, default=None, help="events of the big tenant (default 5,000,000)")
    p.add_argument("--seconds", type=float, default=None, help="seconds of each wrk run (default 10; quick 3)")
    p.add_argument("--connections", type=int, nargs="+", default=[16, 64], help="wrk connections (concurrent clients)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of every measurement (default 3; quick 1)")
    p.add_argument("--requests", type=int, default=None, help="timed dashboard requests per series (default 30)")
    p.add_argument("--data-dir", type=pathlib.Path, default=ROOT / ".data" / "bench-landing")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report (default docs/performance-landing.md; quick: bench/results/performance-landing-quick.md)")
    p.add_argument("--render-from", type=pathlib.Path, default=None, metavar="RESULTS_JSON",
                   help="measure nothing: re-render the report from a results file")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------- database


@dataclass
class Database:
    url: str
    embedded: Any

    def postmaster_pid(self) -> int | None:
        with psycopg.connect(self.url) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        pid_file = pathlib.Path(data_dir) / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def open_database(data_dir: pathlib.Path) -> Database:
    from platform_core.embedded_pg import EmbeddedPostgres

    server_url = os.environ.get("DATABASE_URL")
    embedded = None
    if server_url:
        admin_url = server_url.replace("postgresql+psycopg://", "postgresql://")
    else:
        embedded = EmbeddedPostgres(data_dir / "postgres")
        with psycopg.connect(embedded.admin_url, autocommit=True) as conn:
            for name, value in dataset.EMBEDDED_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            pending = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
        if pending:
            embedded.stop()
            embedded = EmbeddedPostgres(data_dir / "postgres")
        admin_url = embedded.admin_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    if embedded is not None:
        url = embedded.url(DATABASE_NAME)
    else:
        from sqlalchemy.engine import make_url

        url = make_url(admin_url).set(database=DATABASE_NAME).render_as_string(hide_password=False)
    return Database(url, embedded)


# Visitors: ~4,000 a day, each with a hash of its own per local day (as the rotating
# salt makes them); event types in a landing page's proportions.
_EVENTS = """
INSERT INTO landing_events (account_id, tenant_id, occurred_at, event_type, visitor_hash, duration_ms, user_agent,
                            referrer)
SELECT (SELECT account_id FROM landing_tenants WHERE id = %(t)s), %(t)s, at, kind,
       left(md5(%(t)s || ':' || (at AT TIME ZONE %(zone)s)::date || ':' || visitor)
            || md5(visitor || ':' || (at AT TIME ZONE %(zone)s)::date), 45),
       CASE WHEN kind = 5 THEN (5000 + random() * 300000)::int END,
       %(ua)s, 'https://bench.example/'
FROM (
  SELECT %(lo)s::timestamptz + random() * (%(hi)s::timestamptz - %(lo)s::timestamptz) AS at,
         floor(random() * 4000)::int AS visitor,
         (ARRAY[1,1,1,1,2,3,4,5,5,5,6,7,7])[1 + floor(random() * 13)::int]::smallint AS kind
  FROM generate_series(1, %(n)s)
) s
ORDER BY at
"""


_ROLLUP_VISITORS = """
INSERT INTO landing_daily_visitors (account_id, tenant_id, day, visitor_hash)
SELECT DISTINCT account_id, tenant_id, (occurred_at AT TIME ZONE %(zone)s)::date, visitor_hash
FROM landing_events WHERE tenant_id = %(t)s
"""
_ROLLUP_STATS = """
INSERT INTO landing_daily_stats (account_id, tenant_id, day, visitors, pageview, click_whatsapp, click_call,
                                 click_toggle_currency, time_on_page, qr_scan, product_click, duration_ms)
SELECT account_id, tenant_id, (occurred_at AT TIME ZONE %(zone)s)::date, count(DISTINCT visitor_hash),
       count(*) FILTER (WHERE event_type = 1), count(*) FILTER (WHERE event_type = 2),
       count(*) FILTER (WHERE event_type = 3), count(*) FILTER (WHERE event_type = 4),
       count(*) FILTER (WHERE event_type = 5), count(*) FILTER (WHERE event_type = 6),
       count(*) FILTER (WHERE event_type = 7), coalesce(sum(duration_ms) FILTER (WHERE event_type = 5), 0)
FROM landing_events WHERE tenant_id = %(t)s GROUP BY 1, 2, 3
"""


def _create_tenant(url: str, account_id, name: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "INSERT INTO landing_tenants (account_id, livemode, name, time_zone) VALUES (%s, false, %s, %s) "
            "RETURNING id", (account_id, name, ZONE),
        ).fetchone()[0]


def load_events(url: str, tenant_id: int, n: int, now: dt.datetime) -> dict[str, Any]:
    started = time.perf_counter()
    chunk = 1_000_000
    lo = now - dt.timedelta(days=DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        done = 0
        while done < n:
            size = min(chunk, n - done)
            # Chunks in time order, as events arrive.
            a = lo + (now - lo) * done / n
            b = lo + (now - lo) * (done + size) / n
            conn.execute(_EVENTS, {"t": tenant_id, "zone": ZONE, "ua": CHROME, "lo": a, "hi": b, "n": size})
            done += size
            _say(f"  {done:,} / {n:,} events")
        insert_s = time.perf_counter() - started
        # The rollups the service keeps while it writes, built here from the rows at once.
        conn.execute(_ROLLUP_VISITORS, {"t": tenant_id, "zone": ZONE})
        conn.execute(_ROLLUP_STATS, {"t": tenant_id, "zone": ZONE})
        rollup_s = time.perf_counter() - started - insert_s
        conn.execute("VACUUM (ANALYZE) landing_events")
        conn.execute("VACUUM (ANALYZE) landing_daily_stats")
        size_mb = conn.execute("SELECT pg_total_relation_size('landing_events') / 1048576.0").fetchone()[0]
    return {"events": n, "insert_s": round(insert_s, 1), "rollup_s": round(rollup_s, 1),
            "table_mb": round(float(size_mb), 1)}


def count_events(url: str, tenant_id: int) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM landing_events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]


# ------------------------------------------------------------------------------- wrk

def ensure_wrk() -> str:
    return loadgen.ensure()


def run_wrk(wrk_path: str, url: str, path: str, method: str, body: str, connections: int,
            seconds: float) -> dict[str, Any]:
    """`req_per_s` counts every answer (the 429s of an overloaded run included), `ok_per_s` the 2xx."""
    return loadgen.run(wrk_path, url, path, method, body, connections, seconds, user_agent=CHROME)


# ------------------------------------------------------------------------------- dashboards

_NAIVE = """
SELECT (occurred_at AT TIME ZONE %(zone)s)::date AS day, count(DISTINCT visitor_hash) AS visitors,
       count(*) FILTER (WHERE event_type = 2) AS whatsapp, count(*) FILTER (WHERE event_type = 3) AS calls,
       count(*) FILTER (WHERE event_type = 4) AS toggles, count(*) FILTER (WHERE event_type = 6) AS qr,
       avg(duration_ms) FILTER (WHERE event_type = 5) AS avg_ms
FROM landing_events
WHERE tenant_id = %(t)s AND occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY 1 ORDER BY 1
"""


def _service_sql_params(account_id: Any, tenant_id: int, days: int) -> tuple[str, dict[str, Any], dt.datetime, dt.datetime]:
    """The service's own statement (services/landing/queries.py) as psycopg text, and the
    UTC instants of the window's local days."""
    now = dt.datetime.now(dt.timezone.utc)
    dates = queries.local_days(now, ZONE, days)
    sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(queries.REPORT.text))
    zone = ZoneInfo(ZONE)
    start, end = local_midnight(dates[0], zone), local_midnight(dates[-1] + dt.timedelta(days=1), zone)
    who = Principal(account_id, account_id, "test", frozenset())  # the bench's tenants are test-mode
    return sql, queries.report_params(who, tenant_id, now, days), start, end


def measure_dashboards(db: Database, gateway_url: str, key: str, tenant_id: int, rounds: int,
                       requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=60) as http, \
            psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        account = conn.execute("SELECT account_id FROM landing_tenants WHERE id = %s", (tenant_id,)).fetchone()[0]
        week_sql, week_params, start, end = _service_sql_params(account, tenant_id, 7)
        day_sql, day_params, day_start, _ = _service_sql_params(account, tenant_id, 1)
        naive_params = {"zone": ZONE, "t": tenant_id, "start": start, "end": end}
        today_params = {**naive_params, "start": day_start}
        cases = {
            "gateway: GET /api/analytics/{id}": lambda: _ok(http.get(f"/api/analytics/{tenant_id}")),
            "gateway: GET /api/analytics/{id}/today": lambda: _ok(http.get(f"/api/analytics/{tenant_id}/today")),
            "raw SQL: the service's statement (daily rollup), 7 days": lambda: conn.execute(week_sql, week_params).fetchall(),
            "raw SQL: the service's statement (daily rollup), today": lambda: conn.execute(day_sql, day_params).fetchall(),
            "raw SQL over the events: GROUP BY local date, 7 days": lambda: conn.execute(_NAIVE, naive_params).fetchall(),
            "raw SQL over the events: GROUP BY local date, today": lambda: conn.execute(_NAIVE, today_params).fetchall(),
        }
        in_window = conn.execute("SELECT count(*) FROM landing_events WHERE tenant_id = %s AND occurred_at >= %s "
                                 "AND occurred_at < %s", (tenant_id, start, end)).fetchone()[0]
        out["rows_in_window"] = in_window
        for name, call in cases.items():
            rows = []
            for _ in range(rounds):
                rows.append(summary(run_series(call, requests, 3, 120.0)))
            out[name] = {"rounds": rows, "p50": spread([r["p50"] for r in rows]),
                         "p95": spread([r["p95"] for r in rows])}
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + week_sql, week_params).fetchall()
        out["explain_week"] = "\n".join(r[0] for r in plan)
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + _NAIVE, naive_params).fetchall()
        out["explain_naive"] = "\n".join(r[0] for r in plan)
        body = http.get(f"/api/analytics/{tenant_id}").json()
        out["sample_body"] = body
    return out


def _ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text}")


# ------------------------------------------------------------------------------- main


def _machine(url: str) -> dict[str, Any]:
    model = cpu_model()
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    return {"nproc": os.cpu_count(), "cpu_model": model, "postgresql": version,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quick = args.quick
    if args.render_from is not None:
        results = json.loads(args.render_from.read_text())
        out_md = args.out or ROOT / "docs" / "performance-landing.md"
        out_md.write_text(render(results))
        _say(f"rendered {out_md} from {args.render_from}")
        return 0
    n_events = args.events or (200_000 if quick else 5_000_000)
    seconds = args.seconds or (3.0 if quick else 10.0)
    rounds = args.rounds or (1 if quick else 3)
    requests = args.requests or (10 if quick else 30)
    out_md = args.out or (ROOT / "bench" / "results" / "performance-landing-quick.md" if quick
                          else ROOT / "docs" / "performance-landing.md")
    command = "python -m bench.landing " + " ".join(argv if argv is not None else sys.argv[1:])
    wrk = ensure_wrk()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    results: dict[str, Any] = {
        "command": command.strip(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {"events": n_events, "seconds": seconds, "rounds": rounds, "requests": requests,
                   "connections": args.connections, "rate_limits": RATE_LIMITS},
    }
    db = stack = None
    loop = asyncio.new_event_loop()
    try:
        _say(f"database in {args.data_dir}" if not os.environ.get("DATABASE_URL")
             else f"database: a fresh {DATABASE_NAME} on the DATABASE_URL server")
        db = open_database(args.data_dir)
        migrate(db.url)
        results["machine"] = _machine(db.url)
        account_id, key = dataset.create_account(loop, db.url, "Landing Benchmark")
        big = _create_tenant(db.url, account_id, "Big Tenant")
        tracked = _create_tenant(db.url, account_id, "Tracked Tenant")
        now = dt.datetime.now(dt.timezone.utc)
        _say(f"loading {n_events:,} events of tenant {big} ...")
        results["load"] = load_events(db.url, big, n_events, now)

        stack = Stack(
            data_dir=args.data_dir / "stack", gateway_port=free_port(), admin_port=free_port(),
            service_ports={"instance": [free_port()], "campaign": [free_port()], "landing": [free_port()]},
            database_url=db.url, extra_env={"RATE_LIMITS": RATE_LIMITS, "RATE_LIMIT_STORE": "memory", "LOG_LEVEL": "WARNING"},
            log_dir=args.data_dir / "logs", xff_trusted_hops=1,
        )
        _say("starting the services and Envoy")
        stack.start_services()
        stack.start_gateway()
        ceilings = start_ceilings(stack, '{"success":true}')
        pids = {name: proc.pid for name, proc in stack.processes}
        cpu = CpuMeter({
            "landing service": process_tree(pids["landing-0"]), "envoy": process_tree(pids["envoy"]),
            "postgres": process_tree(db.postmaster_pid()),
        })

        body = json.dumps({"tenant_id": tracked, "event_type": "pageview", "metadata": {"path": "/bench"}})
        # Warm up: the salt of the day, the tenant cache, connection pools.
        run_wrk(wrk, stack.gateway_url, "/api/analytics/track", "POST", body, 4, 1)
        tracking: dict[str, Any] = {}
        cpu_total: dict[str, float] = {}
        events_total = 0
        for c in args.connections:
            entry: dict[str, Any] = {"track": {"rounds": []}, "envoy_minimal": {"rounds": []},
                                     "envoy_gateway_chain": {"rounds": []}}
            for r in range(rounds):
                _say(f"wrk: {c} connections, round {r + 1}/{rounds}")
                before_rows = count_events(db.url, tracked)
                before_cpu = cpu.snapshot()
                result = run_wrk(wrk, stack.gateway_url, "/api/analytics/track", "POST", body, c, seconds)
                after_cpu = cpu.snapshot()
                result["rows_written"] = count_events(db.url, tracked) - before_rows
                entry["track"]["rounds"].append(result)
                for k, v in CpuMeter.delta(before_cpu, after_cpu).items():
                    cpu_total[k] = cpu_total.get(k, 0.0) + v
                events_total += result["ok"]
                for name in ("envoy_minimal", "envoy_gateway_chain"):
                    url, path, _pid = ceilings[name]
                    entry[name]["rounds"].append(run_wrk(wrk, url, path, "POST", body, c, seconds))
            for e in entry.values():
                e["req_per_s"] = spread([x["req_per_s"] for x in e["rounds"]])
                e["p50_ms"] = spread([x["p50_ms"] for x in e["rounds"]])
                e["p99_ms"] = spread([x["p99_ms"] for x in e["rounds"]])
            tracking[str(c)] = entry
        results["tracking"] = tracking
        if events_total:
            results["tracking_cpu_us"] = {k: round(v / events_total * 1e6, 1) for k, v in cpu_total.items()}

        _say("dashboards")
        results["dashboards"] = measure_dashboards(db, stack.gateway_url, key, big, rounds, requests)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    finally:
        if stack is not None:
            stack.stop()
        if db is not None:
            db.stop()
        loop.close()
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    name = "landing-quick.json" if quick else "landing-latest.json"
    results["results_file"] = f"bench/results/{name}"
    (results_dir / name).write_text(json.dumps(results, indent=2, default=str))
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(render(results))
    _say(f"wrote {out_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
