"""Erasure on request: one data subject's rows deleted from every table of one account.

Three kinds of subject hold personal data:

- `instance` (instance domain): the instance, its events, orders with their items and
  its insider rewards; `instance_hourly_counts` and `campaign_hourly_stats` lose its
  contribution; the export service's jobs of the instance sources are cancelled or
  their file deleted (`FamilyExports`, docs/exports.md).
- `customer` (voucher domain): the customer, their validations and redemptions;
  `voucher_daily` loses their contribution; export jobs of the account that cover one
  of the customer's voucher-days are cancelled (queued: failed with a reason) or their
  file deleted (completed: expired), since a file's figures include the customer.
- `visitor` (landing domain): the events of one visitor hash in the account's tenants
  and its rows in `landing_daily_visitors`; `landing_daily_stats` loses the events
  and one visitor per local day; the export service's `landing_events` jobs are
  cancelled or their file deleted. `--ip` finds the hashes from an IP address with the
  salts still kept (48 hours); older hashes cannot be linked to anyone any more.

Aggregates are adjusted by subtracting the subject's contribution (commutative with
ingestion that runs meanwhile, unlike a recount); rows left at zero are deleted. Both
modes (test and live) are erased. Every statement is a plain DELETE/UPDATE scoped by
account, so it works on partitioned tables too. It all happens in one transaction
that also writes the audit row (`audit_log`, endpoint `admin:erase`): who, what kind,
when, the counts per table and a SHA-256 of the subject id, never the id itself.
Export files are deleted only after the transaction committed.

platform_core imports no service: what the landing erasure needs from its family (the
event type numbers of the rollup's columns, the visitor hash) comes in as
`LandingHooks`, which the entry point (`services/admin.py`) builds from
`services.landing` and passes in, like the voucher export folder.
"""

from __future__ import annotations

import collections
import hashlib
import json
import pathlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

KINDS = ("instance", "customer", "visitor")
CANCELLED_REASON = "The export was cancelled: data it covered was erased on request"


@dataclass(frozen=True)
class LandingHooks:
    """The landing family's parts of a visitor erasure (services/landing/store.py, salts.py)."""

    columns: Mapping[int, str]  # the event type numbers -> the rollup's columns
    visitor_hash: Callable[[bytes, int, str], str]  # (salt, tenant id, IP) -> visitor hash


@dataclass(frozen=True)
class FamilyExports:
    """The export service's part of an erasure (services/exports): its files' folder,
    and per kind of subject the sources whose rows may hold one. Every job of such a
    source in the account is cancelled or its file deleted, whatever its range."""

    export_dir: Callable[[], pathlib.Path]
    sources: Mapping[str, tuple[str, ...]]  # kind -> source names


@dataclass
class Erasure:
    """What one erasure did: rows per table, export files to delete once committed."""

    kind: str
    account_id: uuid.UUID
    counts: dict[str, int] = field(default_factory=dict)
    files: list[pathlib.Path] = field(default_factory=list)
    # (livemode, voucher_id, UTC day) of the erased customers' rows: which exports covered them.
    voucher_days: list[tuple] = field(default_factory=list)

    def count(self, table: str, n: int) -> None:
        self.counts[table] = self.counts.get(table, 0) + n


def subject_digest(account_id: uuid.UUID, kind: str, subject: str) -> str:
    return hashlib.sha256(f"{account_id}:{kind}:{subject}".encode()).hexdigest()


async def erase(
    conn: AsyncConnection, kind: str, account_id: uuid.UUID, subjects: list[str], *,
    actor: str, export_dir: pathlib.Path | None = None, landing: LandingHooks | None = None,
    family_exports: FamilyExports | None = None,
) -> Erasure:
    """Erases the subjects (one person: several visitor hashes for `--ip`) in the caller's
    transaction and records it; the caller commits, then deletes `files`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind == "visitor" and landing is None:
        raise ValueError("a visitor erasure needs the landing hooks")
    done = Erasure(kind, account_id)
    for subject in subjects:
        if kind == "visitor":
            await _visitor(conn, done, subject, landing)
        else:
            await {"instance": _instance, "customer": _customer}[kind](conn, done, subject)
    if kind == "customer" and export_dir is not None:
        await _cancel_exports(conn, done, export_dir)
    if family_exports is not None and family_exports.sources.get(kind):
        await _cancel_family_exports(conn, done, family_exports)
    details = {"kind": kind, "subjects_sha256": [subject_digest(account_id, kind, s) for s in subjects],
               "actor": actor, "rows": done.counts}
    await conn.execute(
        text("INSERT INTO audit_log (account_id, endpoint, status, grpc_code, request_id, details) "
             "VALUES (:a, 'admin:erase', 200, 'OK', :r, CAST(:d AS jsonb))"),
        {"a": account_id, "r": str(uuid.uuid4()), "d": json.dumps(details)},
    )
    return done


async def _rows(conn: AsyncConnection, done: Erasure, table: str, sql: str, params: dict) -> list:
    rows = (await conn.execute(text(sql), params)).all()
    done.count(table, len(rows))
    return rows


async def _instance(conn: AsyncConnection, done: Erasure, subject: str) -> None:
    p = {"a": done.account_id, "i": uuid.UUID(subject)}
    await _rows(conn, done, "order_items",
                  "DELETE FROM order_items WHERE account_id = :a AND (livemode, order_id) IN "
                  "(SELECT livemode, id FROM orders WHERE account_id = :a AND instance_id = :i) RETURNING 1", p)
    orders = await _rows(conn, done, "orders",
                           "DELETE FROM orders WHERE account_id = :a AND instance_id = :i RETURNING livemode, total", p)
    events = await _rows(conn, done, "events", "DELETE FROM events WHERE account_id = :a AND instance_id = :i "
                         "RETURNING livemode, CAST(id AS text) AS client_id", p)
    await _forget_ids(conn, done, "events", events)
    await _rows(conn, done, "insider_rewards",
                  "DELETE FROM insider_rewards WHERE account_id = :a AND instance_id = :i RETURNING 1", p)
    instances = await _rows(
        conn, done, "instances",
        "DELETE FROM instances WHERE account_id = :a AND id = :i RETURNING livemode, campaign_id, is_purchase, "
        "date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour", p)
    revenue = {o.livemode: o.total for o in orders}
    for row in instances:
        key = {"a": done.account_id, "l": row.livemode, "h": row.hour}
        purchase = int(row.is_purchase)
        await _adjust(conn, done, "instance_hourly_counts", "n = n - 1",
                      "account_id = :a AND livemode = :l AND hour = :h AND is_purchase = :p", "n = 0",
                      {**key, "p": row.is_purchase})
        await _adjust(conn, done, "campaign_hourly_stats",
                      "instances = instances - 1, purchases = purchases - :n, revenue = revenue - :r",
                      "account_id = :a AND livemode = :l AND campaign_id = :c AND hour = :h", "instances = 0",
                      {**key, "c": row.campaign_id, "n": purchase,
                       "r": revenue.get(row.livemode, 0) if purchase else 0})


async def _forget_ids(conn: AsyncConnection, done: Erasure, kind: str, rows: list) -> None:
    """The erased records' ids in record_keys (platform_core/record_keys.py): no trace is
    left, so a resend of an erased record is stored again."""
    for livemode in sorted({row.livemode for row in rows}):
        await _rows(conn, done, "record_keys",
                    "DELETE FROM record_keys WHERE account_id = :a AND livemode = :l AND kind = :k "
                    "AND client_id = ANY(CAST(:ids AS text[])) RETURNING 1",
                    {"a": done.account_id, "l": livemode, "k": kind,
                     "ids": [row.client_id for row in rows if row.livemode == livemode]})


async def _adjust(
    conn: AsyncConnection, done: Erasure, table: str, subtract: str, key: str, emptied: str, params: dict
) -> None:
    """Subtracts the subject's contribution (`subtract`) from the aggregate row at `key`,
    then deletes that row if nothing is left in it (`emptied`)."""
    done.count(f"{table} (adjusted)", (await conn.execute(text(f"UPDATE {table} SET {subtract} WHERE {key}"),
                                                          params)).rowcount)
    done.count(f"{table} (emptied)", (await conn.execute(text(f"DELETE FROM {table} WHERE {key} AND {emptied}"),
                                                         params)).rowcount)


async def _customer(conn: AsyncConnection, done: Erasure, subject: str) -> None:
    p = {"a": done.account_id, "c": subject}
    daily: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
    redemptions = await _rows(
        conn, done, "voucher_redemptions",
        "DELETE FROM voucher_redemptions WHERE account_id = :a AND customer_id = :c "
        "RETURNING livemode, voucher_id, (redeemed_at AT TIME ZONE 'UTC')::date AS day, order_total, discount, "
        "id AS client_id", p,
    )
    await _forget_ids(conn, done, "voucher_redemptions", redemptions)
    for row in redemptions:
        figures = daily[(row.livemode, row.voucher_id, row.day)]
        figures.update(uses=1, discount=row.discount, gross=row.order_total)
    validations = await _rows(
        conn, done, "voucher_validations",
        "DELETE FROM voucher_validations WHERE account_id = :a AND customer_id = :c "
        "RETURNING livemode, voucher_id, (validated_at AT TIME ZONE 'UTC')::date AS day, id AS client_id", p,
    )
    await _forget_ids(conn, done, "voucher_validations", validations)
    for row in validations:
        daily[(row.livemode, row.voucher_id, row.day)].update(validations=1)
    await _rows(conn, done, "voucher_customers",
                  "DELETE FROM voucher_customers WHERE account_id = :a AND id = :c RETURNING 1", p)
    for (livemode, voucher_id, day), figures in sorted(daily.items()):
        await _adjust(
            conn, done, "voucher_daily",
            "uses = uses - :uses, discount = discount - :discount, gross = gross - :gross, "
            "validations = validations - :validations",
            "account_id = :a AND livemode = :l AND voucher_id = :v AND day = :d", "uses = 0 AND validations = 0",
            {"a": done.account_id, "l": livemode, "v": voucher_id, "d": day,
             **{k: figures[k] for k in ("uses", "discount", "gross", "validations")}},
        )
    done.voucher_days.extend(daily)


async def _cancel_exports(conn: AsyncConnection, done: Erasure, export_dir: pathlib.Path) -> None:
    """Export jobs whose vouchers and period cover one of the erased voucher-days."""
    days = done.voucher_days
    if not days:
        return
    p = {"a": done.account_id, "l": [d[0] for d in days], "v": [d[1] for d in days], "d": [d[2] for d in days]}
    covering = ("account_id = :a AND EXISTS (SELECT 1 FROM unnest(CAST(:l AS boolean[]), CAST(:v AS text[]), "
                "CAST(:d AS date[])) AS x(l, v, d) WHERE x.l = livemode AND x.v = ANY(voucher_ids) "
                "AND x.d BETWEEN period_start AND period_end)")
    await _rows(conn, done, "voucher_exports (queued, cancelled)",
                  f"UPDATE voucher_exports SET status = 'failed', failure_reason = :reason, failed_at = now(), "
                  f"lease_owner = NULL, lease_expires_at = NULL WHERE status = 'processing' AND {covering} RETURNING 1",
                  {**p, "reason": CANCELLED_REASON})
    for row in await _rows(conn, done, "voucher_exports (file deleted)",
                             f"UPDATE voucher_exports e SET status = 'expired', file_name = NULL, file_size = NULL "
                             f"FROM (SELECT id, file_name FROM voucher_exports "
                             f"WHERE status = 'completed' AND {covering} FOR UPDATE) AS old "
                             f"WHERE e.account_id = :a AND e.id = old.id RETURNING old.file_name", p):
        if row.file_name:
            done.files.append(export_dir / str(done.account_id) / row.file_name)


async def _cancel_family_exports(conn: AsyncConnection, done: Erasure, family: FamilyExports) -> None:
    """The export service's jobs of the sources that hold this kind of subject."""
    p = {"a": done.account_id, "s": list(family.sources[done.kind]), "reason": CANCELLED_REASON}
    await _rows(conn, done, "export_jobs (queued, cancelled)",
                "UPDATE export_jobs SET status = 'failed', failure_reason = :reason, failed_at = now(), "
                "lease_owner = NULL, lease_expires_at = NULL WHERE account_id = :a AND source = ANY(:s) "
                "AND status IN ('queued', 'processing') RETURNING 1", p)
    folder = None
    for row in await _rows(conn, done, "export_jobs (file deleted)",
                           "UPDATE export_jobs e SET status = 'expired', file_name = NULL, file_size = NULL "
                           "FROM (SELECT livemode, id, file_name FROM export_jobs WHERE account_id = :a "
                           "AND source = ANY(:s) AND status = 'completed' FOR UPDATE) AS old "
                           "WHERE e.account_id = :a AND e.livemode = old.livemode AND e.id = old.id "
                           "RETURNING old.file_name", p):
        if row.file_name:
            folder = folder or family.export_dir()
            done.files.append(folder / str(done.account_id) / row.file_name)


async def _visitor(conn: AsyncConnection, done: Erasure, subject: str, landing: LandingHooks) -> None:
    p = {"a": done.account_id, "h": subject}
    events = await _rows(
        conn, done, "landing_events",
        "DELETE FROM landing_events e USING landing_tenants t WHERE e.account_id = :a AND t.id = e.tenant_id "
        "AND e.visitor_hash = :h RETURNING e.tenant_id, (e.occurred_at AT TIME ZONE t.time_zone)::date AS day, "
        "e.event_type, coalesce(e.duration_ms, 0) AS duration_ms", p)
    await _rows(conn, done, "landing_daily_visitors",
                "DELETE FROM landing_daily_visitors WHERE account_id = :a AND visitor_hash = :h RETURNING 1", p)
    COLUMNS = landing.columns  # noqa: N806 (the landing store's constant)
    daily: dict[tuple[int, object], collections.Counter] = collections.defaultdict(collections.Counter)
    for row in events:
        daily[(row.tenant_id, row.day)].update({COLUMNS[row.event_type]: 1, "duration_ms": row.duration_ms})
    columns = [*COLUMNS.values(), "duration_ms"]
    for (tenant_id, day), figures in sorted(daily.items()):
        # The visitor was counted once in each local day it had an event (landing/store.py).
        await _adjust(
            conn, done, "landing_daily_stats",
            "visitors = visitors - 1, " + ", ".join(f"{c} = {c} - :{c}" for c in columns),
            "account_id = :a AND tenant_id = :t AND day = :d", "visitors = 0",
            {"a": done.account_id, "t": tenant_id, "d": day, **{c: figures[c] for c in columns}},
        )


async def visitor_hashes_of_ip(
    conn: AsyncConnection, account_id: uuid.UUID, ip: str, landing: LandingHooks
) -> list[str]:
    """The visitor hashes an IP address has in the account's tenants, for every salt still kept."""
    visitor_hash = landing.visitor_hash
    rows = (await conn.execute(text(
        "SELECT t.id, s.salt FROM landing_tenants t JOIN landing_salts s ON s.time_zone = t.time_zone "
        "WHERE t.account_id = :a"), {"a": account_id})).all()
    return sorted({visitor_hash(bytes(row.salt), row.id, ip) for row in rows})
