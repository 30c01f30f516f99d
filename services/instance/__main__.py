"""Runs the instance service: `python -m services.instance` (settings from the environment)."""

from __future__ import annotations

import asyncio

from platform_core import logs
from platform_core.config import settings
from platform_core.errors import partner_envelope
from platform_core.server import Deps, create_server, serve_forever
from services.instance.servicer import service_specs


async def main() -> None:
    config = settings()
    logs.configure(config.log_level)
    deps = Deps.from_settings(config)
    running = await create_server(
        f"{config.grpc_host}:{config.instance_grpc_port}", deps, service_specs(deps), partner_envelope
    )
    await serve_forever(running, deps)


if __name__ == "__main__":
    asyncio.run(main())
