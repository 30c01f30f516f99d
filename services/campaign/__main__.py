"""Runs the campaign service: `python -m services.campaign` (settings from the environment)."""

from __future__ import annotations

import asyncio

from platform_core import logs
from platform_core.config import settings
from platform_core.errors import campaign_envelope
from platform_core.server import Deps, create_server, serve_forever
from services.campaign.servicer import service_specs


async def main() -> None:
    config = settings()
    logs.configure(config.log_level)
    deps = Deps.from_settings(config)
    running = await create_server(
        f"{config.grpc_host}:{config.campaign_grpc_port}", deps, service_specs(deps), campaign_envelope
    )
    await serve_forever(running, deps)


if __name__ == "__main__":
    asyncio.run(main())
