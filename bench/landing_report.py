"""The Landing Analytics benchmark's report (docs/performance-landing.md) from its
results (bench/landing.py measures them)."""

from __future__ import annotations

import math
from typing import Any

# The data set's time zone and length in days (bench/landing.py loads it; the report
# states them).
ZONE = "America/Mexico_City"
DAYS = 35


def _ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "-"
    if a / b < 0.1:
        return f"{a / b:.4f}x (1/{b / a:,.0f})"
    return f"{a / b:.2f}x"


def _summary(results: dict[str, Any]) -> list[str]:
    top = results["tracking"][max(results["tracking"], key=int)]
    c = max(results["tracking"], key=int)
    track = top["track"]["req_per_s"]["median"]
    d = results["dashboards"]
    gw = d["gateway: GET /api/analytics/{id}"]["p50"]["median"]
    raw = d["raw SQL over the events: GROUP BY local date, 7 days"]["p50"]["median"]
    cpu = results.get("tracking_cpu_us", {})
    return [
        "## Summary",
        "",
        f"* Tracking: {track:,.0f} events/s through the gateway with {c} concurrent connections, each "
        f"acknowledged event committed; {_ratio(track, top['envoy_gateway_chain']['req_per_s']['median'])} of the "
        f"same gateway chain answering directly and {_ratio(track, top['envoy_minimal']['req_per_s']['median'])} "
        "of a minimal Envoy. CPU per event: " + ", ".join(f"{k} {v} µs" for k, v in cpu.items()) + ": the "
        "Python gRPC service (request handling, interceptor, limiter, hashing, group commit) is the bottleneck, "
        "as the gateway measurements (docs/gateway.md) found for every service.",
        f"* Dashboard of a tenant with {results['load']['events']:,} events: {gw} ms p50 through the gateway, "
        f"flat in the number of events (the service reads at most 7 rollup rows), against {raw:,.0f} ms for "
        f"the same figures computed from the window's {d['rows_in_window']:,} raw events in SQL "
        f"({_ratio(gw, raw)}).",
    ]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Landing Analytics performance",
        "",
        f"Written by `{results['command']}` on {results['started_at']} ({m['nproc']} cores, {m['cpu_model']}, "
        f"PostgreSQL {m['postgresql']}, wrk on loopback). Absolute numbers depend on a busy shared machine; "
        "the ratios against the ceilings measured in the same run are what to read. Raw results: "
        f"`{results['results_file']}`.",
        "",
        *_summary(results),
        "",
        "## Tracking: events per second through the gateway",
        "",
        f"`wrk` POSTs `{{\"tenant_id\": <id>, \"event_type\": \"pageview\", \"metadata\": {{...}}}}` with a browser "
        "user agent and ~1,900 client addresses (X-Forwarded-For, one trusted hop) for "
        f"{results['config']['seconds']} s per round. Every 200 is an event committed in PostgreSQL before the "
        "answer (group commit): the rows the tenant gained are compared with the 2xx answers. Both limiters "
        "(tenant, source) run on every event with limits raised so that they never refuse. The ceilings are "
        "Envoy answering by itself with the same wrk settings: a minimal Envoy (one route, the router), and "
        "the real gateway's filter chain (Lua, CORS, transcoder, local replies, access log) with a direct-"
        "response route.",
        "",
        "| connections | path | req/s (median of rounds) | p50 ms | p99 ms | vs minimal Envoy | vs gateway chain | "
        "every 2xx committed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c, entry in results["tracking"].items():
        minimal = entry["envoy_minimal"]["req_per_s"]["median"]
        chain = entry["envoy_gateway_chain"]["req_per_s"]["median"]
        for name, label in (("track", "POST /api/analytics/track (service, committed)"),
                            ("envoy_gateway_chain", "gateway chain, direct response"),
                            ("envoy_minimal", "minimal Envoy, direct response")):
            e = entry[name]
            rps = e["req_per_s"]["median"]
            check = ""
            if name == "track":
                # Events answered after wrk stopped counting are committed too (<= connections).
                written = sum(r["rows_written"] for r in e["rounds"])
                ok = sum(r["ok"] for r in e["rounds"])
                check = "yes" if all(r["ok"] <= r["rows_written"] <= r["ok"] + int(c) for r in e["rounds"]) else "NO"
                check += f" ({written:,} rows, {ok:,} 2xx)"
            lines.append(
                f"| {c} | {label} | {rps:,.0f} | {e['p50_ms']['median']} | {e['p99_ms']['median']} | "
                f"{_ratio(rps, minimal)} | {_ratio(rps, chain)} | {check} |"
            )
    cpu = results.get("tracking_cpu_us")
    if cpu:
        lines += ["", "CPU per tracked event (all rounds, µs): " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + "."]
    d = results["dashboards"]
    lines += [
        "",
        "## Dashboards on a tenant with "
        f"{results['load']['events']:,} events",
        "",
        f"{results['load']['events']:,} events over {DAYS} days ({d['rows_in_window']:,} in the 7-day window of "
        f"{ZONE}), ~4,000 visitors a day; loaded in {results['load']['insert_s']} s, table and indexes "
        f"{results['load']['table_mb']} MB. Sequential requests, {results['config']['rounds']} rounds.",
        "",
        "| what | p50 ms (median, min-max of rounds) | p95 ms | vs raw SQL over the events (same window) |",
        "| --- | --- | --- | --- |",
    ]
    raw_week = d["raw SQL over the events: GROUP BY local date, 7 days"]["p50"]["median"]
    raw_day = d["raw SQL over the events: GROUP BY local date, today"]["p50"]["median"]
    for name, entry in d.items():
        if not isinstance(entry, dict) or "p50" not in entry:
            continue
        base = raw_day if "today" in name else raw_week
        p50 = entry["p50"]
        lines.append(f"| {name} | {p50['median']} ({p50['min']}-{p50['max']}) | {entry['p95']['median']} | "
                     f"{_ratio(p50['median'], base)} |")
    lines += [
        "",
        "The service reads the daily rollup (`landing_daily_stats`, one row per tenant and local day, kept "
        "exact by the transaction that writes the events; docs/architecture.md): at most 7 rows whatever the "
        "number of events. The raw-SQL baseline is what the dashboard would cost without it: the best "
        "hand-written statement over the events of the window (`count(DISTINCT visitor_hash)` per "
        "`(occurred_at AT TIME ZONE zone)::date`; the planner may scan the whole table when the window is a "
        "large share of it, and the sort may spill with the default `work_mem`, as it would in production). The gateway's "
        "figures include Envoy, the transcoder, the interceptor (key lookup, limiter) and the tenant lookup. "
        f"The rollups of the loaded events were built in {results['load']['rollup_s']} s after the load.",
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the service's 7-day statement:",
        "",
        "```",
        d["explain_week"],
        "```",
        "",
        "and of the raw-SQL baseline:",
        "",
        "```",
        d["explain_naive"],
        "```",
        "",
    ]
    return "\n".join(lines)
