"""How the schema spreads over a Citus cluster: which tables are reference tables, and the
statements that distribute the rest by account (docs/scaling.md).

Every table not listed as a reference table (the core's CORE_REFERENCE_TABLES and each
family's `ServiceFamily.reference_tables`, merged by migrations/schema.py) is distributed
by `account_id`, which leads (or, for landing rows, starts) its primary key;
tests/test_lifecycle.py checks that against the models, so a new table cannot be added
without deciding this.

    python -m migrations.citus    # prints the Citus statements, in order
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import MetaData

DISTRIBUTION_COLUMN = "account_id"

# The core's small tables read across accounts, copied to every node.
CORE_REFERENCE_TABLES: dict[str, str] = {
    "accounts": "the tenants themselves; every distributed table's foreign key points here",
    "api_keys": "authentication looks a key up by its hash before the account is known",
    "account_retention": "one row per account, read whole by the maintenance job",
    "audit_log": "a 401 has no account to distribute by; append-only, written in batches",
    "rate_limit_windows": "keyed by limiter key (account, key or tenant source); small, UNLOGGED, short-lived",
}


def reference_tables(families: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The core's reference tables and those the families declare (table -> why)."""
    merged = dict(CORE_REFERENCE_TABLES)
    for tables in families:
        merged.update(tables)
    return merged


def distributed_tables(metadata: MetaData, reference: Mapping[str, str]) -> list[str]:
    """The tables distributed by account, parents before the tables whose keys refer to them."""
    return [t.name for t in metadata.sorted_tables if t.name not in reference]


def citus_statements(metadata: MetaData, reference: Mapping[str, str]) -> list[str]:
    """Reference tables first (distributed tables' foreign keys point at them), then every
    other table by account in one colocation group, so that an account's rows of every
    table sit on one node and a request's joins stay on it."""
    statements = [f"SELECT create_reference_table('{name}');"
                  for name in (t.name for t in metadata.sorted_tables) if name in reference]
    tables = distributed_tables(metadata, reference)
    first, rest = tables[0], tables[1:]
    statements.append(f"SELECT create_distributed_table('{first}', '{DISTRIBUTION_COLUMN}');")
    statements += [f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}', colocate_with => '{first}');"
                   for name in rest]
    return statements

