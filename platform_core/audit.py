"""The audit log: who called what, with which outcome; never a key, an IP or a payload.

Every call of a method that needs a key, and every denial (401, 403, 429) of any policed
method, is one row: account, key id, endpoint (the RPC's full method), HTTP status, gRPC
code and request id. The app role may only INSERT into `audit_log` (migration s001), and a
trigger refuses UPDATE, DELETE and TRUNCATE for every role. The one exception is the
retention of the maintenance job: `audit_log_expire(before, max_rows)` (migration t001)
deletes rows older than AUDIT_RETENTION_DAYS, a batch at a time (docs/lifecycle.md).

Rows are written off the request path: `AuditWriter.record` appends to a buffer in
memory (no I/O), and one task per process inserts the buffer in one multi-row INSERT
every FLUSH_SECONDS, or as soon as FLUSH_ROWS are waiting; `close()` (on shutdown)
writes what is left. A process killed with SIGKILL loses at most the last 100 ms of rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db import Base, TimestampTZ, sequence_id
from platform_core.reads import Reads

log = logging.getLogger("platform_core.audit")

FLUSH_SECONDS = 0.1
FLUSH_ROWS = 500
# Rows kept while the database cannot be written; beyond it the oldest are dropped (and counted in the log).
MAX_PENDING = 50_000
DENIALS = frozenset({401, 403, 429})


class AuditEntry(Base):
    """One audited call or operator action. `details` is for operator actions only (e.g.
    an erasure's counts per table); requests never store payloads."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_account_at", "account_id", "at"),)

    id: Mapped[int] = sequence_id("audit_log", primary_key=True)
    at: Mapped[TimestampTZ] = mapped_column(server_default=func.now())
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    endpoint: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(SmallInteger)
    grpc_code: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


# One statement whatever the number of rows: a column per array parameter (a multi-row
# VALUES list costs the process ~20x more CPU per row to build).
_COLUMNS = {"at": "timestamptz", "account_id": "uuid", "key_id": "uuid", "endpoint": "text", "status": "smallint",
            "grpc_code": "text", "request_id": "text"}
_INSERT = text(
    f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS.items()) + ")"
)


def audited(authenticated: bool, status: int) -> bool:
    """Which calls leave a row: every call of a keyed method, and every denial."""
    return authenticated or status in DENIALS


@dataclass
class AuditWriter:
    """Batches audit rows and inserts them from one background task (module docstring)."""

    engine: AsyncEngine
    flush_seconds: float = FLUSH_SECONDS
    flush_rows: int = FLUSH_ROWS
    # The service's writable psycopg connections (platform_core/reads.py, shared with the
    # PostgreSQL rate-limit store): the batch INSERT runs there instead of through a
    # SQLAlchemy checkout. None: through the engine.
    connections: Reads | None = None

    def __post_init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._dropped = 0
        self._closing = False

    def record(
        self, *, at: dt.datetime, account_id: uuid.UUID | None, key_id: uuid.UUID | None,
        endpoint: str, status: int, grpc_code: str, request_id: str,
    ) -> None:
        """Queues one row; never blocks and never raises into the call it audits."""
        self._pending.append({"at": at, "account_id": account_id, "key_id": key_id, "endpoint": endpoint,
                              "status": status, "grpc_code": grpc_code, "request_id": request_id})
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]
            self._dropped += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")
        if len(self._pending) >= self.flush_rows:
            self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Inserts every queued row in one statement; on failure they stay queued for the next try."""
        rows, self._pending = self._pending, []
        if not rows:
            return 0
        try:
            # One statement is atomic by itself: in autocommit it is one round trip, not
            # BEGIN, INSERT and COMMIT (three).
            params = {name: [row[name] for row in rows] for name in _COLUMNS}
            if self.connections is not None:
                async with self.connections() as conn:
                    await conn.execute(_INSERT, params)
            else:
                async with self.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                    await conn.execute(_INSERT, params)
        except Exception:
            log.exception("audit rows not written yet; retrying", extra={"fields": {"rows": len(rows)}})
            self._pending[:0] = rows[-MAX_PENDING:]
            return 0
        if self._dropped:
            log.error("audit rows dropped while the database was unavailable",
                      extra={"fields": {"rows": self._dropped}})
            self._dropped = 0
        return len(rows)

    async def close(self) -> None:
        """Lets the task finish its current write, then writes what is queued (on shutdown).
        Recording again restarts the task."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wake.set()
            await task
            self._closing = False
        await self.flush()
