"""Raw event tables partitioned by month, per-account retention, the account in every landing key.

* `events`, `affiliate_events`, `affiliate_conversions`, `voucher_validations`,
  `voucher_redemptions` and `landing_events` become `PARTITION BY RANGE` of their event
  time, with a DEFAULT partition and one partition per month from 400 days back (the
  default raw retention) to three months ahead; older rows land in DEFAULT. A
  partitioned table's unique keys must hold the partition column, so each primary key
  gains the event time after the client's id (docs/lifecycle.md, "Idempotency").
* `account_retention`: how long an account keeps raw and pre-aggregated rows.
* `landing_events`, `landing_daily_visitors`, `landing_daily_stats` carry `account_id`
  first in their keys (filled from their tenant), so every distributed table of
  docs/scaling.md is keyed by the account.

The tables are rebuilt and copied (an exclusive lock for the copy's duration).

Revision ID: p001
Revises: l001
Create Date: 2026-11-21 11:40:00
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

from platform_core import lifecycle

revision = "p001"
down_revision = "l001"
branch_labels = None
depends_on = None

TENANTED = ("account_id", "livemode")


class Rebuild(NamedTuple):
    table: str
    old_key: tuple[str, ...]
    new_key: tuple[str, ...]
    foreign_keys: tuple[tuple[str, str], ...]  # (name, definition)
    indexes: tuple[tuple[str, str], ...]  # (name, definition after ON table)
    identity: str | None = None


def _to_accounts(table: str) -> tuple[str, str]:
    return f"fk_{table}_account_id_accounts", "FOREIGN KEY (account_id) REFERENCES accounts (id)"


REBUILDS = (
    Rebuild(
        "events", (*TENANTED, "id"), (*TENANTED, "id", "created_at"),
        (_to_accounts("events"),
         ("fk_events_instance", "FOREIGN KEY (account_id, livemode, instance_id) "
                                "REFERENCES instances (account_id, livemode, id)")),
        (("ix_events_instance", "(account_id, livemode, instance_id, created_at, id)"),),
    ),
    Rebuild(
        "affiliate_events", (*TENANTED, "event_id"), (*TENANTED, "event_id", "occurred_at"),
        (_to_accounts("affiliate_events"),),
        (("ix_affiliate_events_feed", "(account_id, livemode, occurred_at DESC, id DESC)"),
         ("ix_affiliate_events_type_feed", "(account_id, livemode, event_type, occurred_at DESC, id DESC)")),
        identity="id",
    ),
    Rebuild(
        "affiliate_conversions", (*TENANTED, "order_id"), (*TENANTED, "order_id", "occurred_at"),
        (_to_accounts("affiliate_conversions"),),
        (("ix_affiliate_conversions_feed", "(account_id, livemode, occurred_at DESC, id DESC)"),),
        identity="id",
    ),
    Rebuild(
        "voucher_validations", (*TENANTED, "id"), (*TENANTED, "id", "validated_at"),
        (_to_accounts("voucher_validations"),),
        (("ix_voucher_validations_period", "(account_id, livemode, voucher_id, validated_at) INCLUDE (customer_id)"),),
    ),
    Rebuild(
        "voucher_redemptions", (*TENANTED, "id"), (*TENANTED, "id", "redeemed_at"),
        (_to_accounts("voucher_redemptions"),),
        (("ix_voucher_redemptions_customer",
          "(account_id, livemode, customer_id, redeemed_at) INCLUDE (order_total)"),
         ("ix_voucher_redemptions_period",
          "(account_id, livemode, voucher_id, redeemed_at) INCLUDE (customer_id, order_total, discount)")),
    ),
    Rebuild(
        "landing_events", ("tenant_id", "occurred_at", "id"), ("account_id", "tenant_id", "occurred_at", "id"),
        (("fk_landing_events_tenant_id_landing_tenants", "FOREIGN KEY (tenant_id) REFERENCES landing_tenants (id)"),),
        (),
        identity="id",
    ),
)
LANDING_ROLLUPS = {
    "landing_daily_visitors": ("tenant_id", "day", "visitor_hash"),
    "landing_daily_stats": ("tenant_id", "day"),
}


def _spec(table: str) -> lifecycle.TimedTable:
    return next(t for t in lifecycle.PARTITIONED if t.name == table)


def _rename_out(rebuild: Rebuild, suffix: str) -> str:
    old = f"{rebuild.table}_{suffix}"
    op.execute(f"ALTER TABLE {rebuild.table} RENAME TO {old}")
    for name in (f"pk_{rebuild.table}", *(name for name, _ in rebuild.indexes)):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_{suffix}")
    return old


def _constrain(rebuild: Rebuild, key: tuple[str, ...]) -> None:
    table = rebuild.table
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})")
    for name, definition in rebuild.foreign_keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in rebuild.indexes:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")


def _copy(rebuild: Rebuild, source: str, columns: list[str], select: str | None = None) -> None:
    names = ", ".join(columns)
    op.execute(f"INSERT INTO {rebuild.table} ({names}) {select or f'SELECT {names} FROM {source}'} "
               "ON CONFLICT DO NOTHING")
    if rebuild.identity:
        op.execute(f"SELECT setval(pg_get_serial_sequence('{rebuild.table}', '{rebuild.identity}'), "
                   f"coalesce((SELECT max({rebuild.identity}) FROM {rebuild.table}), 0) + 1, false)")


def _columns(table: str) -> list[str]:
    return list(op.get_bind().execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"), {"t": table}).scalars())


def _finish(rebuild: Rebuild, old: str) -> None:
    op.execute(f"DROP TABLE {old}")
    if rebuild.identity:
        # LIKE ... INCLUDING IDENTITY made a sequence of its own; give it the usual name.
        sequence = op.get_bind().execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                         {"t": rebuild.table, "c": rebuild.identity}).scalar_one()
        op.execute(f"ALTER SEQUENCE {sequence} RENAME TO {rebuild.table}_{rebuild.identity}_seq")


def _partition(rebuild: Rebuild) -> None:
    """The partitions the maintenance job keeps (the default retention back, three months
    ahead); older or farther rows go to DEFAULT."""
    conn = op.get_bind().connection.dbapi_connection
    lifecycle.ensure_partitions(conn, dt.datetime.now(dt.timezone.utc), tables=(_spec(rebuild.table),))


def upgrade() -> None:
    op.create_table(
        "account_retention",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("raw_days", sa.Integer(), nullable=False),
        sa.Column("aggregate_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("raw_days >= 1", name=op.f("ck_account_retention_raw_days_positive")),
        sa.CheckConstraint("aggregate_days >= raw_days", name=op.f("ck_account_retention_aggregates_outlive_raw")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_account_retention_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_retention")),
    )
    for rebuild in REBUILDS:
        table = _spec(rebuild.table)
        old = _rename_out(rebuild, "flat")
        op.execute(f"CREATE TABLE {rebuild.table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY) "
                   f"PARTITION BY RANGE ({table.time_column})")
        columns = _columns(old)
        select = None
        if rebuild.table == "landing_events":
            op.execute("ALTER TABLE landing_events ADD COLUMN account_id uuid NOT NULL")
            select = (f"SELECT {', '.join('e.' + c for c in columns)}, t.account_id FROM {old} e "
                      "JOIN landing_tenants t ON t.id = e.tenant_id")
            columns = [*columns, "account_id"]
            rebuild = rebuild._replace(foreign_keys=(*rebuild.foreign_keys, _to_accounts("landing_events")))
        _constrain(rebuild, rebuild.new_key)
        _partition(rebuild)
        _copy(rebuild, old, columns, select)
        _finish(rebuild, old)
    for name, key in LANDING_ROLLUPS.items():
        op.execute(f"ALTER TABLE {name} ADD COLUMN account_id uuid")
        op.execute(f"UPDATE {name} r SET account_id = t.account_id FROM landing_tenants t WHERE t.id = r.tenant_id")
        op.execute(f"ALTER TABLE {name} ALTER COLUMN account_id SET NOT NULL")
        op.execute(f"ALTER TABLE {name} DROP CONSTRAINT pk_{name}")
        op.execute(f"ALTER TABLE {name} ADD CONSTRAINT pk_{name} PRIMARY KEY (account_id, {', '.join(key)})")
        op.execute(f"ALTER TABLE {name} ADD CONSTRAINT {_to_accounts(name)[0]} {_to_accounts(name)[1]}")


def downgrade() -> None:
    for name, key in LANDING_ROLLUPS.items():
        op.execute(f"ALTER TABLE {name} DROP CONSTRAINT pk_{name}")
        op.execute(f"ALTER TABLE {name} DROP COLUMN account_id")
        op.execute(f"ALTER TABLE {name} ADD CONSTRAINT pk_{name} PRIMARY KEY ({', '.join(key)})")
    for rebuild in REBUILDS:
        table = _spec(rebuild.table)
        old = _rename_out(rebuild, "parted")
        op.execute(f"CREATE TABLE {rebuild.table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY)"
                   + (f" WITH ({table.storage})" if table.storage else ""))
        if rebuild.table == "landing_events":
            op.execute("ALTER TABLE landing_events DROP COLUMN account_id")
        _constrain(rebuild, rebuild.old_key)
        _copy(rebuild, old, _columns(rebuild.table))
        _finish(rebuild, old)
    op.drop_table("account_retention")
