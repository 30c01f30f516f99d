"""Runs delivery workers on their own: `python -m services.webhooks.worker`.

Same settings as the service (DATABASE_URL, WEBHOOK_*); any number of these processes
and of in-service workers share the delivery queue safely (services/webhooks/delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import httpx

from platform_core import db, logs
from platform_core.config import env_int, require
from services.webhooks.config import WebhookSettings, load
from services.webhooks.delivery import DeliveryWorker

log = logging.getLogger("services.webhooks.worker")


async def run_workers(engine, settings: WebhookSettings, count: int, stop: asyncio.Event) -> None:
    """`count` workers sharing one HTTP client until `stop` is set."""
    if count <= 0:
        return
    async with httpx.AsyncClient() as client:
        workers = [DeliveryWorker(engine, settings, client=client) for _ in range(count)]
        await asyncio.gather(*(w.run(stop) for w in workers))


async def main() -> None:
    logs.configure(os.environ.get("LOG_LEVEL", "INFO").upper())
    own = load()
    engine = db.create_engine(require("DATABASE_URL"), pool_size=max(2, own.workers),
                              statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", 10_000))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    count = max(1, own.workers)
    log.info("webhook delivery workers", extra={"fields": {"workers": count}})
    await run_workers(engine, own, count, stop)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
