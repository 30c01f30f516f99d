"""Exports of every family at scale: the real worker against COPY TO, and its memory curve
(a phase of `make bench`; docs/exports.md, "Throughput"; docs/performance.md, "Exports of
every family").

    python -m bench.family_exports                  # 10,000,000 rows (CSV, JSON Lines, Parquet; XLSX capped)
    python -m bench.family_exports --rows 2000000 --formats csv parquet
    python -m bench.family_exports --quick          # 200,000 rows (XLSX 20,000): checks the pipeline
    python -m bench.family_exports --render-only    # the docs/performance.md section from the last results

One embedded PostgreSQL (or DATABASE_URL's server, in a database `partnerlytics_exports`
dropped and re-created), migrated; one account whose `affiliate_events` table gets ROWS
tracking events (INSERT ... SELECT generate_series, in time order, with the table's keys
and indexes in place, 250 ms apart; 40% with one of 200 tracking codes). Then, for each
format, a real `export_jobs` row of source `affiliate_events` over the whole range, and
a fresh process that runs the real worker on it (services/exports/jobs.py `ExportWorker`:
claim, count, the source's query through a server-side cursor, the writer of
platform_core/export_files.py, the lease heartbeat, the completion and its webhook
event). While it runs this process samples, every SAMPLE_S seconds, the worker process's
RSS and the job's `records_written` (what the worker's heartbeat stores, once a second):
the memory curve. The worker process also samples its own RSS every 10 ms for the peak.

The ceiling: PostgreSQL's `COPY (the source's query, same parameters) TO STDOUT (FORMAT
csv, HEADER)` into a file, in a fresh process, in the same run and on the same rows
(once per row count). XLSX stops at XLSX_ROWS rows (1,048,575: a sheet holds 1,048,576
rows, one of them the header; openpyxl writes about 2,000 rows/s): its job's range is cut
to hold exactly that many rows.

Results: bench/results/family_exports.json (quick: family_exports-quick.json), written
after every format; the section of docs/performance.md between this module's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile
import time
import types
from typing import Any

import psutil

from bench.export_once import RssSampler, _mb
from stack.run import ROOT

DEFAULT_ROWS = 10_000_000
QUICK_ROWS = 200_000
# A sheet holds 1,048,576 rows; the first is the header.
XLSX_ROWS = 1_048_575
QUICK_XLSX_ROWS = 20_000
FORMATS = ("csv", "parquet", "jsonl", "xlsx")
SAMPLE_S = 0.5
STEP_MS = 250  # between two events' occurred_at
CHUNK = 1_000_000  # rows per INSERT ... SELECT
SOURCE = "affiliate_events"
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench.family_exports: begin -->", "<!-- bench.family_exports: end -->"
CURVE_POINTS = 10

_EVENTS = """
INSERT INTO affiliate_events (account_id, livemode, event_id, event_type, occurred_at, tracking_code, session_id,
  page_url, referrer_url, product_id, device, browser, os, country, traffic_source)
SELECT %(a)s, false, md5(g::text)::uuid, (ARRAY['click', 'pageview', 'product_view'])[1 + g %% 3],
       %(lo)s::timestamptz + g * interval '250 milliseconds',
       CASE WHEN g %% 5 < 2 THEN 'C' || (g %% 200) END, 's' || (g / 7),
       'https://shop.example.com/p/' || (g %% 500),
       CASE WHEN g %% 10 < 6 THEN 'https://blog.example.com/review?ref=' || (g %% 97) END,
       CASE WHEN g %% 3 = 2 THEN 'prod_' || (g %% 1000) END,
       (ARRAY['desktop', 'mobile', 'tablet'])[1 + g %% 3],
       (ARRAY['Chrome', 'Mobile Safari', 'Firefox', 'Safari', 'Edge'])[1 + g %% 5],
       (ARRAY['Windows', 'iOS', 'Android', 'Mac OS X', 'Linux'])[1 + g %% 5],
       (ARRAY['US', 'DE', 'GB', 'FR', NULL])[1 + g %% 5],
       (ARRAY['referral', 'search', 'social', 'direct', 'email', 'paid'])[1 + g %% 6]
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def result_file(quick: bool) -> pathlib.Path:
    return RESULTS / f"family_exports{'-quick' if quick else ''}.json"


# --------------------------------------------------------------------------- the data


def load(url: str, account_id, rows: int, lo: dt.datetime) -> dict[str, Any]:
    """ROWS events of one account, event g at lo + g * 250 ms (g = 1..ROWS)."""
    from bench.dataset import connect

    t0 = time.perf_counter()
    with connect(url, work_mem="256MB", synchronous_commit="off") as conn:
        conn.execute("INSERT INTO affiliates (account_id, livemode, id, name) "
                     "SELECT %s, false, 'aff_' || g, 'Affiliate ' || g FROM generate_series(0, 49) g", (account_id,))
        conn.execute("INSERT INTO affiliate_tracking_codes (account_id, livemode, code, affiliate_id) "
                     "SELECT %s, false, 'C' || g, 'aff_' || (g %% 50) FROM generate_series(0, 199) g", (account_id,))
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            conn.execute(_EVENTS, {"a": account_id, "lo": lo, "first": first, "last": last})
            _say(f"  {last:,} events ({time.perf_counter() - t0:.0f} s)")
        conn.execute("VACUUM ANALYZE affiliate_events")
        count = conn.execute("SELECT count(*) FROM affiliate_events WHERE account_id = %s",
                             (account_id,)).fetchone()[0]
        size = conn.execute("SELECT pg_total_relation_size('affiliate_events') + coalesce(sum("
                            "pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                            "WHERE inhparent = 'affiliate_events'::regclass").fetchone()[0]
    return {"events": count, "load_s": round(time.perf_counter() - t0, 1), "table_mb": _mb(int(size))}


def _range(lo: dt.datetime, rows: int) -> tuple[dt.datetime, dt.datetime]:
    """The range holding events 1..rows exactly."""
    step = dt.timedelta(milliseconds=STEP_MS)
    return lo + step // 2, lo + rows * step + step // 2


def queue(url: str, account_id, fmt: str, start: dt.datetime, end: dt.datetime) -> str:
    """An export job as CreateExportJob leaves it (services/exports/jobs.py, create_job)."""
    from bench.dataset import connect

    export_id = "exp_" + secrets.token_hex(10)
    with connect(url) as conn:
        conn.execute("INSERT INTO export_jobs (account_id, livemode, id, source, format, filters, range_start, "
                     "range_end, status, created_at) VALUES (%s, false, %s, %s, %s, '{}', %s, %s, 'queued', now())",
                     (account_id, export_id, SOURCE, fmt, start, end))
    return export_id


# --------------------------------------------------------------------------- the children


async def _worker_child() -> dict[str, Any]:
    """One job through the real worker (the oldest queued one), as `python -m services.exports.worker` runs it."""
    import openpyxl  # noqa: F401 - loaded before the baseline, as in a running worker
    import pyarrow.parquet  # noqa: F401

    from platform_core import db
    from platform_core.config import require
    from services.exports.config import export_settings
    from platform_core.export_queue import file_path
    from services.exports.jobs import ExportWorker
    from services.exports.sources import SOURCES

    url = require("DATABASE_URL")
    engine = db.create_engine(url, pool_size=2)
    try:
        worker = ExportWorker(engine, url, export_settings(), SOURCES)
        job = await worker.claim()
        if job is None:
            raise SystemExit("no export job to claim")
        baseline = psutil.Process().memory_info().rss
        with RssSampler() as rss:
            t0 = time.perf_counter()
            completed = await worker.process(job)
            wall = time.perf_counter() - t0
        if not completed:
            raise SystemExit(f"export {job.id} did not complete")
        size = file_path(export_settings().export_dir, job).stat().st_size
        return {"export_id": job.id, "wall_s": round(wall, 2), "peak_rss_mb": _mb(rss.peak),
                "baseline_rss_mb": _mb(baseline), "file_mb": _mb(size)}
    finally:
        await engine.dispose()


def _copy_child(url: str, account_id: str, start: str, end: str, out: pathlib.Path) -> dict[str, Any]:
    """The source's own query and parameters through COPY ... TO STDOUT into a file."""
    import psycopg

    from platform_core.export_queue import plain_url
    from services.exports.jobs import query_params
    from services.exports.sources import SOURCES

    source = SOURCES[SOURCE]
    job = types.SimpleNamespace(account_id=account_id, livemode=False, range_start=dt.datetime.fromisoformat(start),
                                range_end=dt.datetime.fromisoformat(end), filters={})
    with RssSampler() as rss, psycopg.connect(plain_url(url), options="-c jit=off") as conn:
        t0 = time.perf_counter()
        with open(out, "wb") as handle, conn.cursor().copy(
                f"COPY ({source.query.strip()}) TO STDOUT (FORMAT csv, HEADER)", query_params(source, job)) as copy:
            for chunk in copy:
                handle.write(chunk)
        wall = time.perf_counter() - t0
    lines = 0
    with open(out, "rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    size = out.stat().st_size
    out.unlink()
    return {"wall_s": round(wall, 2), "peak_rss_mb": _mb(rss.peak), "file_mb": _mb(size), "lines": lines}


def _sampled(cmd: list[str], env: dict[str, str], url: str | None, export_id: str | None) -> tuple[dict, list]:
    """Runs a child; every SAMPLE_S its RSS (MB) and, for a job, the job's records_written."""
    from bench.dataset import connect

    samples: list[list[float]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    conn = connect(url) if export_id else None
    try:
        while proc.poll() is None:
            try:
                rss = watched.memory_info().rss
            except psutil.NoSuchProcess:
                break
            written = None
            if conn is not None:
                row = conn.execute("SELECT records_written, status FROM export_jobs WHERE id = %s",
                                   (export_id,)).fetchone()
                written = row[0] if row and row[1] == "processing" else None
            samples.append([round(time.perf_counter() - t0, 2), written, _mb(rss)])
            time.sleep(SAMPLE_S)
        stdout, stderr = proc.communicate()
    finally:
        if conn is not None:
            conn.close()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed: {stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), samples


def curve(samples: list[list[float]], total: int, points: int = CURVE_POINTS) -> list[dict[str, Any]]:
    """RSS when the job's stored progress first reached each tenth of its rows. The last
    point (all `total` rows): the highest RSS from the last stored progress to the end, the
    file's close and the completion included (the heartbeat stores the count once a second,
    so the final count is the completed job's, not a sample's)."""
    out = []
    for i in range(1, points):
        target = total * i // points
        at = next((s for s in samples if s[1] is not None and s[1] >= target), None)
        if at is not None:
            out.append({"percent": 100 * i // points, "records": target, "records_written": at[1],
                        "t_s": at[0], "rss_mb": at[2]})
    last = max((i for i, s in enumerate(samples) if s[1] is not None), default=None)
    if last is not None:
        at = max(samples[last:], key=lambda s: s[2])
        out.append({"percent": 100, "records": total, "records_written": total, "t_s": at[0], "rss_mb": at[2]})
    return out


# --------------------------------------------------------------------------- the run


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench.dataset import create_account, open_database
    from stack.run import migrate

    data_dir = pathlib.Path(os.environ.get("DATA_DIR") or ROOT / ".data" / "bench-family-exports").resolve()
    results: dict[str, Any] = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "rows": args.rows, "xlsx_rows": args.xlsx_rows, "note": args.note, "quick": args.quick,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "formats": {}, "copy": {}}
    out = args.results or result_file(args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir, fresh=True, name="partnerlytics_exports")
    try:
        migrate(db.url)
        loop = asyncio.new_event_loop()
        account_id, _key = create_account(loop, db.url, "exports at scale", with_key=False)
        loop.close()
        lo = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)).replace(microsecond=0)
        _say(f"loading {args.rows:,} affiliate events")
        results["data"] = load(db.url, account_id, args.rows, lo)
        _say(f"loaded: {results['data']}")
        export_dir = data_dir / "exports"
        env = {**os.environ, "DATABASE_URL": db.url, "EXPORTS_DIR": str(export_dir), "LOG_LEVEL": "WARNING",
               "EXPORTS_MAX_RECORDS": str(max(args.rows, 10_000_000))}
        for fmt in args.formats:
            rows = min(args.rows, args.xlsx_rows) if fmt == "xlsx" else args.rows
            start, end = _range(lo, rows)
            if str(rows) not in results["copy"]:
                with tempfile.TemporaryDirectory(prefix="bench-copy-", dir=data_dir) as tmp:
                    figures, samples = _sampled(
                        [sys.executable, "-m", "bench.family_exports", "--copy-child", db.url, str(account_id),
                         start.isoformat(), end.isoformat(), str(pathlib.Path(tmp) / "out.csv")], env, None, None)
                if figures["lines"] != rows + 1:
                    raise RuntimeError(f"COPY wrote {figures['lines']} lines for {rows} rows")
                figures["rows_per_s"] = round(rows / figures["wall_s"])
                results["copy"][str(rows)] = figures
                _say(f"COPY {rows:,} rows: {figures['rows_per_s']:,} rows/s, {figures['wall_s']} s")
            export_id = queue(db.url, account_id, fmt, start, end)
            load_before = os.getloadavg()[0]
            figures, samples = _sampled([sys.executable, "-m", "bench.family_exports", "--worker-child"], env,
                                        db.url, export_id)
            from bench.dataset import connect

            with connect(db.url) as conn:
                status, written, total, started, completed = conn.execute(
                    "SELECT status, records_written, records_total, started_at, completed_at FROM export_jobs "
                    "WHERE id = %s", (export_id,)).fetchone()
            if status != "completed" or written != rows or total != rows:
                raise RuntimeError(f"{fmt}: {status}, {written} of {total} records, expected {rows}")
            (export_dir / str(account_id) / f"{export_id}.{fmt}").unlink()
            ceiling = results["copy"][str(rows)]
            results["formats"][fmt] = {
                **figures, "rows": rows, "rows_per_s": round(rows / figures["wall_s"]),
                "copy_rows_per_s": ceiling["rows_per_s"],
                "ratio_to_copy": round(rows / figures["wall_s"] / ceiling["rows_per_s"], 3),
                "job_s": round((completed - started).total_seconds(), 1),
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "curve": curve(samples, rows), "samples": samples}
            _say(f"{fmt} {rows:,} rows: {results['formats'][fmt]['rows_per_s']:,} rows/s "
                 f"({results['formats'][fmt]['ratio_to_copy']:.2f}x COPY), peak {figures['peak_rss_mb']} MB")
            results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
            out.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        db.stop()
    return results


# --------------------------------------------------------------------------- the report


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n:,}"


def plot(results: dict[str, Any], img: pathlib.Path) -> str | None:
    """The memory curves (RSS against records written, one line per format) as a PNG."""
    formats = results.get("formats", {})
    if not formats:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for fmt, r in formats.items():
        points = [(s[1], s[2]) for s in r["samples"] if s[1] is not None]
        if points:
            ax.plot([p[0] / 1e6 for p in points], [p[1] for p in points], label=f"{fmt} ({r['rows']:,} rows)")
    ax.set_xlabel("records written (millions)")
    ax.set_ylabel("worker RSS (MB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Export worker memory against records written ({_short(results['rows'])} rows)", fontsize=10)
    fig.tight_layout()
    name = "exports-memory.png"
    fig.savefig(img / name, dpi=110)
    plt.close(fig)
    return name


def render(results: dict[str, Any], img_rel: str | None = None) -> str:
    """The section of docs/performance.md, between this module's markers."""
    formats = results.get("formats", {})
    rows = results["rows"]
    lines = [BEGIN, f"## Exports of every family: {_short(rows)} rows", ""]
    w = lines.append
    data = results.get("data", {})
    w(f"`python -m bench.family_exports` ({results['at']}{'; **quick: not reference figures**' if results.get('quick') else ''}): "
      f"{data.get('events', rows):,} affiliate tracking events of one account in `affiliate_events` "
      f"(loaded by INSERT ... SELECT generate_series in {data.get('load_s', '?')} s, {data.get('table_mb', '?')} MB "
      "with its indexes), one real `export_jobs` row per format over the whole range, built by the real worker "
      "(`ExportWorker` of services/exports/jobs.py: claim, count, the source's query through a server-side cursor, "
      "the platform_core/export_files.py writer, heartbeat, completion) in a fresh process. Ceiling: "
      "`COPY (the source's query, same parameters) TO STDOUT (FORMAT csv)` of the same rows into a file, in the "
      f"same run. XLSX stops at {results.get('xlsx_rows', XLSX_ROWS):,} rows (a sheet's 1,048,576 rows, one "
      f"the header). Machine: {results.get('cpus')} cores shared with other work; load average "
      f"{results.get('loadavg_start')} at the start, {results.get('loadavg_end')} at the end.")
    w("")
    w("| format | rows | rows/s | time | COPY rows/s (same rows) | ratio to COPY | peak RSS | file |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fmt, r in formats.items():
        w(f"| {fmt} | {r['rows']:,} | {r['rows_per_s']:,} | {r['wall_s']:,.0f} s | {r['copy_rows_per_s']:,} | "
          f"**{r['ratio_to_copy']:.2f}x** | {r['peak_rss_mb']} MB | {r['file_mb']:,} MB |")
    for n, c in results.get("copy", {}).items():
        w(f"| COPY ... TO STDOUT (ceiling) | {int(n):,} | {c['rows_per_s']:,} | {c['wall_s']:,.0f} s | - | 1.00x | "
          f"{c['peak_rss_mb']} MB | {c['file_mb']:,} MB |")
    w("")
    if formats:
        names = list(formats)
        w("Memory curve: the worker process's RSS (MB) when the job's stored progress (`records_written`, "
          f"written by the heartbeat once a second; sampled every {SAMPLE_S} s) first reached each tenth of its "
          "rows; the 100% line is the highest RSS from the last stored progress to the end (the file's close and "
          "the completion included).")
        w("")
        w("| progress | " + " | ".join(f"{f} ({formats[f]['rows']:,} rows)" for f in names) + " |")
        w("| ---: | " + " | ".join("---:" for _ in names) + " |")
        curves = {f: {p["percent"]: p for p in curve(formats[f]["samples"], formats[f]["rows"])} for f in names}
        for i in range(1, CURVE_POINTS + 1):
            percent = 100 * i // CURVE_POINTS
            cells = []
            for f in names:
                at = curves[f].get(percent)
                if at is None:
                    cells.append("-")
                elif at["records_written"] is None:
                    cells.append(f"{at['rss_mb']} MB")
                else:
                    cells.append(f"{at['rss_mb']} MB at {at['records_written']:,}")
            w(f"| {percent}% | " + " | ".join(cells) + " |")
        w("| before the first row | " + " | ".join(f"{formats[f]['baseline_rss_mb']} MB" for f in names) + " |")
        w("")
        if img_rel:
            w(f"![Export worker memory against records written]({img_rel})")
            w("")
    if results.get("note"):
        w(f"Conditions of the run: {results['note']}")
        w("")
    w(END)
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: pathlib.Path) -> None:
    """Puts the section in `out` (in place of the last one, or at the end), the rest untouched."""
    name = plot(results, out.parent / "img")
    section = render(results, f"img/{name}" if name else None)
    text = out.read_text() if out.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    out.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker-child"]:
        print(json.dumps(asyncio.run(_worker_child())))
        return 0
    if argv[:1] == ["--copy-child"]:
        print(json.dumps(_copy_child(*argv[1:5], pathlib.Path(argv[5]))))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.family_exports", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=None, help=f"events to export (default {DEFAULT_ROWS:,}; quick "
                                                          f"{QUICK_ROWS:,})")
    p.add_argument("--xlsx-rows", type=int, default=None,
                   help=f"XLSX's rows (default {XLSX_ROWS:,}, a sheet's limit; quick {QUICK_XLSX_ROWS:,})")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    p.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows: checks the pipeline")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report to put the section in (default docs/performance.md; quick: "
                        "bench/results/performance-quick.md)")
    p.add_argument("--results", type=pathlib.Path, default=None,
                   help="results file (default bench/results/family_exports.json; quick: family_exports-quick.json)")
    p.add_argument("--render-only", action="store_true", help="measure nothing: render the last results")
    p.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""), help="conditions of the run")
    args = p.parse_args(argv)
    args.rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.xlsx_rows = args.xlsx_rows or (QUICK_XLSX_ROWS if args.quick else XLSX_ROWS)
    out = args.out or (RESULTS / "performance-quick.md" if args.quick else REPORT)
    if args.render_only:
        saved = args.results or result_file(args.quick)
        results = json.loads(saved.read_text())
        if args.note:  # kept with the figures, so that the next render states it too
            results["note"] = args.note
            saved.write_text(json.dumps(results, indent=1) + "\n")
    else:
        results = measure(args)
    write_report(results, out)
    _say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
