"""The export family, declared once (collected by services/registry.py): one export
service for every family's rows (docs/exports.md), with its workers in-process
(EXPORTS_WORKERS) and standalone (`python -m services.exports.worker`)."""

from __future__ import annotations

import contextlib

from platform_core.family import HttpFamily, ServiceFamily
from platform_core.resource_envelope import RESOURCE_LOCAL_REPLIES, resource_envelope, resource_reply_body


@contextlib.asynccontextmanager
async def serve(deps):
    """The servicer, with EXPORTS_WORKERS workers running next to it as asyncio tasks."""
    from platform_core.export_queue import running
    from services.exports.config import export_settings
    from services.exports.jobs import ExportWorker
    from services.exports.servicer import service_specs
    from services.exports.sources import SOURCES

    own = export_settings()
    async with running([ExportWorker(deps.engine, deps.settings.database_url, own, SOURCES)
                        for _ in range(own.workers)]):
        yield service_specs(deps, own, SOURCES)


def _gauges(deps):
    from services.exports.gauges import gauges

    return gauges(deps)


def _admin_hooks():
    """The erasure's part (platform_core/erasure.py FamilyExports): the folder, and which
    sources hold which kind of subject, from the sources' declarations."""
    from platform_core.erasure import FamilyExports
    from services.exports.config import load
    from services.exports.sources import SOURCES

    kinds: dict[str, tuple[str, ...]] = {}
    for source in SOURCES.values():
        for kind in source.subjects:
            kinds[kind] = (*kinds.get(kind, ()), source.name)
    return {"family_exports": FamilyExports(export_dir=lambda: load().export_dir, sources=kinds)}


FAMILY = ServiceFamily(
    name="exports",
    module="services.exports",
    port_env="EXPORTS_GRPC_PORT",
    base_port=50057,
    serve=serve,
    envelope=resource_envelope,
    http=HttpFamily(
        name="exports",
        prefix="/v1/exports",
        cluster="exports",
        grpc_services=("partnerlytics.exports.v1.ExportService",),
        routes=(
            ("/v1/exports", ("GET", "POST")),
            ("/v1/exports/{export_id}", ("GET",)),
            ("/v1/exports/{export_id}/download", ("GET",)),
        ),
        envelope="exports",
        # The resource APIs' envelope (platform_core/resource_envelope.py), as /v1/webhooks.
        local_replies=RESOURCE_LOCAL_REPLIES,
        reply_body=resource_reply_body,
    ),
    gauges=_gauges,
    models=("services.exports.models",),
    admin_hooks=_admin_hooks,
)
