"""The first section of the whole benchmark's report (bench/all.py): every target of
issue 13 with its measured ratio and PASS / FAIL, then every series of bench.lean (the
configurations people run against lean ceilings)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.report import flatness_rows


LEAN_READS = ("instance list", "campaign analytics", "affiliate stats", "voucher trends", "landing dashboard")
_LEAN_GATEWAY = "{read}: gateway, PostgreSQL limiter (make run)"
_LEAN_BARE = "{read}: bare Starlette + asyncpg"
_LEAN_FLOOR = "{read}: Envoy + transcoder + trivial grpc.aio"
LEAN_DETAILS = "instance details (20): gateway, PostgreSQL limiter (make run)"


def _series(lean: dict[str, Any], name: str, connections: int, field: str) -> list[float]:
    """The field's value in each round that has it (CPU: not in runs before it was measured,
    None for a series without such a process)."""
    return [r[field] for r in lean.get("wrk", {}).get(name, {}).get(str(connections), [])
            if r.get(field) is not None]


def lean_ratio(lean: dict[str, Any], a: str, b: str, connections: int, field: str) -> dict[str, float] | None:
    """median(a) / median(b) over the rounds, and the min-max of the same ratio round by round."""
    x, y = _series(lean, a, connections, field), _series(lean, b, connections, field)
    if not x or not y:
        return None
    per_round = [p / q for p, q in zip(x, y) if q]
    return {"a": statistics.median(x), "b": statistics.median(y), "ratio": statistics.median(x) / statistics.median(y),
            "min": min(per_round), "max": max(per_round)}


def target_rows(lean: dict[str, Any] | None, run: dict[str, Any] | None, accounts: dict[str, Any] | None,
                cost: dict[str, Any] | None = None, limiter: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """Every target of issue 13 with its measured ratio and PASS / FAIL, or "not measured"
    (with where it is measured) when this run has no figure for it."""
    lean, run = lean or {}, run or {}
    rows: list[dict[str, Any]] = []

    def add(target, r, limit, higher, note=""):
        if r is None:
            rows.append({"target": target, "measured": None, "verdict": "not measured", "note": note})
            return
        ok = r["ratio"] >= limit if higher else r["ratio"] <= limit
        rows.append({"target": target, "measured": r, "verdict": "PASS" if ok else "FAIL", "note": note})

    for read in LEAN_READS:
        g = _LEAN_GATEWAY.format(read="list") if read == "instance list" else _LEAN_GATEWAY.format(read=read)
        b = _LEAN_BARE.format(read="list") if read == "instance list" else _LEAN_BARE.format(read=read)
        missing = "the bare server answers only the instance list so far"
        add(f"{read}: throughput at 8 connections >= 0.5x the bare server", lean_ratio(lean, g, b, 8, "req_per_s"),
            0.5, True, "" if g in lean.get("wrk", {}) and b in lean.get("wrk", {}) else missing)
        add(f"{read}: p50 at 1 connection <= 2.5x the bare server's", lean_ratio(lean, g, b, 1, "p50_ms"), 2.5, False,
            "" if g in lean.get("wrk", {}) and b in lean.get("wrk", {}) else missing)
    families = (cost or {}).get("families", {})
    for what, family, limit in (
            ("service CPU per instance-list request <= 1.0 ms, one request at a time", "instance_list", 1000.0),
            ("service CPU per 20-instance details <= 2 ms, one request at a time", "instance_details_20", 2000.0)):
        f = families.get(family)
        add(what, None if f is None else {"a": f["cpu_us"], "b": limit, "ratio": f["cpu_us"] / limit,
                                          "min": f["cpu_us"] / limit, "max": f["cpu_us"] / limit},
            1.0, False, f"bench.request_cost: us of service CPU per request (Envoy: {f['envoy_cpu_us']:,.0f} us), "
                        "against the target" if f else "bench.request_cost did not run")
    bare_cpu = _series(lean, _LEAN_BARE.format(read="list"), 8, "cpu_us")
    for what, name, limit in (
            ("service CPU per instance-list request <= 1.0 ms, under wrk at 8 connections",
             _LEAN_GATEWAY.format(read="list"), 1000.0),
            ("service CPU per 20-instance details <= 2 ms, under wrk at 8 connections", LEAN_DETAILS, 2000.0)):
        at8, at1 = _series(lean, name, 8, "cpu_us"), _series(lean, name, 1, "cpu_us")
        envoy = _series(lean, name, 8, "envoy_cpu_us")
        add(what, None if not at8 else {"a": statistics.median(at8), "b": limit,
                                        "ratio": statistics.median(at8) / limit, "min": min(at8) / limit,
                                        "max": max(at8) / limit},
            1.0, False, ("bench.lean: us of the service's CPU per answer over each wrk run; at 1 connection "
                         f"{statistics.median(at1):,.0f} us; Envoy {statistics.median(envoy):,.0f} us at 8"
                         + (f"; the bare server's list in the same run {statistics.median(bare_cpu):,.0f} us"
                            if bare_cpu else "")) if at8 and at1 and envoy else "bench.lean did not measure CPU")
    if families:
        # The read's statements and the limiter's, per request; key lookups (cached 5 s) and a
        # statement's one-time parse on a new connection apart.
        trips = {name: round(f["round_trips_by_kind"].get("read", 0) + f["round_trips_by_kind"].get("limiter", 0), 3)
                 for name, f in families.items()}
        worst = max(trips.values())
        lookups = max(f["round_trips_by_kind"].get("auth", 0) for f in families.values())
        add("database round trips per read: 1 (+1 with the PostgreSQL store)",
            {"a": worst, "b": 2.0, "ratio": worst / 2.0, "min": min(trips.values()) / 2.0, "max": worst / 2.0},
            1.0, False, "bench.request_cost, from PostgreSQL's log, read + limiter per request: "
                        + ", ".join(f"{name} {n:.3f}" for name, n in trips.items())
                        + f"; key lookups at most {lookups:.3f} (cached 5 s), one-time parses apart")
    else:
        add("database round trips per read: 1 (+1 with the PostgreSQL store)", None, 0, True,
            "bench.request_cost did not run")
    for store in ("postgres", "redis"):
        loads = ((limiter or {}).get("stores") or {}).get(store)
        label = {"postgres": "PostgreSQL", "redis": "Redis"}[store]
        add(f"{label} limiter check, 6,000 hits vs 1 <= 1.5x",
            None if not loads else {"a": loads["6000"]["median_ms"], "b": loads["1"]["median_ms"],
                                    "ratio": loads["6000"]["ratio"], "min": loads["6000"]["ratio"],
                                    "max": loads["6000"]["ratio"]},
            1.5, False, "bench.limiter: median ms of a check, interleaved" if loads else "bench.limiter did not run")
    add("public tracking (make run) >= 0.5x the transcoder + trivial handler floor, 8 connections",
        lean_ratio(lean, "track: gateway, PostgreSQL limiter (make run)", _LEAN_FLOOR.format(read="track"), 8,
                   "req_per_s"), 0.5, True)
    add("public tracking (compose, Redis) >= 0.5x the same floor, 8 connections",
        lean_ratio(lean, "track: gateway, Redis limiter (compose)", _LEAN_FLOOR.format(read="track"), 8,
                   "req_per_s"), 0.5, True)
    one = None
    if run.get("ingest"):
        v = run["ingest"]["variants"]
        ones = [(n, x) for n, x in v.items() if x["kind"] == "grpc" and x["concurrency"] == 1]
        if ones:
            name, best = max(ones, key=lambda nx: nx[1]["events_per_s"]["median"])
            per = [r["events_per_s"] / c["events_per_s"] for r, c in zip(best["rounds"], v["copy"]["rounds"])]
            one = {"a": best["events_per_s"]["median"], "b": v["copy"]["events_per_s"]["median"],
                   "ratio": best["events_per_s"]["median"] / v["copy"]["events_per_s"]["median"],
                   "min": min(per) if per else math.nan, "max": max(per) if per else math.nan, "name": name}
    add("one ingestion client >= 0.4x COPY into the same tables", one, 0.4, True,
        f"`{one['name']}` (bench.run, memory limiter)" if one else "bench.run did not run")
    rep = lean_ratio(lean, "list: ablation, 2 replicas (PostgreSQL limiter)", _LEAN_GATEWAY.format(read="list"), 8,
                     "req_per_s")
    rows.append({"target": "1 vs 2 service processes (instance list, 8 connections): reported", "measured": rep,
                 "verdict": "reported" if rep else "not measured", "note": "2 replicas of every service / 1"})
    if run.get("reads"):
        worst = max(flatness_rows(run), key=lambda r: r["gateway"])
        add("size flatness (small -> large data set), gateway p50 <= 1.5x",
            {"a": worst["gateway_large"], "b": worst["gateway_small"], "ratio": worst["gateway"],
             "min": min(worst["gateway_rounds"] or [worst["gateway"]]),
             "max": max(worst["gateway_rounds"] or [worst["gateway"]])}, 1.5, False,
            f"worst: {worst['case'].title}; at this run's scale, not 100k -> 10M unless BENCH_SCALE=10M")
    if accounts:
        reads = accounts["reads"]
        name = max(reads, key=lambda n: reads[n]["gateway"]["ratio_p50"])
        g = reads[name]["gateway"]
        add("1 vs 1,000 accounts, gateway p50 <= 1.5x",
            {"a": 0, "b": 0, "ratio": g["ratio_p50"], "min": g["ratio_p50_rounds"]["min"],
             "max": g["ratio_p50_rounds"]["max"]}, 1.5, False, f"worst: {name}")
    return rows


def render_lean(lean: dict[str, Any], run: dict[str, Any] | None = None, accounts: dict[str, Any] | None = None,
                cost: dict[str, Any] | None = None, limiter: dict[str, Any] | None = None) -> str:
    """The section of the report: the targets, then every series against the ceilings."""
    lines: list[str] = []
    w = lines.append
    cfg = lean["config"]
    w("# The configurations people run, against lean ceilings\n")
    w(f"`{lean['command'].strip()}`, started {lean['started_at']}, {lean['duration_s'] / 60:.1f} minutes, load "
      f"average {lean['loadavg_start']} at its start and {lean['loadavg_end']} at its end. The stack as `make run` "
      "starts it: embedded PostgreSQL, the PostgreSQL rate-limit store, audit log, metrics and logs on, the demo "
      f"data ({lean['demo'].get('instances', 0):,} instances); and as compose runs it (the Redis store, a "
      "redis-server started by the run). Every limiter runs on every request, with the bench account's limits "
      f"raised (`RATE_LIMITS={cfg['rate_limits']}`) so that no 429 distorts a figure; the non-2xx answers are "
      "counted (column `non-2xx`). Load: wrk, "
      f"{cfg['seconds']:g} s per series, {cfg['rounds']} interleaved rounds at 1 and 8 connections.\n")
    checks = lean.get("checks", {})
    if checks:
        w("Checked before measuring: the bare server's JSON equals the gateway's (every field but `meta`'s request "
          "id and instant) and it sends the same `x-` headers, for: "
          + ", ".join(f"{k} ({v['items']} items; {', '.join(v['headers'])})" for k, v in checks.items()) + ".\n")
    w("## The targets (issue 13)\n")
    w("| target | measured | ratio (rounds) | verdict |")
    w("| --- | --- | ---: | --- |")
    for r in target_rows(lean, run, accounts, cost, limiter):
        m = r["measured"]
        figure = f"{m['a']:,.1f} vs {m['b']:,.1f}" if m and m.get("b") else "-"
        ratio = "-" if m is None else f"**{m['ratio']:.2f}x** ({m['min']:.2f}-{m['max']:.2f})"
        verdict = f"**{r['verdict']}**" if r["verdict"] in ("PASS", "FAIL") else r["verdict"]
        w(f"| {r['target']} | {figure} | {ratio} | {verdict}{' (' + r['note'] + ')' if r['note'] else ''} |")
    w("")
    if cost and cost.get("families"):
        w("## What one read costs the service (bench.request_cost)\n")
        w(f"{cost['n']} requests one after another per round, {cost['rounds']} rounds, through the gateway of the "
          "stack as `make run` starts it. CPU: user + system of the family's service process (and of Envoy) over "
          "the requests, per request, background work they cause (the audit batch) included. Round trips: the "
          "statements of the app role that PostgreSQL logged in the window, by what they ran; the workers' own "
          "polls are counted apart (`background`, `transaction`) and are not the request's.\n")
        w("| read | service CPU us | Envoy CPU us | round trips (read + limiter) | by kind |")
        w("| --- | ---: | ---: | ---: | --- |")
        for name, f in cost["families"].items():
            kinds = ", ".join(f"{k} {v:.3f}" for k, v in f["round_trips_by_kind"].items())
            w(f"| {name} | {f['cpu_us']:,.0f} | {f['envoy_cpu_us']:,.0f} | {f['round_trips']:.2f} | {kinds} |")
        w("")
    if limiter and limiter.get("stores"):
        w("## The limiter's check against the hits in its window (bench.limiter)\n")
        w(f"{limiter['repeats']} checks per load, the loads interleaved round by round; wall time of one `hit` "
          "(one round trip), client included.\n")
        w("| store | hits in window | median ms | IQR ms | min ms | median vs 1 hit |")
        w("| --- | ---: | ---: | --- | ---: | ---: |")
        for store, loads in limiter["stores"].items():
            for load, x in loads.items():
                w(f"| {store} | {int(load):,} | {x['median_ms']:.3f} | {x['q1_ms']:.3f}-{x['q3_ms']:.3f} | "
                  f"{x['min_ms']:.3f} | {x['ratio']:.2f}x |")
        w("")
    w("## Every series\n")
    w("Median over the rounds (min-max in brackets). Ablations switch one part off and are not the configuration "
      "anyone runs.\n")
    w("| series | req/s at 1 | p50 ms at 1 | req/s at 8 | p50 ms at 8 | p99 ms at 8 | server CPU us at 1 / 8 "
      "| Envoy CPU us at 8 | non-2xx |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cell(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})" if values else "-"

    def mid(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f}" if values else "-"

    for name, by_c in lean.get("wrk", {}).items():
        non2xx = sum(r["non2xx"] for rs in by_c.values() for r in rs)
        w(f"| {name} | {cell(_series(lean, name, 1, 'req_per_s'), ',.0f')} "
          f"| {cell(_series(lean, name, 1, 'p50_ms'), '.2f')} "
          f"| {cell(_series(lean, name, 8, 'req_per_s'), ',.0f')} | {cell(_series(lean, name, 8, 'p50_ms'), '.2f')} "
          f"| {cell(_series(lean, name, 8, 'p99_ms'), '.1f')} "
          f"| {mid(_series(lean, name, 1, 'cpu_us'))} / {mid(_series(lean, name, 8, 'cpu_us'))} "
          f"| {mid(_series(lean, name, 8, 'envoy_cpu_us'))} | {non2xx} |")
    w("")
    py = lean.get("python_client")
    if py:
        w(f"The Python client (httpx, one connection, {cfg['python_requests']} sequential requests), p50 in ms: "
          + "; ".join(f"{k} {v:.2f}" for k, v in py.items())
          + ". Its own cost per call is in every figure, which is why the ratios above use wrk.\n")
    return "\n".join(lines).rstrip() + "\n"
