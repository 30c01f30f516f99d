"""Databases of their own, next to the session's, for tests that change the whole schema or
run cross-account jobs. On a Citus coordinator (`make test-citus`) each is made on every
node of the cluster, with the extension, so migrations distribute it."""

from __future__ import annotations

import contextlib
import uuid
from typing import Iterator

import psycopg
from sqlalchemy.engine import make_url

from platform_core import citus_cluster
from platform_core.roles import DatabaseUrls, prepare_database

# libpq options under which a statement Citus would run on several shards fails (a no-op
# placeholder on plain PostgreSQL): the maintenance and erasure tests connect with it, as
# `make test-citus` sets it for the app role (platform_core.citus_cluster.refuse_multi_shard).
SINGLE_SHARD = f"-c {citus_cluster.MULTI_SHARD_LEVEL}=error"


@contextlib.contextmanager
def single_shard(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The same for a block of an autocommit connection's statements (the maintenance pass)."""
    conn.execute(f"SET {citus_cluster.MULTI_SHARD_LEVEL} = 'error'")
    try:
        yield conn
    finally:
        conn.execute(f"RESET {citus_cluster.MULTI_SHARD_LEVEL}")


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[DatabaseUrls]:
    """An empty database with both roles (platform_core/roles.py) on the session's server,
    dropped afterwards. `server_url` is a superuser's (the `database_server` fixture)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    citus = citus_cluster.worker_addresses(admin) is not None
    urls = citus_cluster.create_cluster_database(admin, name) if citus else prepare_database(server_url, name)
    try:
        yield urls
    finally:
        if citus:
            citus_cluster.drop_cluster_database(admin, name)
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
