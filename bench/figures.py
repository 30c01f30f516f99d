"""The figures of the whole benchmark's report (bench/all.py): each family's measured
figure against its ceiling, the size series, the overheads, the noise, and the plots."""

from __future__ import annotations

import math
import pathlib
import statistics
from typing import Any

from bench import affiliate
from bench.measure import spread
from bench.report import flatness_rows, ingest_summary, latency_rows


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
