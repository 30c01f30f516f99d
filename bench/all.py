"""The whole benchmark in one command: `make bench` (python -m bench.all) writes docs/performance.md.

One run, one machine, every family one after the other (each in its own process, with
its own embedded PostgreSQL database and stack, so no phase loads another's data):

0. bench.lean: the stack as `make run` and compose start it (PostgreSQL and Redis limiters,
   audit, metrics and logs on) against a bare Starlette + asyncpg server and the
   transcoder + trivial grpc.aio floor, with wrk at 1 and 8 connections; the report's
   first section lists every target of issue 13 with its ratio and PASS / FAIL;
1. bench.run: instance reads at two sizes, Envoy's direct response, ingestion over gRPC
   vs COPY, voucher reads and exports, affiliate reads at two sizes and ingestion;
2. bench.campaign: campaign analytics at two campaign sizes;
3. bench.landing: tracking under load vs Envoy's direct response, dashboards;
4. bench.accounts: per-account cost with 1 vs 1,000 accounts.

The data size comes from one number, BENCH_SCALE (or --scale): the events of the large
data set, 10,000,000 by default. From it: instance events = scale (scale/10 instances,
and a small set of a tenth); campaign: scale/10 instances in the large campaign;
affiliate: scale tracking events (and a tenth); landing: scale/2 events; voucher: scale/10
redemptions. The accounts benchmark has a fixed size per account (bench/accounts.py).

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
import math
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import accounts, affiliate, campaign, landing
from bench.measure import cpu_model, spread
from bench.report import flatness_rows, ingest_summary, latency_rows, render_lean, render_report
from stack.run import ROOT

DEFAULT_SCALE = 10_000_000
QUICK_SCALE = 200_000
RESULTS = ROOT / "bench" / "results"
FAMILIES = ("lean", "run", "campaign", "landing", "accounts")


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
            "run": RESULTS / f"latest{q}.json", "campaign": RESULTS / f"campaign{q or '-latest'}.json",
            "landing": RESULTS / f"landing{q or '-latest'}.json", "accounts": RESULTS / f"accounts{q or '-latest'}.json"}


def commands(scale: int, quick: bool, rounds: int | None) -> dict[str, list[str]]:
    """Each family's command line for a run at `scale` events."""
    q = ["--quick"] if quick else []
    r = ["--rounds", str(rounds)] if rounds else []
    md = RESULTS / "family"
    return {
        "lean": ["bench.lean", *q, *r],
        "run": ["bench.run", *q, *r, "--scale", str(max(1000, scale // 10)), "--affiliate-scale", str(scale),
                "--out", str(md / f"performance{'-quick' if quick else ''}.md")],
        "campaign": ["bench.campaign", *q, *r, "--scale", str(max(1000, scale // 10)),
                     "--out", str(md / "campaign.md")],
        "landing": ["bench.landing", *q, *r, "--events", str(max(1000, scale // 2)),
                    "--out", str(md / "landing.md")],
        "accounts": ["bench.accounts", *q, *r],
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
    return 1 if failed else 0


# ---------------------------------------------------------------------------- figures
# Each figure: (family, what, measured, ceiling, unit, ratio, (min, max) ratio over rounds).


def _spread(values: list[float]) -> tuple[float, float] | None:
    v = [x for x in values if x is not None and not math.isnan(x)]
    return (min(v), max(v)) if v else None


def _round_p50(layer: dict[str, Any]) -> list[float]:
    return [r["p50"] for r in layer["rounds"]]


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every headline figure of the run next to its same-run ceiling, as a ratio."""
    rows: list[dict[str, Any]] = []

    def add(family, what, measured, ceiling, ceiling_name, unit, rounds=None, higher_is_better=False):
        if not measured or not ceiling:
            return
        rows.append({"family": family, "what": what, "measured": measured, "ceiling": ceiling,
                     "ceiling_name": ceiling_name, "unit": unit, "ratio": measured / ceiling, "spread": rounds,
                     "higher_is_better": higher_is_better})

    r = results.get("run", {})
    if "reads" in r:
        size = _human(r["scale"]["large"] * 10) + " events"
        for row in latency_rows(r):
            add("instance", f"{row['case'].title} ({size})", row["gateway"], row["best"], "best raw SQL", "ms",
                _spread(row["round_ratios"]))
        envoy = r.get("ceiling", {}).get("envoy_gateway_chain", {}).get("pooled", {}).get("p50")
        first = latency_rows(r)[0]
        add("instance", f"gateway - SQL for {first['case'].title}", first["gateway"] - first["best"], envoy,
            "Envoy direct response (same filter chain)", "ms")
    if "ingest" in r:
        s = ingest_summary(r)
        if s["best"]:
            add("instance", f"ingestion, gRPC `{s['best']['name']}`", s["best"]["events_per_s"]["median"], s["copy"],
                "COPY of the same rows", "events/s", _spread(s["best"]["round_ratios"]), True)
    for name in ("performance", "trends"):
        v = r.get("vouchers", {}).get("reads", {}).get(name)
        if v:
            add("voucher", f"`{name}`, 90 days", v["p50"]["gateway"], v["p50"]["raw_sql"], "the service's SQL, raw",
                "ms", (v["ratio_spread"]["min"], v["ratio_spread"]["max"]))
    a = r.get("affiliate", {})
    for key, case in a.get("reads", {}).items():
        if key.startswith("large/"):
            add("affiliate", f"`{key.split('/')[2]}`, {key.split('/')[1]}", case["gateway"]["p50"],
                case["preagg_sql"]["p50"], "the service's SQL, raw", "ms")
    if a.get("ingest"):
        ing = a["ingest"]
        add("affiliate", "ingestion, gRPC `RecordEvents`", ing["grpc_events_per_s"]["median"],
            ing["copy_rows_per_s"]["median"], "COPY of the same rows", "events/s",
            (ing["ratio"]["min"], ing["ratio"]["max"]), True)
    c = results.get("campaign")
    if c:
        lat = c["latency_ms"]
        large = list(c["campaigns"])[-1]
        for query in ("per_month", "custom_range_90d"):
            add("campaign", f"`{query}` ({large} instances)", lat[f"{large}:{query}:gateway"]["p50"],
                lat[f"{large}:{query}:raw_best_sql"]["p50"], "the service's statement, raw", "ms")
    land = results.get("landing")
    if land:
        top = land["tracking"][max(land["tracking"], key=int)]
        add("landing", f"tracking, {max(land['tracking'], key=int)} connections", top["track"]["req_per_s"]["median"],
            top["envoy_gateway_chain"]["req_per_s"]["median"], "Envoy direct response (same filter chain)",
            "req/s", _spread([t["req_per_s"] / e["req_per_s"] for t, e in zip(
                top["track"]["rounds"], top["envoy_gateway_chain"]["rounds"])]), True)
        d = land["dashboards"]
        add("landing", "dashboard, 7 days", d["gateway: GET /api/analytics/{id}"]["p50"]["median"],
            d["raw SQL: the service's statement (daily rollup), 7 days"]["p50"]["median"], "the service's SQL, raw",
            "ms")
    acc = results.get("accounts")
    if acc:
        one, many = list(acc["rows"])
        for name, e in acc["reads"].items():
            g = e["gateway"]
            add("accounts", f"{name}: gateway p50 with {many}", g[many]["p50"], g[one]["p50"],
                f"the same request with {one}", "ms", (g["ratio_p50_rounds"]["min"], g["ratio_p50_rounds"]["max"]))
    return rows


def _human(n: float) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            v = n / div
            return f"{v:.0f}{suffix}" if v == int(v) or v >= 10 else f"{v:.1f}{suffix}"
    return f"{n:.0f}"


def size_series(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Latency against data size, per endpoint: (rows of the measured data set, gateway p50,
    ceiling p50) at each size measured in this run."""
    series = []
    r = results.get("run", {})
    if "reads" in r:
        for row in flatness_rows(r):
            case = row["case"]
            pts = []
            for label in ("small", "large"):
                layers = r["reads"][label][case.name]["layers"]
                pts.append((r["scale"][label] * 10, layers["gateway"]["pooled"]["p50"],
                            layers["raw_best"]["pooled"]["p50"]))
            series.append({"family": "instance", "endpoint": case.title, "x": "instance events", "points": pts})
    a = r.get("affiliate", {})
    if a.get("reads"):
        for days in affiliate.WINDOWS:
            for section in affiliate.SECTIONS:
                pts = [(a["sizes"][label]["events"], a["reads"][k]["gateway"]["p50"], a["reads"][k]["preagg_sql"]["p50"])
                       for label in ("small", "large") if (k := f"{label}/{days}d/{section}") in a["reads"]]
                if len(pts) == 2:
                    series.append({"family": "affiliate", "endpoint": f"{section}, {days} days", "x": "events",
                                   "points": pts})
    c = results.get("campaign")
    if c:
        for query in ("per_month", "custom_range_90d"):
            pts = [(n, c["latency_ms"][f"{label}:{query}:gateway"]["p50"],
                    c["latency_ms"][f"{label}:{query}:raw_best_sql"]["p50"]) for label, (_id, n) in c["campaigns"].items()]
            series.append({"family": "campaign", "endpoint": query, "x": "instances", "points": sorted(pts)})
    acc = results.get("accounts")
    if acc:
        one, many = list(acc["rows"])
        for name, e in acc["reads"].items():
            pts = [(acc["rows"][label]["events"], e["gateway"][label]["p50"], e["raw_sql"][label]["p50"])
                   for label in (one, many)]
            series.append({"family": "accounts", "endpoint": name,
                           "x": "instance events in the database (1 vs 1,000 accounts)", "points": pts})
    return series


def overhead_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Gateway p50 minus the SQL ceiling's p50 (what is not the database), over Envoy's own
    direct response through the same filter chain in the same run."""
    out = []
    r = results.get("run", {})
    envoy = r.get("ceiling", {}).get("envoy_gateway_chain", {}).get("pooled", {}).get("p50")
    if envoy:
        for row in latency_rows(r):
            out.append({"endpoint": f"instance: {row['case'].title}", "overhead": row["gateway"] - row["best"],
                        "envoy": envoy})
        for name in ("performance", "trends"):
            v = r.get("vouchers", {}).get("reads", {}).get(name)
            if v:
                out.append({"endpoint": f"voucher: {name}", "overhead": v["p50"]["gateway"] - v["p50"]["raw_sql"],
                            "envoy": envoy})
        for key, case in r.get("affiliate", {}).get("reads", {}).items():
            if key.startswith("large/"):
                out.append({"endpoint": f"affiliate: {key.split('/', 1)[1]}",
                            "overhead": case["gateway"]["p50"] - case["preagg_sql"]["p50"], "envoy": envoy})
    c = results.get("campaign")
    if c:
        lat = c["latency_ms"]
        large = list(c["campaigns"])[-1]
        for query in ("per_month", "custom_range_90d"):
            out.append({"endpoint": f"campaign: {query}",
                        "overhead": lat[f"{large}:{query}:gateway"]["p50"] - lat[f"{large}:{query}:raw_best_sql"]["p50"],
                        "envoy": lat["envoy_direct_response"]["p50"]})
    return out


def noise(results: dict[str, Any]) -> dict[str, Any]:
    """Round-to-round spread of the gateway p50s, (max - min) / median per series, by family."""
    per: dict[str, list[float]] = {}
    r = results.get("run", {})
    for label in ("small", "large"):
        for case in r.get("reads", {}).get(label, {}).values():
            per.setdefault("instance", []).append(spread(_round_p50(case["layers"]["gateway"]))["spread_pct"])
    for case in r.get("affiliate", {}).get("reads", {}).values():
        if isinstance(case, dict) and "gateway" in case and case["gateway"].get("p50_rounds") and \
                r.get("config", {}).get("rounds", 0) > 1:
            per.setdefault("affiliate", []).append(case["gateway"]["p50_rounds"]["spread_pct"])
    for name in ("performance", "trends"):
        v = r.get("vouchers", {}).get("reads", {}).get(name)
        if v:
            per.setdefault("voucher", []).append(spread(_round_p50({"rounds": v["rounds"]["gateway"]}))["spread_pct"])
    land = results.get("landing")
    if land:
        for key, d in land["dashboards"].items():
            if key.startswith("gateway") and len(d["rounds"]) > 1:
                per.setdefault("landing", []).append(d["p50"]["spread_pct"])
    acc = results.get("accounts")
    if acc:
        for e in acc["reads"].values():
            for label in acc["rows"]:
                per.setdefault("accounts", []).append(e["gateway"][label]["p50_rounds"]["spread_pct"])
    return {k: {"median": statistics.median(v), "max": max(v), "series": len(v)}
            for k, v in per.items() if v and not any(math.isnan(x) for x in v)}


# ------------------------------------------------------------------------------ plots


def plot(results: dict[str, Any], img: pathlib.Path) -> dict[str, str]:
    """Draws the figures into `img`; returns name -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    some = FuncFormatter(lambda v, _pos: f"{v:g}" if f"{v:g}".lstrip("0.")[:1] in "25" else "")

    img.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    series = size_series(results)
    if series:
        fams = [f for f in ("instance", "campaign", "affiliate", "accounts") if any(s["family"] == f for s in series)]
        fig, axes = plt.subplots(2, len(fams), figsize=(4.2 * len(fams), 7.5), squeeze=False)
        for col, fam in enumerate(fams):
            top, bottom = axes[0][col], axes[1][col]
            for s in (s for s in series if s["family"] == fam):
                xs = [p[0] for p in s["points"]]
                top.plot(xs, [p[1] for p in s["points"]], marker="o", label=s["endpoint"])
                bottom.plot(xs, [p[1] / p[2] for p in s["points"]], marker="o", label=s["endpoint"])
            top.set_title(f"{fam}: gateway p50")
            top.set_ylabel("ms")
            bottom.set_title(f"{fam}: gateway p50 / SQL ceiling p50", fontsize=10)
            bottom.set_ylabel("ratio (same run)")
            for ax in (top, bottom):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.set_xlabel(next(s["x"] for s in series if s["family"] == fam))
                ax.grid(True, alpha=0.3)
            for ax in (top, bottom):
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(some)
                ax.tick_params(axis="y", which="minor", labelsize=6)
            bottom.axhline(1.0, color="grey", lw=0.8)
            top.legend(fontsize=6)
        fig.tight_layout()
        files["sizes"] = "latency-vs-size.png"
        fig.savefig(img / files["sizes"], dpi=90)
        plt.close(fig)

    rows = [r for r in summary_rows(results) if r["unit"] in ("events/s", "req/s")]
    if rows:
        fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.8))
        labels = [f"{r['family']}: {r['what']}".replace("`", "") for r in rows]
        ratios = [r["ratio"] for r in rows]
        lo_hi = [r["spread"] or (r["ratio"], r["ratio"]) for r in rows]
        err = [[r - s[0] for r, s in zip(ratios, lo_hi)], [s[1] - r for r, s in zip(ratios, lo_hi)]]
        ax.barh(labels, ratios, xerr=err, color="tab:blue", capsize=3)
        ax.axvline(1.0, color="grey", lw=0.8)
        right = max(1.2, max(s[1] for s in lo_hi) * 1.1)
        for i, r in enumerate(rows):
            ax.text(right, i, f" {r['ratio']:.2f}x of {r['ceiling']:,.0f} {r['unit']}", va="center", fontsize=7)
        ax.set_title("Write rate / same-run ceiling (COPY, or Envoy's direct response)", fontsize=9)
        ax.set_xlabel("ratio; error bars: min-max over rounds")
        ax.set_xlim(0, right * 1.45)
        ax.invert_yaxis()
        fig.tight_layout()
        files["ingest"] = "ingestion-vs-ceiling.png"
        fig.savefig(img / files["ingest"], dpi=90)
        plt.close(fig)

    rows = overhead_rows(results)
    if rows:
        fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.8))
        ax.barh([r["endpoint"] for r in rows], [r["overhead"] / r["envoy"] for r in rows], color="tab:orange")
        ax.axvline(1.0, color="grey", lw=0.8)
        ax.set_title("Gateway cost beyond the SQL, in units of Envoy's own direct response (same run)", fontsize=9)
        ax.set_xlabel("(gateway p50 - SQL ceiling p50) / Envoy direct-response p50")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        files["overhead"] = "gateway-overhead.png"
        fig.savefig(img / files["overhead"], dpi=90)
        plt.close(fig)
    return files


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
      "events = scale / 2, voucher redemptions = scale / 10; the accounts benchmark has a fixed size per account. "
      "Raw figures: `bench/results/*.json` (git-ignored). The test suite asserts no timings; only this "
      "benchmark measures them.\n")
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
        sections.append(("The configurations people run", render_lean(results["lean"], results.get("run"),
                                                                     results.get("accounts"))))
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
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
