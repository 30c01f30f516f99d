"""What a committed one-row write costs the request that waits for it: `python -m bench.commit_wait`.

The PostgreSQL rate-limit store upserts its counter on every request, in autocommit, so
each request waits for that commit. An embedded PostgreSQL of its own (the one `make run`
uses, with its defaults: `fsync` and `synchronous_commit` on), one psycopg connection:
a one-row `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` into an ordinary (logged) table
with `synchronous_commit` on and off, the same into an UNLOGGED table (what the limiter's
`rate_limit_windows` is: a transaction that writes only unlogged rows writes no WAL, so its
commit has nothing to flush), and a primary-key SELECT for reference, `--repeats` of each per round, interleaved
over `--rounds` rounds; wall time per statement, client included (docs/performance.md,
"Round trips counted without the workers' polls").
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import psycopg

from platform_core.embedded_pg import EmbeddedPostgres

UPSERT = "INSERT INTO {t} VALUES (%s, 1) ON CONFLICT (key) DO UPDATE SET n = {t}.n + 1 RETURNING n"
SELECT = "SELECT n FROM commit_wait WHERE key = %s"


def measure(repeats: int, rounds: int) -> dict[str, list[float]]:
    pg = EmbeddedPostgres(pathlib.Path(tempfile.mkdtemp(prefix="commit-wait-")))
    try:
        url = pg.ensure_database("commit_wait")
        times: dict[str, list[float]] = {"upsert, synchronous_commit on": [], "upsert, synchronous_commit off": [],
                                         "upsert, unlogged table, on": [], "primary-key select": []}
        with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS commit_wait (key text PRIMARY KEY, n bigint NOT NULL)")
            conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS commit_wait_unlogged "
                         "(key text PRIMARY KEY, n bigint NOT NULL)")
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in ("fsync", "synchronous_commit")}
            print(f"fsync {settings['fsync']}, synchronous_commit {settings['synchronous_commit']} (server defaults)")
            for _ in range(rounds):
                for series, out in times.items():
                    if series.startswith("upsert"):
                        conn.execute(f"SET synchronous_commit = {series.rsplit(' ', 1)[1]}")
                    table = "commit_wait_unlogged" if "unlogged" in series else "commit_wait"
                    sql = UPSERT.format(t=table) if series.startswith("upsert") else SELECT
                    for _ in range(repeats):
                        started = time.perf_counter()
                        conn.execute(sql, ("k",)).fetchall()
                        out.append(time.perf_counter() - started)
        return times
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="statements per series and round (200)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    args = parser.parse_args(argv)
    for series, values in measure(args.repeats, args.rounds).items():
        values.sort()
        print(f"{series:32s} p50 {statistics.median(values) * 1e3:7.3f} ms   "
              f"p90 {values[int(len(values) * 0.9)] * 1e3:7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
