"""The voucher analytics family, declared once (collected by services/registry.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from platform_core.family import HEADERS_TOO_LARGE_MESSAGE, HttpFamily, LocalReply, ServiceFamily, Slots
from services.voucher.errors import voucher_envelope


@contextlib.asynccontextmanager
async def serve(deps):
    """The servicers, with VOUCHER_EXPORT_WORKERS export workers running next to them as
    asyncio tasks (0: only `python -m services.voucher.worker` runs exports)."""
    from platform_core.export_queue import running
    from services.voucher.config import voucher_settings
    from services.voucher.exports import ExportWorker
    from services.voucher.servicer import service_specs

    own = voucher_settings()
    specs = service_specs(deps, own)
    async with running([ExportWorker(deps.engine, deps.settings.database_url, own) for _ in range(own.workers)]):
        yield specs


def _gauges(deps):
    from services.voucher.gauges import gauges

    return gauges(deps)


def _admin_hooks() -> dict[str, Any]:
    from services.voucher.config import load

    return {"export_dir": lambda: load().export_dir}


def voucher_reply_body(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The voucher document's error body: `error` holds the code, `fields` go to details."""
    details: dict[str, Any] = {}
    if reply.fields is not None:
        details["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.details is not None:
        details["reason"] = reply.details
    return {"error": {"code": reply.error, "message": reply.message.replace("{method}", slots.method),
                      "details": details}}


# The voucher family's own wording of the same replies (codes as in services/voucher/errors.py).
VOUCHER_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "The requested resource was not found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(400, 400, "INVALID_REQUEST_BODY", "Request body must be a valid JSON object",
               (("body", "Request body must be a valid JSON object", "invalid_json"),),
               details_prefix="grpc_json_transcode_failure"),
    LocalReply(400, 400, "INVALID_PARAMETER", "The request could not be parsed",
               (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
                 "malformed_request"),)),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE", "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later"),
    LocalReply(504, 504, "GATEWAY_TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(431, 431, "REQUEST_HEADERS_TOO_LARGE", HEADERS_TOO_LARGE_MESSAGE),
    LocalReply(None, 500, "INTERNAL_ERROR", "An unexpected error occurred. Please try again later"),
)

FAMILY = ServiceFamily(
    name="voucher",
    module="services.voucher",
    port_env="VOUCHER_GRPC_PORT",
    base_port=50054,
    serve=serve,
    envelope=voucher_envelope,
    http=HttpFamily(
        name="voucher",
        prefix="/v1/analytics/",
        cluster="voucher",
        grpc_services=("partnerlytics.voucher.v1.VoucherAnalyticsService",),
        routes=(
            ("/v1/analytics/vouchers/{voucher_id}/performance", ("GET",)),
            ("/v1/analytics/vouchers/{voucher_id}/trends", ("GET",)),
            ("/v1/analytics/vouchers/{voucher_id}/customers", ("GET",)),
            ("/v1/analytics/export", ("POST",)),
            ("/v1/analytics/export/{export_id}", ("GET",)),
            ("/v1/analytics/export/{export_id}/download", ("GET",)),
        ),
        envelope="voucher",
        local_replies=VOUCHER_LOCAL_REPLIES,
        reply_body=voucher_reply_body,
    ),
    gauges=_gauges,
    models=("services.voucher.models",),
    admin_hooks=_admin_hooks,
)
