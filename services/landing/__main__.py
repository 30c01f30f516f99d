"""Runs the landing service: `python -m services.landing` (settings from the environment)."""

from __future__ import annotations

import asyncio
import logging

from platform_core import logs
from platform_core.config import settings
from platform_core.server import Deps, create_server, serve_forever
from services.landing.envelope import landing_envelope
from services.landing.gauges import gauges
from services.landing.salts import SaltStore, utc_now
from services.landing.servicer import LandingDeps, service_specs
from services.landing.store import prune_daily_visitors

log = logging.getLogger("services.landing")

SWEEP_INTERVAL_S = 3600.0


async def sweep(salts: SaltStore, engine, interval: float = SWEEP_INTERVAL_S) -> None:
    """Every `interval` seconds, also on days without traffic: deletes expired salts and the
    visitor rows of days that can no longer receive events."""
    while True:
        try:
            await salts.sweep()
            async with engine.begin() as conn:
                await prune_daily_visitors(conn, utc_now())
        except Exception:  # the database may be down for a while; try again next time
            log.warning("sweep failed", exc_info=True)
        await asyncio.sleep(interval)


async def main() -> None:
    config = settings()
    logs.configure(config.log_level)
    deps = Deps.from_settings(config)
    landing = LandingDeps.build(deps)
    running = await create_server(
        f"{config.grpc_host}:{config.landing_grpc_port}", deps, service_specs(deps, landing), landing_envelope
    )
    sweeper = asyncio.create_task(sweep(landing.salts, deps.engine))
    try:
        await serve_forever(running, deps, gauges(deps))
    finally:
        sweeper.cancel()
        await landing.writer.close()


if __name__ == "__main__":
    asyncio.run(main())
