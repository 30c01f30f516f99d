"""Runs the campaign service: `python -m services.campaign` (settings from the environment)."""

from platform_core.errors import campaign_envelope
from platform_core.server import run_service
from services.campaign.servicer import service_specs

if __name__ == "__main__":
    run_service(lambda config: config.campaign_grpc_port, service_specs, campaign_envelope)
