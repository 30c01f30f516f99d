"""The landing analytics family, declared once (collected by services/registry.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
from typing import Any

from platform_core.family import HEADERS_TOO_LARGE_MESSAGE, HttpFamily, LocalReply, ServiceFamily, Slots, StaticAsset
from services.landing.envelope import landing_envelope

log = logging.getLogger("services.landing")

SWEEP_INTERVAL_S = 3600.0


async def sweep(salts, engine, interval: float = SWEEP_INTERVAL_S) -> None:
    """Every `interval` seconds, also on days without traffic: deletes expired salts and the
    visitor rows of days that can no longer receive events."""
    from services.landing.salts import utc_now
    from services.landing.store import prune_daily_visitors

    while True:
        try:
            await salts.sweep()
            async with engine.begin() as conn:
                await prune_daily_visitors(conn, utc_now())
        except Exception:  # the database may be down for a while; try again next time
            log.warning("sweep failed", exc_info=True)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serve(deps):
    """The servicers on the landing dependencies, with the salt and visitor sweep running
    meanwhile; after the server stopped, the sweep ends and the event writer flushes."""
    from services.landing.servicer import LandingDeps, service_specs

    landing = LandingDeps.build(deps)
    sweeper = asyncio.create_task(sweep(landing.salts, deps.engine))
    try:
        yield service_specs(deps, landing)
    finally:
        sweeper.cancel()
        await landing.writer.close()


def _gauges(deps):
    from services.landing.gauges import gauges

    return gauges(deps)


def _admin_hooks() -> dict[str, Any]:
    from platform_core.erasure import LandingHooks
    from services.landing.salts import visitor_hash
    from services.landing.store import COLUMNS

    return {"landing": LandingHooks(columns=COLUMNS, visitor_hash=visitor_hash)}


def landing_reply_body(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The landing family's error body (services/landing/envelope.py builds the same for
    the service's errors): `reply.error` is its machine-readable `code`."""
    body: dict[str, Any] = {
        "success": False,
        "error": reply.message.replace("{method}", slots.method),
        "code": reply.error,
    }
    if reply.fields is not None:
        body["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.retry_after is not None:
        body["retry_after"] = reply.retry_after
    body["request_id"] = slots.request_id
    return body


# The landing family's own wording, in its `{"success": false, "error", "code", ...}`
# shape; `error` of a LocalReply is the body's `code` there.
LANDING_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "The requested resource was not found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(
        400, 400, "INVALID_REQUEST", "Validation failed for 1 fields",
        (("body", "Request body must be a valid JSON object", "invalid_json"),),
        details_prefix="grpc_json_transcode_failure",
    ),
    LocalReply(
        400, 400, "INVALID_REQUEST", "Validation failed for 1 fields",
        (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
          "malformed_request"),),
    ),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE", "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later",
               retry_after=5),
    LocalReply(504, 504, "TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(431, 431, "REQUEST_HEADERS_TOO_LARGE", HEADERS_TOO_LARGE_MESSAGE),
    LocalReply(None, 500, "INTERNAL_ERROR", "An unexpected error occurred. Please try again later"),
)

# text/javascript: the JavaScript media type of RFC 9239 (application/javascript is obsolete),
# and one that generated API clients read as text.
TRACKER_JS = StaticAsset(
    "/api/analytics/tracker.js", pathlib.Path(__file__).resolve().parents[2] / "gateway" / "tracker.js",
    "text/javascript; charset=utf-8",
)

FAMILY = ServiceFamily(
    name="landing",
    module="services.landing",
    port_env="LANDING_GRPC_PORT",
    base_port=50055,
    serve=serve,
    envelope=landing_envelope,
    http=HttpFamily(
        name="landing",
        prefix="/api/analytics/",
        cluster="landing",
        grpc_services=("partnerlytics.landing.v1.LandingAnalyticsService",),
        # The track path first: "/api/analytics/track" also matches "{tenant_id}".
        routes=(
            ("/api/analytics/track", ("POST",)),
            ("/api/analytics/{tenant_id}/today", ("GET",)),
            ("/api/analytics/{tenant_id}", ("GET",)),
        ),
        envelope="landing",
        local_replies=LANDING_LOCAL_REPLIES,
        browser_paths=("/api/analytics/track",),
        assets=(TRACKER_JS,),
        reply_body=landing_reply_body,
    ),
    gauges=_gauges,
    models=("services.landing.models",),
    reference_tables={
        "landing_tenants": "the public track endpoint names a tenant by its global id alone",
        "landing_salts": "per time zone and day, shared by every account's tenants",
    },
    admin_hooks=_admin_hooks,
)
