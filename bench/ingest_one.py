"""The ingestion benchmark alone, for one change at a time: `python -m bench.ingest_one`.

bench.run measures every ingestion variant after loading the read benchmark's data (tens
of minutes). This runs only the variants named (by default `copy` and `grpc b1000 c1`,
the ones the issue's "one ingestion client" target compares), interleaved round by
round exactly as bench.run does (bench.ingest.run_ingest), against the instance service
in its own process as `stack.run.Stack` starts it, on an embedded PostgreSQL with a
smaller preloaded data set (--scale instances, ~10x events) so that the tables have
indexes and rows in them. A couple of minutes at the defaults.

    python -m bench.ingest_one                          # copy, grpc b1000 c1; 3 rounds of 100,000 events
    python -m bench.ingest_one --variants "copy,grpc b1000 c4" --rounds 5
    python -m bench.ingest_one --pyspy /tmp/prof        # py-spy (if on PATH) samples the service meanwhile

It prints each round, then the medians and the per-round ratio to `copy`, and writes
the raw figures to bench/results/ingest-one-<time>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

from bench import dataset, ingest
from bench.measure import CpuMeter, process_tree
from stack.run import ROOT, SERVICES, Stack, free_port, migrate

RATE_LIMITS = "instances.ingest=100000000/3600"


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_one", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="copy,grpc b1000 c1",
                   help="comma-separated names from bench.ingest.VARIANTS (copy first: it is the ceiling)")
    p.add_argument("--events", type=int, default=100_000, help="events per variant and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scale", type=int, default=50_000, help="instances preloaded before the rounds (~10x events)")
    p.add_argument("--pyspy", type=pathlib.Path, default=None, metavar="DIR",
                   help="record a py-spy profile (speedscope JSON) of the service during the rounds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    by_name = {v.name: v for v in ingest.VARIANTS}
    variants = tuple(by_name[name.strip()] for name in args.variants.split(","))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ingest-one-"))
    loop = asyncio.new_event_loop()
    db = stack = spy = None
    try:
        db = dataset.open_database(tmp, fresh=True)
        migrate(db.url)
        anchor = dt.datetime.now(dt.timezone.utc)
        if args.scale:
            account_id, _ = dataset.create_account(loop, db.url, "preloaded", with_key=False)
            load = dataset.load(db.url, [dataset.Tenant("preloaded", account_id, False, args.scale)], anchor, _say,
                                time.monotonic() + 600)
            _say(f"preloaded in {load['timings_s']['total']} s: {load['rows']}")
        instance = next(s for s in SERVICES if s.name == "instance")
        stack = Stack(data_dir=tmp / "stack", gateway_port=free_port(), admin_port=free_port(),
                      service_ports={"instance": [free_port()]}, metrics_ports={"instance": [0]},
                      database_url=db.url,
                      extra_env={"RATE_LIMITS": RATE_LIMITS, "RATE_LIMIT_STORE": "memory"})
        proc = stack.start_service(instance)
        port = stack.service_ports["instance"][0]
        cpu = CpuMeter({"service": process_tree(proc.pid), "postgres": process_tree(db.postmaster_pid()),
                        "client": lambda: [os.getpid()]})
        if args.pyspy is not None:
            args.pyspy.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen([shutil.which("py-spy") or "py-spy", "record", "-p", str(proc.pid), "-r", "200",
                                    "-f", "speedscope", "-o", str(args.pyspy / "instance-ingest.json")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def new_tenant(name: str) -> dataset.Tenant:
            account_id, key = dataset.create_account(loop, db.url, name)
            return dataset.Tenant(name, account_id, False, args.events // 10, key)

        out = ingest.run_ingest(loop, db.url, port, new_tenant, n_events=args.events, rounds=args.rounds,
                                max_variant_s=600.0, cpu=cpu, progress=_say, variants=variants)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT, not on SIGTERM
            spy.wait(timeout=60)
        if stack is not None:
            stack.stop()
        if db is not None:
            db.stop()
        loop.close()
        shutil.rmtree(tmp, ignore_errors=True)
    base = out["variants"][variants[0].name]["rounds"]
    for v in variants:
        rows = out["variants"][v.name]["rounds"]
        ratios = [r["events_per_s"] / b["events_per_s"] for r, b in zip(rows, base)]
        cpu_svc = sum(r["cpu_s"]["service"] for r in rows) / (len(rows) * out["n_events"]) * 100_000
        cpu_pg = sum(r["cpu_s"]["postgres"] for r in rows) / (len(rows) * out["n_events"]) * 100_000
        _say(f"{v.name}: median {out['variants'][v.name]['events_per_s']['median']:,.0f} events/s, "
             f"rounds {[r['events_per_s'] for r in rows]}, vs {variants[0].name} per round "
             f"{[round(x, 2) for x in ratios]}; CPU s per 100k events svc {cpu_svc:.2f} / pg {cpu_pg:.2f}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"ingest-one-{stamp}.json").write_text(json.dumps({"args": vars(args) | {"pyspy": str(args.pyspy)},
                                                                  "loadavg": os.getloadavg(), **out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
