"""The settings of an export queue (platform_core/export_queue.py), from the environment, read once at start-up.

A family subclasses `QueueSettings` for its own defaults and names the fields its
variables tune (`from_environment`): the voucher family's `VOUCHER_EXPORT_*`
(services/voucher/config.py), the export service's `EXPORTS_*` (services/exports/config.py).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from platform_core.config import env_float, env_int


def public_base_url() -> str:
    """The public base of `download_url`: the gateway as partners reach it."""
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    return (os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{os.environ.get('GATEWAY_PORT') or 8080}").rstrip("/")


S = TypeVar("S", bound="QueueSettings")


@dataclass(frozen=True)
class QueueSettings:
    """A queue's settings. A family subclasses it for its own defaults and reads it from
    the environment once at start-up (`from_environment`)."""

    # Where export files live; one folder per account below it.
    export_dir: pathlib.Path = pathlib.Path(".data/exports")
    # Workers inside the service process (0: only the family's standalone worker runs jobs).
    workers: int = 1
    # A claimed job's lease; the worker renews it every third of it. A job whose worker
    # died is claimed again once its lease has run out.
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    # Rows fetched per round trip while writing a file, and an optional pause after each
    # batch that keeps big exports from crowding out the analytics reads (0: none).
    batch_rows: int = 2000
    pause_seconds: float = 0.0
    max_attempts: int = 3
    # Deadline of each statement of a file's row stream (the query, each fetch): a stuck
    # export fails its attempt instead of holding a worker and a connection for ever.
    statement_timeout_ms: int = 60_000
    # The most rows one export may hold (where the family counts them before writing).
    max_records: int = 10_000_000
    # How long a completed file stays downloadable.
    lifetime_hours: float = 24.0
    # The public base of `download_url` (the gateway as partners reach it).
    public_base_url: str = "http://127.0.0.1:8080"

    @classmethod
    def from_environment(cls: type[S], prefix: str, tunable: Iterable[str]) -> S:
        """The settings from `<prefix><NAME>` variables: `<prefix>DIR` (default: the
        default folder's name under DATA_DIR) and each field named in `tunable`
        (`lease_seconds` reads `<prefix>LEASE_SECONDS`); the others keep the class's
        defaults. A malformed number stops the process (platform_core/config.py)."""
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name in tunable:
            read = env_float if isinstance(defaults[name], float) else env_int
            values[name] = read(prefix + name.upper(), defaults[name])
        data_dir = pathlib.Path(os.environ.get("DATA_DIR") or ".data")
        folder = os.environ.get(prefix + "DIR") or data_dir / defaults["export_dir"].name
        return cls(export_dir=pathlib.Path(folder).resolve(), public_base_url=public_base_url(), **values)
