"""Alembic is the only way the schema changes: head on an empty database matches the models."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from migrations.schema import metadata
from stack.run import migrate


@pytest.fixture
def empty_database(database_url):
    name = f"empty_{uuid.uuid4().hex[:10]}"
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_database):
    migrate(empty_database)
    engine = create_engine(empty_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    engine.dispose()
    assert diff == []
    assert version == "a001"


def test_downgrade_to_base_removes_every_table(empty_database):
    from alembic import command
    from alembic.config import Config

    from stack.run import ROOT

    migrate(empty_database)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = empty_database
    command.downgrade(config, "base")
    with psycopg.connect(empty_database) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ).fetchall()
    assert tables == []


def test_the_hourly_counts_key_covers_n(empty_database):
    migrate(empty_database)
    with psycopg.connect(empty_database) as conn:
        definition = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_instance_hourly_counts'"
        ).fetchone()[0]
    assert definition == "PRIMARY KEY (account_id, livemode, hour, is_purchase) INCLUDE (n)"
