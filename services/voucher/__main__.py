"""Runs the voucher service: `python -m services.voucher` (settings from the environment).

The process serves gRPC and, unless VOUCHER_EXPORT_WORKERS=0, runs export workers as
asyncio tasks next to it; `python -m services.voucher.worker` runs workers alone.
"""

from __future__ import annotations

import asyncio
import contextlib

from platform_core import logs
from platform_core.config import settings
from platform_core.server import Deps, create_server, serve_forever
from services.voucher.config import voucher_settings
from services.voucher.errors import voucher_envelope
from services.voucher.exports import ExportWorker
from services.voucher.gauges import gauges
from services.voucher.servicer import service_specs


async def main() -> None:
    config = settings()
    own = voucher_settings()
    logs.configure(config.log_level)
    deps = Deps.from_settings(config)
    running = await create_server(
        f"{config.grpc_host}:{own.grpc_port}", deps, service_specs(deps, own), voucher_envelope
    )
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(ExportWorker(deps.engine, config.database_url, own).run(stop))
        for _ in range(own.export_workers)
    ]
    try:
        await serve_forever(running, deps, gauges(deps))
    finally:
        stop.set()
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task


if __name__ == "__main__":
    asyncio.run(main())
