"""The benchmark suite: `make bench` (python -m bench.run) writes docs/performance.md.

One run, side by side on the same machine and the same data:

1. an embedded PostgreSQL (or the server in DATABASE_URL) with a database of its own,
   migrated, then bulk-loaded: the benchmark account with SCALE instances and ~10x as
   many events over 180 days, a second account with SCALE/10, and other data;
2. the instance service (its own process) and Envoy, from stack.run.Stack, with the
   documented rate limits raised so that they never interfere;
3. reads: list and details through every layer (gateway, gRPC, query function, raw SQL
   naive and best) at both sizes, in interleaved rounds; Envoy's direct response;
   4 concurrent clients; EXPLAIN (ANALYZE, BUFFERS) of the service's statements;
4. ingestion: BatchCreateEvents over gRPC vs COPY of the same rows;
4b. vouchers (bench/vouchers.py): exports of 10% and 100% of 100,000 records per format
   in a measured worker process, and performance/trends on a voucher with SCALE
   redemptions through the gateway vs the service's SQL vs naive SQL;
5. results as JSON in bench/results/ and the report in docs/performance.md.

Every loop is bounded in count and in time, everything listens on loopback only, and
every process started is stopped at the end (also on Ctrl-C or SIGTERM).

    python -m bench.run                  # SCALE = BENCH_SCALE or 1,000,000 (~12-15 min on 2 cores)
    python -m bench.run --quick          # 20,000 instances, a smoke check in ~1.5 minutes
    python -m bench.run --scale 200000 --rounds 5
    python -m bench.run --render-from bench/results/latest.json   # re-render the report only
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import os
import pathlib
import platform
import shlex
import signal
import subprocess
import sys
import time
from typing import Any

from bench import affiliate, auth_cost, dataset, ingest, reads, vouchers
from bench.ceiling import start_ceilings
from bench.measure import CpuMeter, aggregate_us, cpu_model, process_tree, run_series, spread, summary
from bench.report import render_report
from stack.run import ROOT, SERVICES, Stack, free_port, migrate

log = logging.getLogger("bench")

# The documented limits (100 lists / 50 details per hour) would stop a benchmark after a
# few requests; these are far above anything one run sends. Ingestion's too.
RATE_LIMITS = "instances.list=100000000/3600,instances.details=100000000/3600,instances.ingest=100000000/3600"
RATE_LIMITS += "," + vouchers.RATE_LIMITS
RATE_LIMITS += "," + affiliate.RATE_LIMIT
AFFILIATE_SCALE, AFFILIATE_QUICK_SCALE = 10_000_000, 200_000
QUICK_SCALE = 20_000
DEFAULT_SCALE = 1_000_000


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=None,
                   help="instances of the large data set (default: $BENCH_SCALE or 1,000,000); events are ~10x; "
                        "the small set for the flatness check is scale/10")
    p.add_argument("--quick", action="store_true", help=f"smoke check: scale {QUICK_SCALE:,}, fewer requests")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every measurement (spread = noise)")
    p.add_argument("--requests", type=int, default=None, help="timed requests per series (default 200; quick 40)")
    p.add_argument("--ingest-events", type=int, default=None, help="events per ingestion variant (default 200,000)")
    p.add_argument("--data-dir", type=pathlib.Path, default=ROOT / ".data" / "bench")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report path (default docs/performance.md; quick: bench/results/performance-quick.md)")
    p.add_argument("--reuse-data", action="store_true",
                   help="reuse the loaded data of a previous run with the same scale if it is under 2 hours old")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-reads", action="store_true")
    p.add_argument("--skip-vouchers", action="store_true", help="skip the voucher exports and reads")
    p.add_argument("--max-minutes", type=float, default=75.0, help="time budget of the data load and each phase")
    p.add_argument("--affiliate-scale", type=int, default=None,
                   help=f"tracking events of the large affiliate business (default {AFFILIATE_SCALE:,}; quick "
                        f"{AFFILIATE_QUICK_SCALE:,}); the small one has a tenth")
    p.add_argument("--skip-affiliate", action="store_true", help="skip the affiliate phase")
    p.add_argument("--affiliate-ingest-events", type=int, default=None,
                   help="events per affiliate ingestion round (default 100,000; quick 20,000)")
    p.add_argument("--affiliate-only", action="store_true",
                   help="only the affiliate phase (no instance data, reads or ingestion)")
    p.add_argument("--render-from", type=pathlib.Path, default=None, metavar="RESULTS_JSON",
                   help="measure nothing: re-render the report from a results file (after editing bench/report.py)")
    return p.parse_args(argv)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _machine(db_url: str) -> dict[str, Any]:
    import grpc
    import httpx
    import psutil
    import psycopg
    import sqlalchemy

    model = cpu_model()
    envoy = pathlib.Path(sys.executable).parent / "envoy"
    try:
        envoy_version = subprocess.run([str(envoy), "--version"], capture_output=True, text=True, timeout=20).stdout
        envoy_version = envoy_version.strip().split("version:")[-1].strip().split("/")[1]
    except Exception:  # pragma: no cover - informational
        envoy_version = "?"
    with dataset.connect(db_url) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
            "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "max_wal_size",
            "random_page_cost", "jit", "synchronous_commit", "max_parallel_workers_per_gather")}
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "pg_settings": settings,
        "envoy": envoy_version,
        "versions": {"grpcio": grpc.__version__, "psycopg": psycopg.__version__, "sqlalchemy": sqlalchemy.__version__,
                     "httpx": httpx.__version__},
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.render_from is not None:
        results = json.loads(args.render_from.read_text())
        quick = results["scale"]["quick"]
        out_md = args.out or _default_out(quick)
        path = args.render_from.resolve()
        name = results.get("results_file") or (path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        out_md.write_text(render_report(results, pathlib.Path(name)))
        _say(f"rendered {out_md} from {args.render_from}")
        return 0
    if args.quick:
        scale = args.scale or QUICK_SCALE
        requests = args.requests or 40
        n_events = args.ingest_events or 20_000
        warmup, max_series_s = 5, 15.0
    else:
        scale = args.scale or int(os.environ.get("BENCH_SCALE") or DEFAULT_SCALE)
        requests = args.requests or 200
        n_events = args.ingest_events or 200_000
        warmup, max_series_s = 5, 60.0
    if scale < 1000:
        raise SystemExit("--scale must be at least 1,000")
    if args.affiliate_only:
        scale, args.skip_reads, args.skip_ingest, args.skip_affiliate = 1000, True, True, False
    affiliate_scale = args.affiliate_scale or (AFFILIATE_QUICK_SCALE if args.quick else AFFILIATE_SCALE)
    out_md = args.out or _default_out(args.quick)
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    run_started = time.monotonic()
    budget_s = args.max_minutes * 60

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    results: dict[str, Any] = {
        "command": command.strip(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "scale": {"large": scale, "small": scale // 10, "quick": args.quick},
        "config": {"rounds": args.rounds, "requests_per_series": requests, "warmup": warmup,
                   "max_series_s": max_series_s, "ingest_events": n_events, "rate_limits": RATE_LIMITS},
    }
    loop = asyncio.new_event_loop()
    db = stack = env = None
    try:
        _say(f"database in {args.data_dir} (fresh: {not args.reuse_data})" if not os.environ.get("DATABASE_URL")
             else "database: a fresh partnerlytics_bench database on the DATABASE_URL server")
        db = dataset.open_database(args.data_dir, fresh=not args.reuse_data)
        migrate(db.url)
        results["database"] = {"embedded": db.embedded is not None, "settings_changed": db.settings_changed}
        meta = dataset.read_meta(db.url) if args.reuse_data else None
        if meta and meta.get("scale") == scale and meta.get("layout") == dataset.LAYOUT_VERSION and \
                dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(meta["anchor"]) < dt.timedelta(hours=2):
            tenants = [dataset.tenant_from_json(t) for t in meta["tenants"]]
            anchor = dt.datetime.fromisoformat(meta["anchor"])
            results["load"] = {**meta["load"], "reused": True}
            _say(f"reusing the data loaded at {anchor:%H:%M:%S}")
        else:
            anchor = dt.datetime.now(dt.timezone.utc)
            tenants = _tenants(loop, db.url, scale)
            _say(f"loading {sum(t.instances for t in tenants):,} instances (~10x events) ...")
            results["load"] = dataset.load(db.url, tenants, anchor, _say, run_started + budget_s)
            dataset.save_meta(db.url, {"scale": scale, "layout": dataset.LAYOUT_VERSION, "anchor": anchor.isoformat(),
                                       "tenants": [dataset.tenant_to_json(t) for t in tenants],
                                       "load": results["load"]})
            _say(f"loaded in {results['load']['timings_s']['total']} s: {results['load']['rows']}")
        results["anchor"] = anchor.isoformat(timespec="seconds")
        results["tenants"] = [{"label": t.label, "account_id": str(t.account_id), "livemode": t.livemode,
                               "instances": t.instances} for t in tenants]
        results["machine"] = _machine(db.url)
        large = next(t for t in tenants if t.label == "large")
        small = next(t for t in tenants if t.label == "small")

        data_dir = args.data_dir.resolve()
        stack = Stack(
            data_dir=data_dir / "stack",
            gateway_port=free_port(),
            admin_port=free_port(),
            service_ports={s.name: [free_port()] for s in SERVICES},
            database_url=db.url,
            # Export workers run in their own measured processes (bench/vouchers.py).
            extra_env={"RATE_LIMITS": RATE_LIMITS, "RATE_LIMIT_STORE": "memory", "VOUCHER_EXPORT_WORKERS": "0"},
            log_dir=data_dir / "logs",
        )
        _say("starting the instance service and Envoy")
        stack.start_services()
        stack.start_gateway()
        grpc_port = stack.service_ports["instance"][0]
        pids = {name: proc.pid for name, proc in stack.processes}
        cpu = CpuMeter({
            "service": process_tree(pids["instance-0"]),
            "envoy": process_tree(pids["envoy"]),
            "postgres": process_tree(db.postmaster_pid()),
            "client": lambda: [os.getpid()],
        })
        env = reads.Env(loop, stack.gateway_url, grpc_port, db.url)

        if not args.skip_reads:
            _say(f"reads: {len(reads.CASES)} cases x {len(reads.LAYERS)} layers x 2 sizes x {args.rounds} rounds "
                 f"x {requests} requests")
            out = reads.run_reads(env, [small, large], anchor, rounds=args.rounds, requests=requests, warmup=warmup,
                                  max_series_s=max_series_s, cpu=cpu, progress=_say)
            resolved = out.pop("resolved")
            results["reads"] = out["by_tenant"]

            _say("Envoy direct response (the gateway's ceiling)")
            r_day = resolved[("large", "list_day_p1")]
            body = env.http.get(reads.PATH, params=r_day.params, headers=env.headers(r_day)).text
            ceilings = start_ceilings(stack, body)
            results["ceiling"] = _measure_ceilings(env, ceilings, r_day, args.rounds, requests, warmup, max_series_s,
                                                   pids, db, len(body))

            _say("4 concurrent clients through the gateway")
            targets = [(name, resolved[("large", name)]) for name in ("list_day_p1", "list_90d_deep", "details_50")]
            results["concurrency"] = reads.run_concurrency(
                env, targets, workers=4, rounds=args.rounds, requests=requests * 2, warmup=warmup,
                max_s=max_series_s, cpu=cpu)
            results["concurrency"]["envoy_minimal"] = _concurrent_ceiling(
                loop, ceilings["envoy_minimal"], args.rounds, requests * 2, warmup, max_series_s)

            _say("EXPLAIN (ANALYZE, BUFFERS) of the service's statements at the large size")
            results["explain"] = reads.explain_service(env, [resolved[("large", c.name)] for c in reads.CASES])

            _say("authentication and rate-limit steps of the interceptor")
            results["auth"] = auth_cost.measure(db.url, os.environ.get("REDIS_URL"))


        if not args.skip_vouchers:
            _say(f"vouchers: one voucher with {scale:,} redemptions, exports up to {vouchers.MAX_RECORDS:,} records")
            account_id, key = dataset.create_account(loop, db.url, "voucher benchmark")
            today = dt.datetime.now(dt.timezone.utc)
            results["vouchers"] = {"load": vouchers.load(db.url, account_id, today, scale, _say)}
            results["vouchers"]["reads"] = vouchers.measure_reads(
                db.url, stack.gateway_url, key, account_id, today.date(), rounds=args.rounds,
                requests=max(10, requests // 10), warmup=2, max_s=max_series_s)
            results["vouchers"]["exports"] = vouchers.measure_exports(
                db.url, account_id, today.date(), data_dir / "exports", quick=args.quick, progress=_say)

        if not args.skip_ingest:
            _say(f"ingestion: {n_events:,} events per variant, {args.rounds} rounds")

            def new_tenant(name: str) -> dataset.Tenant:
                account_id, key = dataset.create_account(loop, db.url, name)
                return dataset.Tenant(name, account_id, False, n_events // 10, key)

            results["ingest"] = ingest.run_ingest(
                loop, db.url, grpc_port, new_tenant, n_events=n_events, rounds=args.rounds,
                max_variant_s=min(600.0, budget_s), cpu=cpu, progress=_say)
            with dataset.connect(db.url) as conn:
                results["ingest"]["table_rows_after"] = dataset.table_counts(conn)

        if not args.skip_affiliate:
            results["affiliate"] = _affiliate_phase(loop, db.url, stack, affiliate_scale, args, requests, warmup,
                                                    max_series_s, command)
    except KeyboardInterrupt:
        _say("interrupted: stopping everything")
        return 130
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # pragma: no cover - best effort while stopping
                pass
        if stack is not None:
            stack.stop()
        if db is not None:
            db.stop()
        loop.close()

    if "affiliate" in results:
        # Beside the main report (bench.all folds both into docs/performance.md).
        affiliate_md = out_md.with_name(out_md.stem.replace("performance", "performance-affiliate", 1) + ".md")
        affiliate_md.parent.mkdir(parents=True, exist_ok=True)
        affiliate_md.write_text(affiliate.render(results["affiliate"]))
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        (ROOT / "bench" / "results" / f"affiliate-{stamp}.json").write_text(
            json.dumps(results["affiliate"], indent=1, default=_json_default))
        _say(f"affiliate report: {affiliate_md.relative_to(ROOT)}")
    if args.affiliate_only:
        return 0
    results["duration_s"] = round(time.monotonic() - run_started, 1)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = results_dir / f"{'quick' if args.quick else 'full'}-{stamp}.json"
    results["results_file"] = str(json_path.relative_to(ROOT))
    json_path.write_text(json.dumps(results, indent=1, default=_json_default))
    (results_dir / f"latest{'-quick' if args.quick else ''}.json").write_text(json_path.read_text())
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(render_report(results, json_path.relative_to(ROOT)))
    shown = out_md.relative_to(ROOT) if out_md.resolve().is_relative_to(ROOT) else out_md
    _say(f"done in {results['duration_s']:.0f} s: {shown}, "
         f"{json_path.relative_to(ROOT)}")
    return 0


def _affiliate_phase(loop, url: str, stack: Stack, scale: int, args, requests: int, warmup: int, max_s: float,
                     command: str) -> dict[str, Any]:
    """Two affiliate businesses (scale and scale/10 events), reads at every layer, ingestion."""
    out: dict[str, Any] = {"command": command.strip(), "started_at": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "machine": f"{os.cpu_count()} CPUs", "sizes": {}}
    anchor = dt.datetime.now(dt.timezone.utc)
    tenants = {}
    for label, n in (("small", scale // 10), ("large", scale)):
        account_id, key = dataset.create_account(loop, url, f"Affiliate business ({label})")
        _say(f"affiliate: loading {n:,} events for the {label} business")
        out["sizes"][label] = affiliate.load(url, account_id, n, anchor, _say)
        tenants[label] = (account_id, key)
    _say("affiliate: reads (gateway, pre-aggregated SQL, raw SQL)")
    out["reads"] = affiliate.measure_reads(
        stack.gateway_url, url, tenants, requests=requests, raw_requests=3 if not args.quick else 2,
        rounds=args.rounds, warmup=warmup, max_s=max_s, progress=_say)
    _say("affiliate: ingestion over gRPC vs COPY")
    out["ingest"] = affiliate.measure_ingest(
        loop, url, stack.service_ports["affiliate"][0], lambda name: dataset.create_account(loop, url, name),
        n_events=args.affiliate_ingest_events or (20_000 if args.quick else 100_000), rounds=args.rounds,
        progress=_say)
    return out


def _default_out(quick: bool) -> pathlib.Path:
    return ROOT / "bench" / "results" / "performance-quick.md" if quick else ROOT / "docs" / "performance.md"


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def _tenants(loop: asyncio.AbstractEventLoop, url: str, scale: int) -> list[dataset.Tenant]:
    large_id, large_key = dataset.create_account(loop, url, "Benchmark Partner (large)")
    small_id, small_key = dataset.create_account(loop, url, "Benchmark Partner (small)")
    other_a, _ = dataset.create_account(loop, url, "Other Partner A", with_key=False)
    other_b, _ = dataset.create_account(loop, url, "Other Partner B", with_key=False)
    extra = max(100, scale // 20)
    return [
        dataset.Tenant("large", large_id, False, scale, large_key),
        dataset.Tenant("small", small_id, False, max(100, scale // 10), small_key),
        dataset.Tenant("large-live", large_id, True, extra),
        dataset.Tenant("other-a-test", other_a, False, extra),
        dataset.Tenant("other-b-live", other_b, True, extra),
    ]


def _measure_ceilings(env, ceilings, r, rounds, requests, warmup, max_s, pids, db, body_bytes) -> dict[str, Any]:
    """The same sync client, the same body, against both direct-response Envoys."""
    import httpx

    out: dict[str, Any] = {"body_bytes": body_bytes}
    headers = env.headers(r)
    for name, (url, path, pid) in ceilings.items():
        cpu = CpuMeter({"envoy": process_tree(pid), "client": lambda: [os.getpid()]})
        rows, pooled = [], []
        with httpx.Client(base_url=url, timeout=30) as client:
            def call():
                response = client.get(path, params=r.params, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{name} answered {response.status_code}")
            for rnd in range(rounds):
                before = cpu.snapshot()
                s = run_series(call, requests, warmup * 4 if rnd == 0 else warmup, max_s)
                after = cpu.snapshot()
                rows.append({**summary(s), "cpu_s": CpuMeter.delta(before, after), "calls": len(s) + warmup})
                pooled.extend(s)
        out[name] = {"rounds": rows, "pooled": summary(pooled), "p50_rounds": spread([x["p50"] for x in rows]),
                     "cpu_us_per_request": aggregate_us(rows)}
    return out


def _concurrent_ceiling(loop, ceiling, rounds, requests, warmup, max_s) -> dict[str, Any]:
    import httpx

    from bench.measure import arun_concurrent

    url, path, pid = ceiling
    cpu = CpuMeter({"envoy": process_tree(pid), "client": lambda: [os.getpid()]})

    async def once():
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            async def call():
                await client.get(path)
            return await arun_concurrent(call, requests, 4, warmup, max_s)

    rows = []
    for _ in range(rounds):
        before = cpu.snapshot()
        s, wall = loop.run_until_complete(once())
        after = cpu.snapshot()
        rows.append({**summary(s), "req_per_s": round(len(s) / wall, 1), "cpu_s": CpuMeter.delta(before, after),
                     "calls": len(s) + warmup})
    return {"title": "Envoy direct response (minimal)", "tenant": "-", "rounds": rows,
            "cpu_us_per_request": aggregate_us(rows),
            "req_per_s": spread([x["req_per_s"] for x in rows]), "p50": spread([x["p50"] for x in rows])}


if __name__ == "__main__":
    raise SystemExit(main())
