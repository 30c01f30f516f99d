"""Runs export workers on their own: `python -m services.exports.worker`.

Same settings as the service (DATABASE_URL, EXPORTS_*); any number of these processes
and of in-service workers share the queue table safely
(platform_core/export_queue.py `run_standalone`).
"""

from __future__ import annotations

import asyncio
import logging

from platform_core.export_queue import run_standalone
from services.exports.config import export_settings
from services.exports.jobs import ExportWorker
from services.exports.sources import SOURCES


async def main() -> None:
    own = export_settings()
    await run_standalone(own, lambda engine, url: ExportWorker(engine, url, own, SOURCES),
                         logging.getLogger("services.exports.worker"))


if __name__ == "__main__":
    asyncio.run(main())
