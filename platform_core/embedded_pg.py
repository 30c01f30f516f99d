"""The embedded PostgreSQL (PyPI `pgserver`) used when `DATABASE_URL` is not set."""

from __future__ import annotations

import logging
import pathlib

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

    def stop_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: every backend ends at once, nothing is flushed
        cleanly (recovery replays the WAL at the next start); a crash to its clients.
        For fault tests."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        """Starts the server again after `stop_immediately` (same data folder and socket)."""
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        self._server.cleanup()
