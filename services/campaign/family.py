"""The campaign analytics family, declared once (collected by services/registry.py)."""

from __future__ import annotations

from platform_core.errors import campaign_envelope
from platform_core.family import (
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    REQUEST_LOCAL_REPLIES,
    HttpFamily,
    LocalReply,
    ServiceFamily,
    serving,
)

# The campaign document words its gateway errors itself and has a 502: the service
# cannot be reached (Envoy's 503: refused, reset, no healthy host) is its 502 "Upstream
# service unavailable."; its 503, with `retry_after`, comes from the service when the
# database is down (docs/gateway.md).
CAMPAIGN_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    *REQUEST_LOCAL_REPLIES,
    LocalReply(503, 502, "Bad Gateway", "Upstream service unavailable.",
               details="The campaign analytics service could not be reached."),
    LocalReply(502, 502, "Bad Gateway", "Upstream service unavailable.",
               details="The campaign analytics service sent an invalid response."),
    LocalReply(504, 504, "Gateway Timeout", "Request timeout. Please try again.",
               details="The campaign analytics service did not answer in time."),
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
)


def _specs(deps):
    from services.campaign.servicer import service_specs

    return service_specs(deps)


FAMILY = ServiceFamily(
    name="campaign",
    module="services.campaign",
    port_env="CAMPAIGN_GRPC_PORT",
    base_port=50052,
    serve=serving(_specs),
    envelope=campaign_envelope,
    http=HttpFamily(
        name="campaign",
        prefix="/api/partner/v1/",
        cluster="campaign",
        grpc_services=("partnerlytics.campaign.v1.CampaignAnalyticsService",),
        routes=(("/api/partner/v1/campaigns/{campaign_id}/analytics", ("GET",)),),
        envelope="partner",
        local_replies=CAMPAIGN_LOCAL_REPLIES,
    ),
    models=("services.campaign.models",),
)
