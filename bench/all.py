"""The whole benchmark in one command: `make bench` (python -m bench.all) writes docs/performance.md.

One run, one machine, every family one after the other (each in its own process, with
its own embedded PostgreSQL database and stack, so no phase loads another's data):

0. bench.lean: the stack as `make run` and compose start it (PostgreSQL and Redis limiters,
   audit, metrics and logs on) against a bare Starlette + asyncpg server and the
   transcoder + trivial grpc.aio floor, with wrk at 1 and 8 connections; the report's
   first section lists every target of issue 13 with its ratio and PASS / FAIL;
   bench.request_cost: the service's and Envoy's CPU per read and the round trips PostgreSQL
   logs for it, on the stack as `make run` starts it; bench.limiter: each store's check
   time with 1, 6,000 and 18,000 hits in the window (both in the same targets table);
1. bench.run: instance reads at two sizes, Envoy's direct response, ingestion over gRPC
   vs COPY, voucher reads and exports, affiliate reads at two sizes and ingestion;
2. bench.campaign: campaign analytics at two campaign sizes;
3. bench.landing: tracking under load vs Envoy's direct response, dashboards;
4. bench.accounts: per-account cost with 1 vs 1,000 accounts;
5. bench.family_exports: the export worker on `scale` affiliate events per format (XLSX
   capped at a sheet's rows) against COPY TO of the same rows, and its memory curve.

The data size comes from one number, BENCH_SCALE (or --scale): the events of the large
data set, 10,000,000 by default. From it: instance events = scale (scale/10 instances,
and a small set of a tenth); campaign: scale/10 instances in the large campaign;
affiliate: scale tracking events (and a tenth); landing: scale/2 events; voucher: scale/10
redemptions; exports: scale rows per format. The accounts benchmark has a fixed size per account (bench/accounts.py).

The report puts every figure next to its same-run ceiling (raw SQL, COPY, Envoy's direct
response) as a ratio, with the round-to-round spread as the noise, and draws the plots
(PNG, matplotlib) into docs/img/. The family sections follow, as each family renders them.

    python -m bench.all                        # BENCH_SCALE or 10,000,000 events (about an hour on 2 cores)
    python -m bench.all --quick                # 200,000 events, a smoke check (a few minutes)
    python -m bench.all --render-only          # re-render from the results of the last run
    BENCH_NOTE="..." python -m bench.all       # conditions of the run, stated in the report (or --note)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

from bench import accounts, affiliate, campaign, family_exports, landing
from bench.figures import noise, plot, summary_rows
from bench.measure import cpu_model
from bench.report import render_report
from bench.targets import render_lean, target_rows
from stack.run import ROOT

DEFAULT_SCALE = 10_000_000
QUICK_SCALE = 200_000
RESULTS = ROOT / "bench" / "results"
FAMILIES = ("lean", "cost", "limiter", "run", "campaign", "landing", "accounts", "exports")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=None,
                   help=f"events of the large data set (default: $BENCH_SCALE or {DEFAULT_SCALE:,}; quick "
                        f"{QUICK_SCALE:,})")
    p.add_argument("--quick", action="store_true", help="small scale and fewer requests: checks the pipeline")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds of every measurement (default 3)")
    p.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                   help="run only these benchmarks (the report uses the last results of the others, if any)")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report (default docs/performance.md; quick: bench/results/performance-quick.md); "
                        "plots go to img/ beside it")
    p.add_argument("--render-only", action="store_true", help="measure nothing: render from the last results")
    p.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""),
                   help="conditions of the run to state in the report (e.g. 'machine shared with other work')")
    return p.parse_args(argv)


def result_files(quick: bool) -> dict[str, pathlib.Path]:
    """Where each family's benchmark leaves its results (JSON)."""
    q = "-quick" if quick else ""
    return {"lean": RESULTS / f"lean{q or '-latest'}.json",
            "cost": RESULTS / f"request_cost{q}.json", "limiter": RESULTS / f"limiter{q or '-latest'}.json",
            "run": RESULTS / f"latest{q}.json", "campaign": RESULTS / f"campaign{q or '-latest'}.json",
            "landing": RESULTS / f"landing{q or '-latest'}.json", "accounts": RESULTS / f"accounts{q or '-latest'}.json",
            "exports": family_exports.result_file(quick)}


def commands(scale: int, quick: bool, rounds: int | None) -> dict[str, list[str]]:
    """Each family's command line for a run at `scale` events."""
    q = ["--quick"] if quick else []
    r = ["--rounds", str(rounds)] if rounds else []
    md = RESULTS / "family"
    return {
        "lean": ["bench.lean", *q, *r],
        "cost": ["bench.request_cost", "-n", "100" if quick else "300", *r,
                 "--out", str(result_files(quick)["cost"])],
        "limiter": ["bench.limiter", "--repeats", "100" if quick else "500", "--out", str(result_files(quick)["limiter"])],
        "run": ["bench.run", *q, *r, "--scale", str(max(1000, scale // 10)), "--affiliate-scale", str(scale),
                "--out", str(md / f"performance{'-quick' if quick else ''}.md")],
        "campaign": ["bench.campaign", *q, *r, "--scale", str(max(1000, scale // 10)),
                     "--out", str(md / "campaign.md")],
        "landing": ["bench.landing", *q, *r, "--events", str(max(1000, scale // 2)),
                    "--out", str(md / "landing.md")],
        "accounts": ["bench.accounts", *q, *r],
        "exports": ["bench.family_exports", *q, "--rows", str(scale), "--out", str(md / "exports.md")],
    }


def _run(module_args: list[str]) -> int:
    """Runs one family's benchmark in its own process; SIGTERM / Ctrl-C stop it cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", *module_args], cwd=ROOT)

    def forward(signum, _frame):
        proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    scale = args.scale or (QUICK_SCALE if args.quick else int(os.environ.get("BENCH_SCALE") or DEFAULT_SCALE))
    out = args.out or (RESULTS / "performance-quick.md" if args.quick else ROOT / "docs" / "performance.md")
    files = result_files(args.quick)
    run: dict[str, Any] = {"command": "python -m bench.all " + " ".join(argv if argv is not None else sys.argv[1:]),
                           "scale": scale, "quick": args.quick, "note": args.note,
                           "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                           "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "phases": {}}
    started = time.monotonic()
    failed = []
    if not args.render_only:
        (RESULTS / "family").mkdir(parents=True, exist_ok=True)
        for name, cmd in commands(scale, args.quick, args.rounds).items():
            if name not in args.only:
                continue
            _say(f"== {name}: python -m {' '.join(cmd)}")
            t0 = time.monotonic()
            code = _run(cmd)
            run["phases"][name] = {"seconds": round(time.monotonic() - t0), "exit": code}
            if code == 130:
                _say("interrupted")
                return 130
            if code:
                failed.append(name)
                _say(f"{name} failed (exit {code}); the report says so")
        run["duration_s"] = round(time.monotonic() - started)
        run["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        (RESULTS / f"all{'-quick' if args.quick else ''}.json").write_text(json.dumps(run, indent=1))
    else:
        saved = RESULTS / f"all{'-quick' if args.quick else ''}.json"
        if saved.exists():
            run = {**json.loads(saved.read_text()), **({"note": args.note} if args.note else {})}
    results = {name: json.loads(path.read_text()) for name, path in files.items() if path.exists()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(run, results, out.parent / "img", out.parent))
    _say(f"wrote {out} and its plots in {out.parent / 'img'}")
    if not args.quick and args.out is None:
        README.write_text(with_readme_section(README.read_text(), readme_section(run, results)))
        _say(f"wrote the performance table of {README}")
    return 1 if failed else 0


README = ROOT / "README.md"
README_BEGIN, README_END = "<!-- bench.all: readme begin -->", "<!-- bench.all: readme end -->"


def readme_section(run: dict[str, Any], results: dict[str, Any]) -> str:
    """The README's performance table: every target of issue 13 with its ratio and verdict
    in this run, and every figure against its same-run ceiling (docs/performance.md has the
    rounds, the noise and the series)."""
    lines = [README_BEGIN, "",
             f"From the run of {run.get('started_at', '?')[:10]} (`{run['command'].strip()}`, BENCH_SCALE = "
             f"{run['scale']:,}, load average {run.get('loadavg_start')} at the start): ratios, each against a "
             "ceiling measured in the same run.", "",
             "| target (issue 13) | ratio | verdict |", "| --- | ---: | --- |"]
    if "lean" in results:
        for r in target_rows(results["lean"], results.get("run"), results.get("accounts"), results.get("cost"),
                             results.get("limiter")):
            m = r["measured"]
            lines.append(f"| {r['target']} | {'-' if m is None else format(m['ratio'], '.2f') + 'x'} | "
                         f"{r['verdict']} |")
    lines += ["", "| family | figure | against (same run) | ratio |", "| --- | --- | --- | ---: |"]
    for r in summary_rows(results):
        lines.append(f"| {r['family']} | {r['what']} | {r['ceiling_name']} | {r['ratio']:.2f}x |")
    return "\n".join(lines + ["", README_END])


def with_readme_section(readme: str, section: str) -> str:
    """`readme` with its generated performance section replaced (the markers must be there)."""
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    return readme[:start] + section + readme[end:]


# ----------------------------------------------------------------------------- report


def demote(markdown: str) -> str:
    """Every heading one level down (outside code blocks), so a family's report becomes a section."""
    out, code = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            code = not code
        out.append("#" + line if not code and line.startswith("#") else line)
    return "\n".join(out)


def _value(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v:.2f} ms"
    return f"{v:,.0f} {unit}"


def render(run: dict[str, Any], results: dict[str, Any], img: pathlib.Path, base: pathlib.Path) -> str:
    files = plot(results, img)
    rel = os.path.relpath(img, base)
    lines: list[str] = []
    w = lines.append
    w("# Performance\n")
    w("<!-- Generated by bench/all.py (`make bench`); edit bench/all.py and the family renderers, not this file. -->\n")
    quick = run.get("quick")
    when = run.get("started_at", "?")
    w(f"Measured {when} by `{run['command'].strip()}`"
      + (" (**quick scale: checks the pipeline; not reference figures**)" if quick else "")
      + f": BENCH_SCALE = {run['scale']:,} events"
      + (f", {run['duration_s'] / 60:.0f} minutes" if run.get("duration_s") else "") + ". "
      f"Machine: {os.cpu_count()} cores ({cpu_model() or 'unknown CPU'}), everything (client, Envoy, services, "
      f"PostgreSQL) on the same cores; load average {run.get('loadavg_start')} at the start and "
      f"{run.get('loadavg_end')} at the end."
      + (f" Conditions: {run['note']}" if run.get("note") else "") + "\n")
    w("Run it with `make bench` (`python -m bench.all`; `BENCH_SCALE=N` or `--scale N` sets the events of the "
      f"large data set, default {DEFAULT_SCALE:,}) or `make bench-quick` ({QUICK_SCALE:,} events, a few minutes, "
      "writes `bench/results/performance-quick.md`). Each family's size follows from the scale: instance events = "
      "scale (and a tenth for the small set), campaign instances = scale / 10, affiliate events = scale, landing "
      "events = scale / 2, voucher redemptions = scale / 10, export rows = scale per format (XLSX capped at a "
      "sheet's rows); the accounts benchmark has a fixed size per account. "
      "Raw figures: `bench/results/*.json` (git-ignored). The test suite asserts no timings; only this "
      "benchmark measures them.\n")
    w("This page is regenerated whole by every run. What was measured by hand (the layer-by-layer cost of a "
      "request behind each change of the request path, the experiments that did not pay, with their figures) "
      "is in [performance-notes.md](performance-notes.md).\n")
    phases = run.get("phases", {})
    if phases:
        w("Phases: " + ", ".join(f"{k} {v['seconds'] / 60:.1f} min" + (f" (**failed, exit {v['exit']}**)"
                                                                       if v["exit"] else "")
                                 for k, v in phases.items()) + ".\n")
    missing = [f for f in FAMILIES if f not in results]
    if missing:
        w(f"Missing from this report (not run, or failed): {', '.join(missing)}.\n")

    w("## Every figure against its same-run ceiling\n")
    w("Ratio = measured / ceiling, both measured in this run. Latencies are p50 of all rounds pooled; "
      "\"rounds\" is the min-max of the same ratio computed round by round, where the benchmark keeps the rounds "
      "paired (\"-\" where it pools them).\n")
    w("| family | figure | measured | ceiling (same run) | ratio | rounds |")
    w("| --- | --- | ---: | --- | ---: | ---: |")
    for r in summary_rows(results):
        rounds = f"{r['spread'][0]:.2f}-{r['spread'][1]:.2f}x" if r["spread"] else "-"
        w(f"| {r['family']} | {r['what']} | {_value(r['measured'], r['unit'])} | {r['ceiling_name']}: "
          f"{_value(r['ceiling'], r['unit'])} | **{r['ratio']:.2f}x** | {rounds} |")
    w("")
    nz = noise(results)
    if nz:
        w("**Noise.** Round-to-round spread of the gateway p50, (max - min) / median of the rounds, per series: "
          + "; ".join(f"{k} median {v['median']:.0f}%, worst {v['max']:.0f}% ({v['series']} series)"
                      for k, v in nz.items())
          + ". A ratio is meaningful only beyond that spread; absolute times move more than ratios on a shared "
            "machine.\n")
    if "sizes" in files:
        w(f"![Latency against data size]({rel}/{files['sizes']})\n")
        w("Latency against data size, per endpoint: the gateway's p50 (top, log-log) and the same as a ratio to "
          "the SQL ceiling measured at that size in this run (bottom). Flat lines are the goal. The accounts "
          "column has the same probe account in a database of 1 account and of 1,000 (x: all events in the "
          "database).\n")
    if "ingest" in files:
        w(f"![Ingestion against its ceiling]({rel}/{files['ingest']})\n")
        w("Write paths as a fraction of their same-run ceiling: gRPC ingestion against `COPY` of the same rows, "
          "landing tracking against Envoy answering the same request directly.\n")
    if "overhead" in files:
        w(f"![Gateway overhead]({rel}/{files['overhead']})\n")
        w("What a request costs beyond its SQL (gateway p50 minus the SQL ceiling's p50), in units of Envoy's own "
          "direct response through the same filter chain, in the same run: 1.0 would mean the services add "
          "nothing to the proxy's own cost.\n")

    sections = []
    if "lean" in results:
        sections.append(("The configurations people run", render_lean(
            results["lean"], results.get("run"), results.get("accounts"), results.get("cost"),
            results.get("limiter"))))
    if "run" in results:
        sections.append(("Instance and voucher analytics", render_report(results["run"], pathlib.Path(
            results["run"].get("results_file", "bench/results/latest.json")))))
        if results["run"].get("affiliate"):
            sections.append(("Affiliate analytics", affiliate.render(results["run"]["affiliate"])))
    if "campaign" in results:
        sections.append(("Campaign analytics", campaign.render(results["campaign"])))
    if "landing" in results:
        sections.append(("Landing analytics", landing.render(results["landing"])))
    if "accounts" in results:
        sections.append(("Accounts", accounts.render(results["accounts"], level="#")))
    for _title, body in sections:
        w(demote(body).replace("# Performance\n", "# Instance and voucher analytics\n", 1))
        w("")
    if "exports" in results:  # a section between markers, already at its level (bench/family_exports.py)
        name = family_exports.plot(results["exports"], img)
        w(family_exports.render(results["exports"], f"{rel}/{name}" if name else None))
        w("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
