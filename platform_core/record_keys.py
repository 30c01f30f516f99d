"""The client ids of the partitioned raw tables, unique whatever time a record is resent with.

A partitioned table's unique keys must hold its partition column, so the raw tables'
keys are (account, mode, client id, event time): alone they would store a record resent
with another time twice. `record_keys (account_id, livemode, kind, client_id)` is not
partitioned; ingestion claims a batch's ids there with `INSERT ... ON CONFLICT DO
NOTHING` in the statement that writes the records, and writes (and projects) only the
records whose id it claimed. A concurrent writer of the same id waits on the key's
index entry until the first transaction ends, then finds it taken. `recorded_at` is the
stored record's time: keys expire with the account's raw retention (docs/lifecycle.md).
"""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, TimestampTZ, UUIDCol


class RecordKey(Base):
    __tablename__ = "record_keys"
    __table_args__ = (Index("ix_record_keys_account_time", "account_id", "livemode", "recorded_at"),)

    account_id: Mapped[UUIDCol] = mapped_column(primary_key=True)
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    recorded_at: Mapped[TimestampTZ]


def claiming_insert(table: str, names: list[str], record: str, id_column: str, time_column: str,
                    returning: str, alias: str = "") -> str:
    """`INSERT INTO table ... SELECT FROM jsonb_to_recordset(:batch)` that first claims the
    batch's ids in record_keys and writes only the claimed ones (each id's first record in
    the batch). Parameters :a, :l, :batch."""
    columns = ", ".join(names)
    return (
        f"WITH batch AS (SELECT DISTINCT ON ({id_column}) * FROM ROWS FROM "
        f"(jsonb_to_recordset(CAST(:batch AS jsonb)) AS ({record})) WITH ORDINALITY AS r "
        f"ORDER BY {id_column}, ordinality), "
        f"claimed AS (INSERT INTO record_keys (account_id, livemode, kind, client_id, recorded_at) "
        f"SELECT :a, :l, '{table}', CAST({id_column} AS text), {time_column} FROM batch "
        f"ON CONFLICT DO NOTHING RETURNING client_id) "
        f"INSERT INTO {table}{alias} (account_id, livemode, {columns}) "
        f"SELECT :a, :l, {columns} FROM batch WHERE CAST({id_column} AS text) IN (SELECT client_id FROM claimed) "
        f"ON CONFLICT DO NOTHING RETURNING {returning}"
    )
