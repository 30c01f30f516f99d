"""Settings of the export service, from the environment, read once at start-up."""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

from platform_core.export_settings import QueueSettings

# The EXPORTS_* variables (docs/exports.md, "Settings").
TUNABLE = ("workers", "lease_seconds", "poll_seconds", "batch_rows", "max_attempts", "statement_timeout_ms",
           "max_records", "lifetime_hours")


@dataclass(frozen=True)
class ExportSettings(QueueSettings):
    """The export queue's settings (platform_core/export_queue.py) with the service's
    defaults: its own folder, and five minutes for a statement of a file's row stream."""

    export_dir: pathlib.Path = pathlib.Path(".data/family-exports")
    statement_timeout_ms: int = 300_000


def load() -> ExportSettings:
    return ExportSettings.from_environment("EXPORTS_", TUNABLE)


@functools.cache
def export_settings() -> ExportSettings:
    return load()
