"""Runs the affiliate service: `python -m services.affiliate` (settings from the environment)."""

from __future__ import annotations

import asyncio

from platform_core import logs
from platform_core.config import settings
from platform_core.server import Deps, create_server, serve_forever
from services.affiliate.errors import affiliate_envelope
from services.affiliate.gauges import gauges
from services.affiliate.servicer import service_specs


async def main() -> None:
    config = settings()
    logs.configure(config.log_level)
    deps = Deps.from_settings(config)
    running = await create_server(
        f"{config.grpc_host}:{config.affiliate_grpc_port}", deps, service_specs(deps), affiliate_envelope
    )
    await serve_forever(running, deps, gauges(deps))


if __name__ == "__main__":
    asyncio.run(main())
