"""Settings of the voucher service, from the environment, read once at start-up."""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

from platform_core.export_settings import QueueSettings

# The VOUCHER_EXPORT_* variables (README.md, "Configuration"). The record cap (100,000)
# and the 24 hours a file lives are the document's, not settings.
TUNABLE = ("workers", "lease_seconds", "poll_seconds", "batch_rows", "pause_seconds", "max_attempts",
           "statement_timeout_ms")


@dataclass(frozen=True)
class VoucherSettings(QueueSettings):
    """The export queue's settings (platform_core/export_queue.py) with the voucher's defaults."""

    export_dir: pathlib.Path = pathlib.Path(".data/exports")


def load() -> VoucherSettings:
    return VoucherSettings.from_environment("VOUCHER_EXPORT_", TUNABLE)


@functools.cache
def voucher_settings() -> VoucherSettings:
    return load()
