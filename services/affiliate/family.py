"""The affiliate analytics family, declared once (collected by services/registry.py)."""

from __future__ import annotations

from typing import Any

from platform_core.family import HEADERS_TOO_LARGE_MESSAGE, HttpFamily, LocalReply, ServiceFamily, Slots, serving
from services.affiliate.errors import affiliate_envelope


def _specs(deps):
    from services.affiliate.servicer import service_specs

    return service_specs(deps)


def _gauges(deps):
    from services.affiliate.gauges import gauges

    return gauges(deps)


def affiliate_reply_body(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The affiliate family's error body: `error` is an object with `code`, `message` and
    `details` (field -> messages); no `meta`. `LocalReply.error` holds the code."""
    error: dict[str, Any] = {"code": reply.error, "message": reply.message.replace("{method}", slots.method)}
    if reply.fields is not None:
        details: dict[str, list[str]] = {}
        for field, message, _code in reply.fields:
            details.setdefault(field, []).append(message)
        error["details"] = details
    return {"success": False, "error": error}


# The affiliate family's own wording (its document's codes; 400s Envoy makes itself are
# reported as the document's 422 VALIDATION_ERROR, the family's only client-error shape
# for a bad request).
AFFILIATE_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "Not Found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(
        400, 422, "VALIDATION_ERROR", "Validation failed",
        (("body", "The request body must be a valid JSON object with the documented fields.", "invalid_json"),),
        details_prefix="grpc_json_transcode_failure",
    ),
    LocalReply(
        400, 422, "VALIDATION_ERROR", "Validation failed",
        (("request", "The request could not be parsed, e.g. a query parameter was given more than once.",
          "malformed_request"),),
    ),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE",
               "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable. Please try again later"),
    LocalReply(504, 504, "GATEWAY_TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(431, 431, "REQUEST_HEADERS_TOO_LARGE", HEADERS_TOO_LARGE_MESSAGE),
    LocalReply(None, 500, "INTERNAL_ERROR", "Internal server error"),
)

FAMILY = ServiceFamily(
    name="affiliate",
    module="services.affiliate",
    port_env="AFFILIATE_GRPC_PORT",
    base_port=50053,
    serve=serving(_specs),
    envelope=affiliate_envelope,
    http=HttpFamily(
        name="affiliate",
        prefix="/v1/affiliate/",
        cluster="affiliate",
        grpc_services=(
            "partnerlytics.affiliate.v1.AffiliateAnalyticsService",
            "partnerlytics.affiliate.v1.AffiliateIngestionService",
        ),
        routes=(
            ("/v1/affiliate/analytics", ("GET",)),
            # Ingestion over HTTP (not in the document; docs/architecture.md).
            ("/v1/affiliate/affiliates:batch", ("POST",)),
            ("/v1/affiliate/tracking-codes:batch", ("POST",)),
            ("/v1/affiliate/products:batch", ("POST",)),
            ("/v1/affiliate/events:batch", ("POST",)),
            ("/v1/affiliate/conversions:batch", ("POST",)),
        ),
        envelope="affiliate",
        local_replies=AFFILIATE_LOCAL_REPLIES,
        reply_body=affiliate_reply_body,
    ),
    gauges=_gauges,
    models=("services.affiliate.models",),
)
