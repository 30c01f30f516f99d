"""How the schema spreads over a Citus cluster: which tables are reference tables, and the
statements that distribute the rest by account (docs/scaling.md).

Every table not listed as a reference table (the core's CORE_REFERENCE_TABLES and each
family's `ServiceFamily.reference_tables`, merged by migrations/schema.py) is distributed
by `account_id`, which leads (or, for landing rows, starts) its primary key;
tests/platform/test_lifecycle.py checks that against the models, so a new table cannot be added
without deciding this.

On a database with the Citus extension, `alembic upgrade head` ends with `distribute`
(migrations/env.py): every table of the schema that is not yet a reference or a
distributed table becomes one, so the tables later migrations add follow too.

    python -m migrations.citus    # prints the Citus statements, in order
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

DISTRIBUTION_COLUMN = "account_id"

# Run first in the transaction of a statement that spans accounts on purpose (the export
# queue's candidates and expiry sweep, the landing prune, the maintenance job's moves out
# of DEFAULT partitions, the scrape gauges): `make test-citus` sets the app role's
# `citus.multi_task_query_log_level` to 'error' so that any other multi-shard statement
# fails (docs/scaling.md, "Which queries stay on one shard"). On plain PostgreSQL it sets
# an unused placeholder.
CROSS_ACCOUNT = "SET LOCAL citus.multi_task_query_log_level = 'off'"

# The core's small tables read across accounts, copied to every node.
CORE_REFERENCE_TABLES: dict[str, str] = {
    "accounts": "the tenants themselves; every distributed table's foreign key points here",
    "api_keys": "authentication looks a key up by its hash before the account is known",
    "api_sessions": "authentication looks a session up by its token's hash before the account is known",
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


def _statements(ordered: list[str], reference: Mapping[str, str], colocate_with: str | None = None) -> list[str]:
    """Reference tables first (distributed tables' foreign keys point at them), then every
    other table by account in one colocation group (`colocate_with`'s, else the first
    one's), so that an account's rows of every table sit on one node and a request's joins
    stay on it. `ordered`: tables, each after the tables its foreign keys name."""
    statements = [f"SELECT create_reference_table('{name}');" for name in ordered if name in reference]
    for name in (name for name in ordered if name not in reference):
        if colocate_with is None:
            statements.append(f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}');")
            colocate_with = name
        else:
            statements.append(f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}', "
                              f"colocate_with => '{colocate_with}');")
    return statements


def citus_statements(metadata: MetaData, reference: Mapping[str, str]) -> list[str]:
    """The statements that distribute the schema of `metadata`, in order."""
    return _statements([t.name for t in metadata.sorted_tables], reference)


# The tables of `public` (partitions excepted: they follow their parent), each with the
# tables its foreign keys name, and what Citus made of it: 'h' distributed, 't' reference,
# 's' a Citus local table (one with a foreign key to a reference table), '' a plain table.
_TABLES = text("""
    SELECT c.relname,
           coalesce(CASE WHEN d.partmethod = 'h' THEN 'h' ELSE d.repmodel::text END, '') AS kind,
           coalesce(array_agg(DISTINCT f.relname) FILTER (WHERE f.relname IS NOT NULL AND f.oid <> c.oid),
                    '{}') AS refers_to
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_dist_partition d ON d.logicalrelid = c.oid
    LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
    LEFT JOIN pg_class f ON f.oid = k.confrelid
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND c.relname <> 'alembic_version'
    GROUP BY c.relname, d.partmethod, d.repmodel
    ORDER BY c.relname
""")


def has_citus(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() is not None


def pending_statements(conn: Connection, reference: Mapping[str, str]) -> list[str]:
    """What distributes the tables of the connected (Citus) database that are neither
    reference nor distributed tables yet; none when all are. `reference`: the schema's
    reference tables (migrations/schema.py)."""
    rows = conn.execute(_TABLES).all()
    kinds = {name: kind for name, kind, _ in rows}
    refers_to = {name: set(refs) for name, _, refs in rows}
    ordered: list[str] = []

    def visit(name: str, path: frozenset[str]) -> None:
        if name in ordered or name in path or name not in kinds:
            return
        for parent in sorted(refers_to[name]):
            visit(parent, path | {name})
        ordered.append(name)

    for name in sorted(kinds):
        visit(name, frozenset())
    done = [name for name in ordered if kinds[name] in ("h", "t")]
    anchor = next((name for name in done if kinds[name] == "h"), None)
    return _statements([name for name in ordered if name not in done], reference, colocate_with=anchor)


# The foreign keys between two tables that are not Citus tables yet (or Citus local ones)
# and will both be distributed: (table, constraint, definition).
_PENDING_FOREIGN_KEYS = text("""
    SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_class f ON f.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND k.contype = 'f' AND k.conparentid = 0 AND NOT c.relispartition
      AND c.relname = ANY(:tables) AND f.relname = ANY(:tables)
    ORDER BY c.relname, k.conname
""")


def distribute(conn: Connection, reference: Mapping[str, str]) -> list[str]:
    """Runs `pending_statements` in the connection's transaction; returns them.

    Once `accounts` is a reference table, every table with a foreign key to it is a Citus
    local table, and Citus cannot distribute one of those while another local table's
    foreign key names it (nor the other way round). So the foreign keys between the tables
    to distribute are dropped first and added again once all are distributed (colocated,
    each with `account_id` in its key: Citus checks them per shard).

    The audit log's append-only triggers (migration s001) raise on UPDATE, DELETE and
    TRUNCATE and read no table; Citus refuses any trigger unless
    `citus.enable_unsafe_triggers` is on, against triggers that reach other shards, which
    these cannot (docs/scaling.md, "The audit log on Citus")."""
    statements = pending_statements(conn, reference)
    if not statements:
        return []
    conn.execute(text("SET LOCAL citus.enable_unsafe_triggers = on"))
    to_distribute = [s.split("'")[1] for s in statements if "create_distributed_table" in s]
    keys = conn.execute(_PENDING_FOREIGN_KEYS, {"tables": to_distribute}).all()
    drops = [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for table, name, _ in keys]
    adds = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in keys]
    for statement in [*drops, *statements, *adds]:
        conn.execute(text(statement))
    return statements

