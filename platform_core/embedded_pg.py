"""The embedded PostgreSQL (PyPI `pgserver`) used when `DATABASE_URL` is not set."""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import subprocess
import time

import psycopg

log = logging.getLogger("platform_core.embedded_pg")


# Connection slots of an embedded server (see `_ensure_connection_slots`).
MAX_CONNECTIONS = 400


class EmbeddedPostgres:
    """A PostgreSQL server in a local data folder, listening on a Unix socket only."""

    def __init__(self, data_dir: pathlib.Path, *, stop_on_exit: bool = True) -> None:
        import pgserver  # imported here: services connected to a real server never need it

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop" if stop_on_exit else None)
        self.admin_url = self._server.get_uri("postgres")
        self._restarted: subprocess.Popen | None = None
        self._socket_dir = ""
        self._ensure_connection_slots()

    def _ensure_connection_slots(self) -> None:
        """PostgreSQL's default of 100 connections is less than one stack can hold: six
        services, each with its read, write and engine pools, the workers and the
        maintenance job, twice with SERVICE_REPLICAS=2, and the tests' own stacks beside.
        Raised once per data folder (ALTER SYSTEM, kept in it), with a restart."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            current = int(conn.execute("SHOW max_connections").fetchone()[0])
            if current >= MAX_CONNECTIONS:
                return
            conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        self.stop_immediately()
        self.start()

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
        WAL); a crash to its clients. For fault tests. pgserver's bundled `pg_ctl` died
        with SIGSEGV here now and then (stopping and starting), so it is not used."""
        pid_file = pathlib.Path(self._server.pgdata) / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid, self._socket_dir = int(lines[0]), lines[4]  # postmaster.pid: pid, ..., socket folder
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while pid_file.exists() or _alive(pid):
            if self._restarted is not None:
                self._restarted.poll()  # a postmaster `start` ran is our child: reap it
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL (pid {pid}) did not stop within {timeout}s")
            time.sleep(0.05)

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server again after `stop_immediately` (same data folder and socket,
        crash recovery first), as pgserver would but running `postgres` itself. A start
        that fails (e.g. backends of the stopped server still hold its shared memory for
        a moment) is tried again until `timeout`."""
        from pgserver._commands import POSTGRES_BIN_PATH

        pgdata = pathlib.Path(self._server.pgdata)
        argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-h", "", "-k", self._socket_dir]
        deadline = time.monotonic() + timeout
        while True:
            if self._restarted is None or self._restarted.poll() is not None:
                with open(pgdata / "log", "ab") as log:
                    self._restarted = subprocess.Popen(argv, user=self._server.system_user, stdout=log,
                                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    tail = (pgdata / "log").read_text(errors="replace")[-2000:]
                    raise TimeoutError(f"PostgreSQL did not start again within {timeout}s:\n{tail}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._restarted is not None:  # started by `start`: pgserver does not know it
            self._restarted.send_signal(signal.SIGINT)  # a fast shutdown
            self._restarted.wait(timeout=60)
            self._restarted = None
        self._server.cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
