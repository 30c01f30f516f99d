"""The benchmark's own machinery, without timings: the accounts clone keeps every row and
key of the probe, and the one-run report renders every family with its plots."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib

import psycopg
import pytest

from bench import accounts, dataset, family_exports, lean
from bench import all as bench_all
from bench.ceiling import CEILING_PATH
from stack.run import migrate, seed_demo
from tests.conftest import whole_stack
from tests.support.databases import scratch_database

DATA = pathlib.Path(__file__).parent.parent / "data" / "bench"


@pytest.fixture
def scratch_url(database_server):
    """A migrated database of its own, as the superuser as the benchmarks run: the clone
    drops and rebuilds keys and indexes, and checkpoints."""
    with scratch_database(database_server, "bench") as urls:
        migrate(urls.owner)
        yield urls.superuser


def _per_account(conn: psycopg.Connection, table: str) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT count(*) FROM {table} GROUP BY account_id ORDER BY 1")]


def _keys(conn: psycopg.Connection) -> list[tuple]:
    """Every constraint and index of the tables (a partition's follow its parent's, under
    names PostgreSQL makes up when they are rebuilt; each partition's count is compared)."""
    partition = "EXISTS (SELECT FROM pg_class p WHERE p.oid = {} AND p.relispartition)"
    partitions = conn.execute(
        "SELECT c.relname, (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid), "
        "(SELECT count(*) FROM pg_constraint k WHERE k.conrelid = c.oid) FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relispartition AND c.relkind = 'r' ORDER BY 1").fetchall()
    return conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE connamespace = 'public'::regnamespace AND NOT {partition.format('conrelid')} ORDER BY 1, 2"
    ).fetchall() + conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        f"AND NOT {partition.format('(schemaname || chr(46) || tablename)::regclass')} ORDER BY 1, 2"
    ).fetchall() + partitions


def test_clone_gives_every_account_the_probes_rows_and_restores_every_key(scratch_url):
    loop = asyncio.new_event_loop()
    try:
        anchor = dt.datetime.now(dt.timezone.utc)
        size = accounts.Size(instances=30, redemptions=20, affiliate_events=40, landing_events=40)
        probe, _ = accounts.load_probe(loop, scratch_url, size, anchor)
    finally:
        loop.close()
    with dataset.connect(scratch_url) as conn:
        keys_before = _keys(conn)
    cloned = accounts.clone(scratch_url, probe.account_id, 3, lambda _m: None)
    with dataset.connect(scratch_url) as conn:
        for table in ("instances", "events", "orders", "campaign_hourly_stats", "voucher_redemptions",
                      "affiliate_events", "affiliate_daily_counts"):
            counts = _per_account(conn, table)
            assert len(counts) == 4 and len(set(counts)) == 1, (table, counts)
        landing = conn.execute(
            "SELECT t.account_id, count(*) FROM landing_events e JOIN landing_tenants t ON t.id = e.tenant_id "
            "GROUP BY 1").fetchall()
        assert len(landing) == 4 and len({n for _a, n in landing}) == 1
        assert _keys(conn) == keys_before
        assert conn.execute("SELECT account_id FROM landing_tenants WHERE id = %s",
                            (cloned["probe_tenant"],)).fetchone()[0] == cloned["accounts"][0]


def test_differences_ignore_only_what_differs_by_design():
    one = {"data": {"total": 3, "items": [{"id": "a", "n": 1}]}, "meta": {"requestId": "x", "timestamp": "t1"},
           "tenant_id": 1}
    same = {"data": {"total": 3, "items": [{"id": "a", "n": 1}]}, "meta": {"requestId": "y", "timestamp": "t2"},
            "tenant_id": 2}
    other = {"data": {"total": 4, "items": [{"id": "a", "n": 2}]}, "meta": {}, "tenant_id": 1}
    assert accounts.differences(one, same) == []
    assert accounts.differences(one, other) == [".data.items[0].n", ".data.total"]


def test_demote_moves_headings_down_but_not_inside_code():
    assert bench_all.demote("# A\ntext\n```\n# not a heading\n```\n## B") == \
        "## A\ntext\n```\n# not a heading\n```\n### B"


def test_report_of_one_run_has_every_family_ratios_and_plots(tmp_path):
    results = {name: json.loads((DATA / f"{name}.json").read_text()) for name in bench_all.FAMILIES}
    run = {"command": "python -m bench.all --quick", "scale": 200_000, "quick": True, "note": "a test",
           "started_at": "2026-11-21T00:00:00+00:00", "duration_s": 60, "loadavg_start": [1, 1, 1],
           "loadavg_end": [1, 1, 1], "phases": {}}
    text = bench_all.render(run, results, tmp_path / "img", tmp_path)
    for heading in ("## Instance and voucher analytics", "## Affiliate Analytics", "## Campaign Analytics",
                    "## Landing Analytics", "## Per-account cost against the number of accounts",
                    "## Exports of every family", "### What one read costs the service (bench.request_cost)",
                    "### The limiter's check against the hits in its window (bench.limiter)"):
        assert heading in text
    # The targets that bench.request_cost and bench.limiter measure get their verdicts from this run.
    for target in ("service CPU per instance-list request <= 1.0 ms, one request at a time",
                   "service CPU per 20-instance details <= 2 ms, one request at a time",
                   "database round trips per read: 1 (+1 with the PostgreSQL store)",
                   "PostgreSQL limiter check, 6,000 hits vs 1 <= 1.5x", "Redis limiter check, 6,000 hits vs 1 <= 1.5x"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {target} |"))
        assert "**PASS**" in row or "**FAIL**" in row, row
    # The README's table comes from the same results, between its markers.
    section = bench_all.readme_section(run, results)
    assert section.startswith(bench_all.README_BEGIN) and section.endswith(bench_all.README_END)
    assert "| service CPU per instance-list request <= 1.0 ms, one request at a time | 2.14x | FAIL |" in section
    readme = bench_all.README.read_text()
    replaced = bench_all.with_readme_section(readme, section)
    assert section in replaced and replaced.count(bench_all.README_BEGIN) == 1
    assert replaced.split(bench_all.README_BEGIN)[0] == readme.split(bench_all.README_BEGIN)[0]
    for png in ("latency-vs-size.png", "ingestion-vs-ceiling.png", "gateway-overhead.png", "exports-memory.png"):
        assert (tmp_path / "img" / png).read_bytes()[:4] == b"\x89PNG"
        assert f"](img/{png})" in text
    rows = bench_all.summary_rows(results)
    assert {r["family"] for r in rows} == {"instance", "voucher", "affiliate", "campaign", "landing", "accounts"}
    assert all(r["ratio"] == r["measured"] / r["ceiling"] for r in rows)


def test_export_memory_curve_takes_the_rss_where_the_stored_progress_first_reaches_each_tenth():
    # [seconds, records_written (None: not processing), RSS MB]
    samples = [[0.5, None, 100.0], [1.0, 0, 120.0], [1.5, 30, 130.0], [2.0, 55, 131.0], [2.5, 100, 150.0],
               [3.0, 100, 170.0], [3.5, None, 90.0]]
    points = {p["percent"]: (p["records_written"], p["rss_mb"]) for p in family_exports.curve(samples, 100)}
    assert points == {10: (30, 130.0), 20: (30, 130.0), 30: (30, 130.0), 40: (55, 131.0), 50: (55, 131.0),
                      60: (100, 150.0), 70: (100, 150.0), 80: (100, 150.0), 90: (100, 150.0), 100: (100, 170.0)}


def test_the_exports_section_replaces_only_its_own_lines(tmp_path):
    results = json.loads((DATA / "exports.json").read_text())
    report = tmp_path / "performance.md"
    before, after = "# Performance\n\nsome text\n\n", "\n\n## Citus\n\nmore text\n"
    report.write_text(before + family_exports.BEGIN + "\nan old section\n" + family_exports.END + after)
    family_exports.write_report(results, report)
    text = report.read_text()
    assert text.startswith(before + family_exports.BEGIN + "\n## Exports of every family: ")
    assert text.endswith(family_exports.END + after) and "an old section" not in text
    report.write_text(before)
    family_exports.write_report(results, report)
    assert report.read_text().startswith(before + family_exports.BEGIN)


@pytest.fixture
def demo_stack(database_server, tmp_path):
    """A database of its own with the demo data, and the whole stack on it as `make run`
    runs it (the PostgreSQL rate-limit store), with the bench's raised limits: the wrk
    runs below send more tracked events from one source than the default 20 a minute,
    and the limiter still runs on each of them."""
    with scratch_database(database_server, "lean") as urls:
        migrate(urls.owner)
        seed_demo(urls.owner)
        with whole_stack(urls, tmp_path / "stack", RATE_LIMIT_STORE="postgres", RATE_LIMITS=lean.RATE_LIMITS) as stack:
            yield stack, urls


def test_lean_ceilings_answer_what_the_gateway_answers(demo_stack, tmp_path):
    stack, urls = demo_stack
    path = lean.list_path(dt.datetime.now(dt.timezone.utc).date())
    _status, _headers, answer = lean.fetch(stack.gateway_url + path)
    assert answer["data"] and answer["pagination"]["total"] > len(answer["data"])
    bare_url, floor_url = lean.start_ceilings(stack, urls.app, answer, tmp_path / "lean")
    check = lean.check_same_answer(stack.gateway_url, bare_url, path)
    assert check["equal"] and check["items"] == len(answer["data"])
    assert "x-ratelimit-remaining" in check["headers"]
    # Every read of the issue: the same JSON (a difference raises) with rows in it, and the
    # same headers.
    reads = lean.read_paths(dt.datetime.now(dt.timezone.utc).date())
    assert set(reads) == {"list", "campaign analytics", "affiliate stats", "voucher trends", "landing dashboard"}
    for name, read in reads.items():
        check = lean.check_same_answer(stack.gateway_url, bare_url, read)
        assert check["equal"] and (check["items"] > 0 or name == "affiliate stats"), name
        assert {"x-request-id", "x-ratelimit-remaining"} <= set(check["headers"]), name
    assert lean.fetch(stack.gateway_url + reads["affiliate stats"])[2]["data"]["stats"]["total_clicks"] > 0
    # The floor answers the list through the real gateway configuration with the same body
    # (but meta), and acknowledges a tracked event; Envoy's direct response answers too.
    _s, _h, floor = lean.fetch(floor_url + path)
    assert lean.differences(answer, floor) == []
    wrk = lean.ensure_wrk()
    for base, method, p, body in ((floor_url, "POST", lean.TRACK_PATH, lean.track_body()),
                                  (floor_url, "GET", CEILING_PATH, None), (bare_url, "GET", path, None),
                                  (stack.gateway_url, "POST", lean.TRACK_PATH, lean.track_body())):
        result = lean.run_wrk(wrk, base, p, method, body, 1, 1)
        assert result["requests"] > 0 and result["non2xx"] == 0 and result["errors"] == 0, (p, result)
    # The CPU of the answering processes over a wrk run, per answer: the instance service's
    # replicas and the gateway's Envoy, found by their names in the stack.
    service, envoy = lean.pids(stack, "instance"), lean.pids(stack, "envoy")
    assert len(service) == 1 and len(envoy) == 1 and service != envoy
    measured = lean.run_measured(wrk, stack.gateway_url, path, "GET", None, 2, 1, service, envoy)
    assert measured["non2xx"] == 0 and measured["cpu_us"] > 0 and measured["envoy_cpu_us"] > 0, measured
    alone = lean.run_measured(wrk, floor_url, CEILING_PATH, "GET", None, 1, 1, [], envoy)
    assert alone["cpu_us"] is None


def test_lean_differences_see_every_field_but_metas_request_id_and_instant():
    one = {"data": [{"timestamp": "t1", "id": "a"}], "meta": {"requestId": "x", "timestamp": "m1"}}
    assert lean.differences(one, {"data": [{"timestamp": "t1", "id": "a"}],
                                  "meta": {"requestId": "y", "timestamp": "m2"}}) == []
    assert lean.differences({"generated_at": "g1", "n": 1}, {"generated_at": "g2", "n": 1}) == []
    assert lean.differences({"data": {"generated_at": "g1"}}, {"data": {"generated_at": "g2"}}) == [
        ".data.generated_at"]
    assert lean.differences(one, {"data": [{"timestamp": "t2", "id": "a"}],
                                  "meta": {"requestId": "x", "timestamp": "m1"}}) == [".data[0].timestamp"]
    assert lean.differences({"n": 1}, {"n": 1.0}) == [".n"]
    assert lean.differences({"n": None}, {}) == [".n"]
    assert lean.differences({"a": [1, 2]}, {"a": [1]}) == [".a"]


def test_cpu_under_load_targets_take_the_median_of_the_rounds_at_8_connections():
    from bench.targets import LEAN_DETAILS, target_rows

    def rounds(*cpu):
        return [{"cpu_us": c, "envoy_cpu_us": 500.0, "req_per_s": 100.0, "p50_ms": 1.0} for c in cpu]

    listing = "list: gateway, PostgreSQL limiter (make run)"
    lean_results = {"wrk": {listing: {"1": rounds(1400, 1500, 1300), "8": rounds(900, 1100, 950)},
                            "list: bare Starlette + asyncpg": {"1": rounds(600), "8": rounds(450, 500, 550)},
                            LEAN_DETAILS: {"1": rounds(3000), "8": rounds(2100, 2500, 2300)}}}
    rows = {r["target"]: r for r in target_rows(lean_results, None, None)}
    one = rows["service CPU per instance-list request <= 1.0 ms, under wrk at 8 connections"]
    assert one["verdict"] == "PASS" and one["measured"]["ratio"] == 0.95
    assert (one["measured"]["min"], one["measured"]["max"]) == (0.9, 1.1)
    assert "at 1 connection 1,400 us" in one["note"] and "bare server's list in the same run 500 us" in one["note"]
    details = rows["service CPU per 20-instance details <= 2 ms, under wrk at 8 connections"]
    assert details["verdict"] == "FAIL" and details["measured"]["ratio"] == 2300 / 2000
    # Without CPU figures (an older run) the rows say so instead of a verdict.
    rows = {r["target"]: r for r in target_rows({"wrk": {listing: {"8": [{"req_per_s": 1.0}]}}}, None, None)}
    assert rows["service CPU per instance-list request <= 1.0 ms, under wrk at 8 connections"]["verdict"] \
        == "not measured"
