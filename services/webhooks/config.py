"""Settings of webhook delivery, from the environment (docs/webhooks.md, "Settings")."""

from __future__ import annotations

import os
from dataclasses import dataclass

from platform_core.config import env_float, env_int


@dataclass(frozen=True)
class WebhookSettings:
    # Delivery workers inside the service process (0: only `python -m services.webhooks.worker`).
    workers: int = 4
    # Each request's deadline (connect, send, first byte and body together).
    timeout_seconds: float = 10.0
    # The first retry's delay; each next one doubles, up to max_delay, with jitter.
    retry_base_seconds: float = 30.0
    retry_max_delay_seconds: float = 6 * 3600.0
    # How long after the event a delivery is retried before it is given up.
    retry_window_seconds: float = 3 * 86400.0
    # A claimed attempt's lease: a worker that died mid-send frees it after this.
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    # Receivers on loopback, link-local or private addresses (tests, `make run`).
    allow_private_urls: bool = False


def load() -> WebhookSettings:
    return WebhookSettings(
        workers=env_int("WEBHOOK_WORKERS", 4),
        timeout_seconds=env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        retry_base_seconds=env_float("WEBHOOK_RETRY_BASE_SECONDS", 30.0),
        retry_max_delay_seconds=env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 6 * 3600.0),
        retry_window_seconds=env_float("WEBHOOK_RETRY_WINDOW_SECONDS", 3 * 86400.0),
        lease_seconds=env_float("WEBHOOK_LEASE_SECONDS", 60.0),
        poll_seconds=env_float("WEBHOOK_POLL_SECONDS", 1.0),
        allow_private_urls=os.environ.get("WEBHOOK_ALLOW_PRIVATE_URLS", "") in ("1", "true", "yes"),
    )
