"""Databases of their own, next to the session's, for tests that change the whole schema or
run cross-account jobs."""

from __future__ import annotations

import contextlib
import uuid
from typing import Iterator

import psycopg
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def scratch_database(database_url: str, prefix: str) -> Iterator[str]:
    """An empty database on the session's server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
