"""Databases of their own, next to the session's, for tests that change the whole schema or
run cross-account jobs."""

from __future__ import annotations

import contextlib
import uuid
from typing import Iterator

import psycopg
from sqlalchemy.engine import make_url

from platform_core.roles import DatabaseUrls, prepare_database


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[DatabaseUrls]:
    """An empty database with both roles (platform_core/roles.py) on the session's server,
    dropped afterwards. `server_url` is a superuser's (the `database_server` fixture)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    urls = prepare_database(server_url, name)
    try:
        yield urls
    finally:
        admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
