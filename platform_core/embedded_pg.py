"""The embedded PostgreSQL (PyPI `pgserver`) used when `DATABASE_URL` is not set."""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import time

import psycopg

log = logging.getLogger("platform_core.embedded_pg")


class EmbeddedPostgres:
    """A PostgreSQL server in a local data folder, listening on a Unix socket only."""

    def __init__(self, data_dir: pathlib.Path, *, stop_on_exit: bool = True) -> None:
        import pgserver  # imported here: services connected to a real server never need it

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop" if stop_on_exit else None)
        self.admin_url = self._server.get_uri("postgres")

    def url(self, database: str) -> str:
        return self._server.get_uri(database)

    def ensure_database(self, database: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def stop_immediately(self, timeout: float = 30.0) -> None:
        """What `pg_ctl stop -m immediate` does: SIGQUIT to the postmaster, so every
        backend ends at once and nothing is flushed cleanly (the next start replays the
        WAL); a crash to its clients. For fault tests. (pgserver's bundled pg_ctl
        crashed with SIGSEGV here once while waiting for the stop: signalled directly.)"""
        pid_file = pathlib.Path(self._server.pgdata) / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while pid_file.exists() or _alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL (pid {pid}) did not stop within {timeout}s")
            time.sleep(0.05)

    def start(self) -> None:
        """Starts the server again after `stop_immediately` (same data folder and socket)."""
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        self._server.cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
