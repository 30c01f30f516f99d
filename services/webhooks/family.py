"""The webhooks family, declared once (collected by services/registry.py): the endpoint
API over gRPC and, through the gateway, as REST under /v1/webhooks, and the delivery
workers (docs/webhooks.md)."""

from __future__ import annotations

import asyncio
import contextlib

from platform_core.family import HttpFamily, ServiceFamily
from platform_core.resource_envelope import RESOURCE_LOCAL_REPLIES, resource_envelope, resource_reply_body


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
    envelope=resource_envelope,
    http=HttpFamily(
        name="webhooks",
        prefix="/v1/webhooks",
        cluster="webhooks",
        grpc_services=("partnerlytics.webhooks.v1.WebhookService",),
        routes=(
            ("/v1/webhooks/endpoints", ("GET", "POST")),
            ("/v1/webhooks/endpoints/{endpoint_id}", ("GET", "PATCH", "DELETE")),
            ("/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", ("POST",)),
            ("/v1/webhooks/endpoints/{endpoint_id}/test", ("POST",)),
            ("/v1/webhooks/endpoints/{endpoint_id}/deliveries", ("GET",)),
            ("/v1/webhooks/endpoints/{endpoint_id}/replay", ("POST",)),
        ),
        # The resource APIs' envelope (platform_core/resource_envelope.py), as /v1/exports.
        envelope="webhooks",
        local_replies=RESOURCE_LOCAL_REPLIES,
        reply_body=resource_reply_body,
    ),
    gauges=_gauges,
    models=("services.webhooks.models",),
)
