"""Alembic environment: the schema is the metadata of every service's models.

On a Citus coordinator (the database has the `citus` extension) every run that leaves
the database at head ends by distributing the tables that are not yet distributed or
reference tables, in a transaction of its own after the migrations' (platform_core/
distribution.py); the migrations run with `citus.enable_unsafe_triggers` on so that they
can still alter the audit log's triggers (docs/scaling.md, "The audit log on Citus").
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from migrations.schema import REFERENCE_TABLES, include_name, metadata
from platform_core import distribution

config = context.config


def _url() -> str:
    # Migrations run as the owner role (MIGRATION_DATABASE_URL), DATABASE_URL when unset.
    url = config.attributes.get("url") or os.environ.get("MIGRATION_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit(
            "configuration error: MIGRATION_DATABASE_URL (or DATABASE_URL) is not set (needed to run migrations)"
        )
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _at_head(connection) -> bool:
    """Whether the database is at the head revision: the schema distributes only there, as
    earlier revisions rebuild tables in ways Citus refuses on distributed ones."""
    with connection.begin():
        current = set(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    return current == set(context.script.get_heads())


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, compare_type=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        citus = distribution.has_citus(connection)
        connection.commit()
        context.configure(
            connection=connection, target_metadata=metadata, compare_type=True, include_name=include_name
        )
        with context.begin_transaction():
            if citus:
                connection.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
            context.run_migrations()
        if citus and _at_head(connection):
            with connection.begin():
                distribution.distribute(connection, REFERENCE_TABLES)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
