"""Runs export workers on their own: `python -m services.voucher.worker`.

Same settings as the service (DATABASE_URL, VOUCHER_EXPORT_*); any number of these
processes and of in-service workers share the queue table safely
(platform_core/export_queue.py `run_standalone`).
"""

from __future__ import annotations

import asyncio
import logging

from platform_core.export_queue import run_standalone
from services.voucher.config import voucher_settings
from services.voucher.exports import ExportWorker


async def main() -> None:
    own = voucher_settings()
    await run_standalone(own, lambda engine, url: ExportWorker(engine, url, own),
                         logging.getLogger("services.voucher.worker"))


if __name__ == "__main__":
    asyncio.run(main())
