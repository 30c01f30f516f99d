"""The scheduled data-lifecycle job: `python -m platform_core.maintenance [--once]`.

Each pass creates the month partitions ahead, drops the expired ones and deletes the rows
older than each account's retention, and the audit rows older than AUDIT_RETENTION_DAYS
(default 400; platform_core/lifecycle.py, docs/lifecycle.md). It
needs the owner role (DDL): MIGRATION_DATABASE_URL, else DATABASE_URL. Without `--once`
it repeats every MAINTENANCE_INTERVAL_SECONDS (default 3600) until SIGTERM or SIGINT; a
failed pass is logged and retried at the next interval. An advisory lock lets any number
of these processes run: one pass at a time does the work, the others skip.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import select
import signal
import socket
import sys
import time

import psycopg

from platform_core import lifecycle, logs
from platform_core.config import ConfigError, env_float, env_int, require

log = logging.getLogger("platform_core.maintenance")

# pg_try_advisory_lock key: "partnerlytics lifecycle".
LOCK_KEY = 0x706C_6966


def database_url() -> str:
    """The owner role's URL (DDL), as libpq takes it."""
    url = os.environ.get("MIGRATION_DATABASE_URL") or require("DATABASE_URL")
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def audit_days() -> int:
    """AUDIT_RETENTION_DAYS: how long audit rows are kept (at least a day)."""
    days = env_int("AUDIT_RETENTION_DAYS", lifecycle.DEFAULT_AUDIT_DAYS)
    if days < 1:
        raise ConfigError(f"configuration error: AUDIT_RETENTION_DAYS={days} must be at least 1")
    return days


def run_pass(url: str, now: dt.datetime | None = None) -> lifecycle.RunReport | None:
    """One pass, or None when another process holds the lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            log.info("another maintenance pass is running; skipped")
            return None
        started = time.monotonic()
        report = lifecycle.run_once(conn, now or dt.datetime.now(dt.timezone.utc), audit_days=audit_days())
        log.info("maintenance pass", extra={"fields": {
            "created": report.created, "dropped": report.dropped,
            "deleted": {table: n for table, n in report.deleted.items() if n},
            "seconds": round(time.monotonic() - started, 3),
        }})
        return report  # closing the session releases the lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_core.maintenance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="run one pass and exit (non-zero if it failed)")
    args = parser.parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO").upper())
    url = database_url()
    audit_days()  # a malformed setting stops the job at start, not at its first pass
    interval = env_float("MAINTENANCE_INTERVAL_SECONDS", 3600.0)
    if args.once:
        run_pass(url)
        return 0
    # The signal handler only appends to a list: it runs in the main thread wherever that
    # thread is, and a threading.Event's set() there could deadlock on the Event's own lock
    # when the signal lands while wait() holds it (seen once: a SIGTERM sent right after the
    # first pass's log line left the job running). The wait between passes is a select on
    # a socket that the interpreter writes to on every signal (set_wakeup_fd), so a signal
    # ends it at once; one that comes during a pass lets the pass finish, then ends the loop.
    stopping: list[int] = []
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    while not stopping:
        try:
            run_pass(url)
        except psycopg.Error:
            log.exception("maintenance pass failed; retrying in %s s", interval)
        deadline = time.monotonic() + interval
        while not stopping and (left := deadline - time.monotonic()) > 0:
            select.select([reader], [], [], left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
