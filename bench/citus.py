"""One node against a Citus cluster: `python -m bench.citus` (`make bench`; `--quick` in bench-quick).

The same binaries (the system PostgreSQL 15 with Citus, platform_core/citus_cluster.py)
run two servers on this machine, one after the other:

- **1 node**: a lone server; the database has no Citus extension, so it is plain
  PostgreSQL (Citus' library is loaded but idle);
- **3 nodes**: a coordinator and two workers, the schema distributed by `alembic upgrade head`.

Both databases get the same data: two sets of ACCOUNTS accounts with INSTANCES instances
each, ingested through the instance family's own write path (`create_instances`: the
insert and the projections, `instance_hourly_counts` and `campaign_hourly_stats`, in one
transaction, batches of BATCH). On the cluster, set "one worker" holds accounts whose
shards all sit on the same worker, set "spread" accounts split evenly over both.

Figures, per set: ingestion rate (instances/s, one client), and the per-account read
latency (p50 / p95, ms) of the instance list and the campaign analytics through the
services' query functions (the SQL the gRPC servicers run, without the gateway), with
CLIENTS concurrent clients cycling over the set's accounts. Every figure is the median of
ROUNDS rounds, with the spread (max - min) as the noise. The results go to
bench/results/citus.json and the "Citus" section of docs/performance.md (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import pathlib
import re
import statistics
import time
import uuid

import psycopg

from partnerlytics.instance.v1 import instance_ingestion_pb2 as ingest_pb
from platform_core import db
from platform_core.accounts import Principal
from platform_core.citus_cluster import CitusCluster, create_cluster_database
from platform_core.paging import PageRequest, Window
from platform_core.roles import prepare_database
from services.campaign import queries as campaign_queries
from services.instance import ingest as instance_ingest
from services.instance import queries as instance_queries
from stack.run import ROOT, migrate

RESULTS = ROOT / "bench" / "results" / "citus.json"
REPORT = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench.citus: begin -->", "<!-- bench.citus: end -->"
BATCH = 500
CAMPAIGNS = 4


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _who(account: uuid.UUID) -> Principal:
    return Principal(account_id=account, key_id=uuid.uuid4(), mode="test", scopes=frozenset())


def _campaigns(account: uuid.UUID) -> list[uuid.UUID]:
    return [uuid.uuid5(account, f"campaign-{n}") for n in range(CAMPAIGNS)]


def _worker_of(conn: psycopg.Connection, account: uuid.UUID) -> int:
    return conn.execute("SELECT nodeport FROM citus_shards WHERE shardid = "
                        "get_shard_id_for_distribution_column('instances', %s::uuid)", (str(account),)).fetchone()[0]


def account_sets(cluster_url: str | None, n: int) -> dict[str, list[uuid.UUID]]:
    """`n` accounts on one worker and `n` spread evenly over two (any `2n` without a cluster)."""
    if cluster_url is None:
        return {"one worker": [uuid.uuid4() for _ in range(n)], "spread": [uuid.uuid4() for _ in range(n)]}
    by_worker: dict[int, list[uuid.UUID]] = {}
    with psycopg.connect(cluster_url) as conn:
        # The first worker gives n to "one worker" and n // 2 more to "spread".
        while len(by_worker) < 2 or min(len(v) for v in by_worker.values()) < n + n // 2:
            account = uuid.uuid4()
            by_worker.setdefault(_worker_of(conn, account), []).append(account)
    first, second = sorted(by_worker)
    return {"one worker": by_worker[first][:n],
            "spread": by_worker[first][n:n + n // 2] + by_worker[second][:n - n // 2]}


async def ingest(engine, owner_url: str, accounts: list[uuid.UUID], instances: int) -> float:
    """Loads `instances` per account through create_instances; returns instances per second."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for account in accounts:
            conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'bench')", (account,))
    sessions = db.sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    started, total = time.perf_counter(), 0
    for account in accounts:
        campaigns, who = _campaigns(account), _who(account)
        for first in range(0, instances, BATCH):
            records = [ingest_pb.InstanceRecord(
                id=str(uuid.uuid4()), campaign_id=str(campaigns[i % CAMPAIGNS]), insider_id=str(uuid.uuid4()),
                timestamp=now - dt.timedelta(minutes=(i * 7) % (30 * 24 * 60) + 1))
                for i in range(first, min(first + BATCH, instances))]
            async with sessions() as session:
                await instance_ingest.create_instances(session, who, records, "instances")
            total += len(records)
    return total / (time.perf_counter() - started)


async def reads(engine, accounts: list[uuid.UUID], calls: int, clients: int) -> dict[str, list[float]]:
    """`calls` of each read per client, cycling over the accounts; the latencies in ms."""
    window = Window.trailing(dt.datetime.now(dt.UTC), dt.timedelta(days=30))
    page = PageRequest(page=1, limit=20)
    out: dict[str, list[float]] = {"instance list": [], "campaign analytics": []}

    async def client(offset: int) -> None:
        async with engine.connect() as conn:
            for n in range(calls):
                account = accounts[(offset + n) % len(accounts)]
                who = _who(account)
                t = time.perf_counter()
                await instance_queries.list_instances(conn, who, window, None, page)
                out["instance list"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await campaign_queries.campaign_page(conn, who, _campaigns(account)[n % CAMPAIGNS], window, None, page)
                out["campaign analytics"].append((time.perf_counter() - t) * 1000)
                await conn.rollback()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return out


async def measure(urls, cluster_url: str | None, args) -> dict:
    sets = account_sets(cluster_url, args.accounts)
    engine = db.create_engine(urls.app, pool_size=args.clients)
    figures: dict = {}
    try:
        for name, accounts in sets.items():
            _say(f"  ingest {name}: {len(accounts)} accounts x {args.instances} instances")
            figures[name] = {"ingest_per_s": await ingest(engine, urls.owner, accounts, args.instances), "rounds": []}
        await reads(engine, sets["spread"], 2, args.clients)  # warm-up
        for _ in range(args.rounds):
            for name, accounts in sets.items():
                started = time.perf_counter()
                latencies = await reads(engine, accounts, args.calls, args.clients)
                elapsed = time.perf_counter() - started
                figures[name]["rounds"].append({
                    "reads_per_s": sum(len(v) for v in latencies.values()) / elapsed,
                    **{f"{read} {q}": _pct(v, p) for read, v in latencies.items()
                       for q, p in (("p50", 0.50), ("p95", 0.95))}})
    finally:
        await engine.dispose()
    return figures


def run_config(name: str, args) -> dict:
    cluster = CitusCluster(workers=2 if name == "3 nodes" else 0).start()
    try:
        _say(f"{name}: coordinator on port {cluster.coordinator.port}")
        if name == "3 nodes":
            urls = create_cluster_database(cluster.admin_url, "bench")
            cluster_url = urls.superuser
        else:  # no extension in this database: plain PostgreSQL
            urls, cluster_url = prepare_database(cluster.admin_url, "bench"), None
        migrate(urls.owner)
        return asyncio.run(measure(urls, cluster_url, args))
    finally:
        cluster.stop()


def _median_spread(rounds: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in rounds]
    return statistics.median(values), max(values) - min(values)


def render(results: dict) -> str:
    meta = results["meta"]
    lines = [BEGIN, "## Citus: one node against a coordinator and two workers", "",
             (f"`python -m bench.citus` ({meta['when']}; {meta['accounts']} accounts per set x "
             f"{meta['instances']:,} instances, {meta['clients']} concurrent clients, {meta['calls']} calls of each "
             f"read per client and round, {meta['rounds']} rounds; median of the rounds ± their spread). Same "
             "binaries, same machine (2 shared cores, all nodes on it), same data in both databases; reads "
             "through the services' query functions (SQL level, no gateway), ingestion through "
             "`create_instances` (insert + projections in one transaction, batches of "
             f"{BATCH}, one client). The 1-node figures of set \"one worker\" are the same server as "
             "\"spread\" (the sets only differ on the cluster)."), "",
             ("| configuration | accounts | ingest (instances/s) | instance list p50 / p95 (ms) | "
             "campaign analytics p50 / p95 (ms) | reads/s |"),
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for config in ("1 node", "3 nodes"):
        for name, fig in results.get(config, {}).items():
            cells = []
            for read in ("instance list", "campaign analytics"):
                (p50, n50), (p95, n95) = (_median_spread(fig["rounds"], f"{read} {q}") for q in ("p50", "p95"))
                cells.append(f"{p50:.2f} ± {n50:.2f} / {p95:.2f} ± {n95:.2f}")
            rate, noise = _median_spread(fig["rounds"], "reads_per_s")
            lines.append(f"| {config} | {name} | {fig['ingest_per_s']:,.0f} | {cells[0]} | {cells[1]} | "
                         f"{rate:,.0f} ± {noise:,.0f} |")
    one, three = results.get("1 node", {}).get("spread"), results.get("3 nodes", {}).get("spread")
    if one and three:
        ratio = _median_spread(three["rounds"], "instance list p50")[0] / _median_spread(
            one["rounds"], "instance list p50")[0]
        lines += ["", (f"Instance list p50, 3 nodes (spread) / 1 node: {ratio:.2f}x; ingestion "
                  f"{three['ingest_per_s'] / one['ingest_per_s']:.2f}x the 1-node rate.")]
    if meta.get("note"):
        lines += ["", f"Conditions of the run: {meta['note']}"]
    lines += ["", END]
    return "\n".join(lines)


def write_report(results: dict, out: pathlib.Path) -> None:
    section = render(results)
    text = out.read_text() if out.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    out.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.citus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: checks the pipeline (about 5 minutes)")
    p.add_argument("--accounts", type=int, default=None, help="accounts per set (8; quick 4)")
    p.add_argument("--instances", type=int, default=None, help="instances per account (10,000; quick 1,000)")
    p.add_argument("--calls", type=int, default=None, help="calls of each read per client and round (100; quick 20)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report to put the section in (default docs/performance.md; quick: "
                        "bench/results/performance-quick.md)")
    p.add_argument("--note", default="", help="conditions of the run, stated in the report")
    p.add_argument("--render-only", action="store_true", help="measure nothing: render the last results (with --note)")
    args = p.parse_args(argv)
    args.accounts = args.accounts or (4 if args.quick else 8)
    args.instances = args.instances or (1_000 if args.quick else 10_000)
    args.calls = args.calls or (20 if args.quick else 100)
    out = args.out or (ROOT / "bench" / "results" / "performance-quick.md" if args.quick else REPORT)
    results_file = RESULTS.with_name("citus-quick.json") if args.quick else RESULTS
    if args.render_only:
        results = json.loads(results_file.read_text())
        results["meta"]["note"] = args.note or results["meta"].get("note", "")
        write_report(results, out)
        return 0
    results: dict = {"meta": {"when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                              **{k: getattr(args, k) for k in ("accounts", "instances", "calls", "clients", "rounds", "note")}}}
    for config in ("1 node", "3 nodes"):
        results[config] = run_config(config, args)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=1))
    write_report(results, out)
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
