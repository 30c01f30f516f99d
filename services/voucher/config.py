"""Settings of the voucher service, from the environment, read once at start-up."""

from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import dataclass

from platform_core.config import env_float, env_int


@dataclass(frozen=True)
class VoucherSettings:
    # Where export files live; one folder per account below it.
    export_dir: pathlib.Path = pathlib.Path(".data/exports")
    # Export workers run inside the service process (0: only `python -m services.voucher.worker`).
    export_workers: int = 1
    # A claimed job's lease; the worker renews it every third of it. A job whose worker
    # died is claimed again once its lease has run out.
    export_lease_seconds: float = 30.0
    export_poll_seconds: float = 1.0
    # Rows fetched per round trip while writing a file, and an optional pause after each
    # batch that keeps big exports from crowding out the analytics reads (0: none).
    export_batch_rows: int = 2000
    export_pause_seconds: float = 0.0
    export_max_attempts: int = 3
    # Deadline of each statement of a file's row stream (the query, each fetch): a stuck
    # export fails its attempt instead of holding a worker and a connection for ever.
    export_statement_timeout_ms: int = 60_000
    # The public base of `download_url` (the gateway as partners reach it).
    public_base_url: str = "http://127.0.0.1:8080"


def load() -> VoucherSettings:
    data_dir = pathlib.Path(os.environ.get("DATA_DIR") or ".data")
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    return VoucherSettings(
        export_dir=pathlib.Path(os.environ.get("VOUCHER_EXPORT_DIR") or data_dir / "exports").resolve(),
        export_workers=env_int("VOUCHER_EXPORT_WORKERS", 1),
        export_lease_seconds=env_float("VOUCHER_EXPORT_LEASE_SECONDS", 30.0),
        export_poll_seconds=env_float("VOUCHER_EXPORT_POLL_SECONDS", 1.0),
        export_batch_rows=env_int("VOUCHER_EXPORT_BATCH_ROWS", 2000),
        export_pause_seconds=env_float("VOUCHER_EXPORT_PAUSE_SECONDS", 0.0),
        export_max_attempts=env_int("VOUCHER_EXPORT_MAX_ATTEMPTS", 3),
        export_statement_timeout_ms=env_int("VOUCHER_EXPORT_STATEMENT_TIMEOUT_MS", 60_000),
        public_base_url=(
            os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{os.environ.get('GATEWAY_PORT') or 8080}"
        ).rstrip("/"),
    )


@functools.cache
def voucher_settings() -> VoucherSettings:
    return load()
