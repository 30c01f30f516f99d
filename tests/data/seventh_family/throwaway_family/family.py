"""The throwaway family's declaration: the one thing the registry needs."""

from __future__ import annotations

from platform_core.errors import partner_envelope
from platform_core.family import HttpFamily, ServiceFamily, serving


def _specs(deps):
    from throwaway_family.servicer import service_specs

    return service_specs(deps)


FAMILY = ServiceFamily(
    name="throwaway",
    module="throwaway_family",
    port_env="THROWAWAY_GRPC_PORT",
    base_port=50057,
    serve=serving(_specs),
    envelope=partner_envelope,
    http=HttpFamily(
        name="throwaway",
        prefix="/throwaway/v1/",
        cluster="throwaway",
        grpc_services=("throwaway.v1.ThrowawayService",),
        routes=(("/throwaway/v1/things/{thing_id}/figure", ("GET",)),),
        envelope="partner",
    ),
)
