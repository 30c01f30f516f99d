"""The instance analytics family, declared once (collected by services/registry.py)."""

from __future__ import annotations

from platform_core.errors import partner_envelope
from platform_core.family import HttpFamily, ServiceFamily, serving


def _specs(deps):
    from services.instance.servicer import service_specs
    from services.instance.sessions import session_specs

    return service_specs(deps) + session_specs(deps)


def _gauges(deps):
    from services.instance.gauges import gauges

    return gauges(deps)


FAMILY = ServiceFamily(
    name="instance",
    module="services.instance",
    port_env="INSTANCE_GRPC_PORT",
    base_port=50051,
    serve=serving(_specs),
    envelope=partner_envelope,
    http=HttpFamily(
        name="instance",
        prefix="/partner/v1/",
        cluster="instance",
        grpc_services=("partnerlytics.instance.v1.InstanceAnalyticsService",
                       "partnerlytics.instance.v1.SessionService"),
        routes=(
            ("/partner/v1/instances/analytics", ("GET", "POST")),
            ("/partner/v1/sessions", ("POST",)),
            ("/partner/v1/sessions/{session_id}", ("DELETE",)),
        ),
        envelope="partner",
    ),
    gauges=_gauges,
    models=("services.instance.models",),
)
