"""record_keys: the client ids of the partitioned raw tables, unique whatever their time.

Since p001 a raw table's key holds the event time, so a record resent under the same id
with another time was stored twice. Ingestion now claims each id in `record_keys`
(account, mode, kind, client id) first (platform_core/record_keys.py). The ids already
stored are copied in, the earliest record of an id giving its time; records that p001
let in twice stay (a recount finds them; docs/lifecycle.md, "Idempotency").

Revision ID: e001
Revises: s001
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e001"
down_revision = "s001"
branch_labels = None
depends_on = None

# kind (the table) -> (client id column, time column)
CLAIMED = {
    "events": ("id", "created_at"),
    "affiliate_events": ("event_id", "occurred_at"),
    "voucher_validations": ("id", "validated_at"),
    "voucher_redemptions": ("id", "redeemed_at"),
}


def upgrade() -> None:
    op.create_table(
        "record_keys",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "livemode", "kind", "client_id", name=op.f("pk_record_keys")),
    )
    op.create_index("ix_record_keys_account_time", "record_keys", ["account_id", "livemode", "recorded_at"])
    for table, (id_column, time_column) in CLAIMED.items():
        op.execute(
            f"INSERT INTO record_keys (account_id, livemode, kind, client_id, recorded_at) "
            f"SELECT account_id, livemode, '{table}', CAST({id_column} AS text), min({time_column}) FROM {table} "
            f"GROUP BY account_id, livemode, {id_column} ON CONFLICT DO NOTHING"
        )


def downgrade() -> None:
    op.drop_index("ix_record_keys_account_time", table_name="record_keys")
    op.drop_table("record_keys")
