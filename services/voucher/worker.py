"""Runs export workers on their own: `python -m services.voucher.worker`.

Same settings as the service (DATABASE_URL, VOUCHER_EXPORT_*); any number of these
processes and of in-service workers share the queue table safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from platform_core import db, logs
from platform_core.config import env_int, require
from services.voucher.config import voucher_settings
from services.voucher.exports import ExportWorker

log = logging.getLogger("services.voucher.worker")


async def main() -> None:
    import os

    logs.configure(os.environ.get("LOG_LEVEL", "INFO").upper())
    url = require("DATABASE_URL")
    own = voucher_settings()
    # The same statement deadline as the service's (claims, lease renewals, sweeps).
    engine = db.create_engine(url, pool_size=2, statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", 10_000))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    count = max(1, own.export_workers)
    log.info("export workers", extra={"fields": {"workers": count, "export_dir": str(own.export_dir)}})
    tasks = [asyncio.create_task(ExportWorker(engine, url, own).run(stop)) for _ in range(count)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
