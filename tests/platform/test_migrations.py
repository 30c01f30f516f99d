"""Alembic is the only way the schema changes: head on an empty database matches the models."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from migrations.schema import include_name, metadata
from stack.run import migrate
from tests.support.databases import scratch_database


@pytest.fixture
def empty_database(database_server):
    """A new database's owner-role URL: migrations run as the owner."""
    with scratch_database(database_server, "empty") as urls:
        yield urls.owner


def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from stack.run import ROOT

    return ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))


def test_the_revisions_form_one_line():
    assert len(_script().get_heads()) == 1


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_database):
    migrate(empty_database)
    engine = create_engine(empty_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name}), metadata
        )
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    engine.dispose()
    assert diff == []
    assert version == _script().get_current_head()


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


def test_the_campaign_projection_is_backfilled_from_existing_instances(empty_database):
    from alembic import command
    from alembic.config import Config

    from stack.run import ROOT

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = empty_database
    command.upgrade(config, "0002")
    account, campaign = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(empty_database) as conn:
        conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'a')", (account,))
        for n, (started, bought) in enumerate(
            [("2026-01-01 10:05Z", "19.99"), ("2026-01-01 10:55Z", None), ("2026-01-01 11:00Z", "0.01")]
        ):
            instance = uuid.uuid4()
            conn.execute(
                "INSERT INTO instances (account_id, livemode, id, campaign_id, insider_id, started_at, is_purchase) "
                "VALUES (%s, false, %s, %s, %s, %s, %s)",
                (account, instance, campaign, uuid.uuid4(), started, bought is not None),
            )
            if bought:
                conn.execute(
                    "INSERT INTO orders (account_id, livemode, id, instance_id, purchased_insider_id, total, currency, "
                    "status, cashfunds_used, credits_used, created_at) "
                    "VALUES (%s, false, %s, %s, %s, %s, 'USD', 'completed', 0, 0, now())",
                    (account, uuid.uuid4(), instance, uuid.uuid4(), bought),
                )
    command.upgrade(config, "head")
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute(
            "SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24'), instances, purchases, revenue::text "
            "FROM campaign_hourly_stats ORDER BY hour"
        ).fetchall()
    assert rows == [("10", 2, 1, "19.99"), ("11", 1, 1, "0.01")]
