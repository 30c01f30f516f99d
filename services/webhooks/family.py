"""The webhooks family, declared once (collected by services/registry.py): the endpoint
API over gRPC and the delivery workers (docs/webhooks.md). No HTTP face yet."""

from __future__ import annotations

import asyncio
import contextlib
import json

from platform_core.errors import DomainError, InvalidArgument
from platform_core.family import ServiceFamily


def webhooks_envelope(error: DomainError, request_id: str, _moment) -> str:
    """The error body gRPC callers find in `x-envelope` (no gateway route uses it yet)."""
    body: dict = {"error": {"code": error.reason, "message": error.message, "request_id": request_id}}
    if isinstance(error, InvalidArgument):
        body["error"]["fields"] = [{"field": v.field, "message": v.message, "code": v.code} for v in error.violations]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


@contextlib.asynccontextmanager
async def serve(deps):
    """The servicer, with WEBHOOK_WORKERS delivery workers running next to it as asyncio
    tasks (0: only `python -m services.webhooks.worker` delivers)."""
    from services.webhooks.config import load
    from services.webhooks.servicer import service_specs
    from services.webhooks.worker import run_workers

    own = load()
    stop = asyncio.Event()
    workers = asyncio.create_task(run_workers(deps.engine, own, own.workers, stop))
    try:
        yield service_specs(deps, own)
    finally:
        stop.set()
        await workers


def _gauges(deps):
    from services.webhooks.gauges import gauges

    return gauges(deps)


FAMILY = ServiceFamily(
    name="webhooks",
    module="services.webhooks",
    port_env="WEBHOOKS_GRPC_PORT",
    base_port=50056,
    serve=serve,
    envelope=webhooks_envelope,
    gauges=_gauges,
    models=("services.webhooks.models",),
)
