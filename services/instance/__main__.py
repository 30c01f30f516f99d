"""Runs the instance service: `python -m services.instance` (settings from the environment)."""

from platform_core.errors import partner_envelope
from platform_core.server import run_service
from services.instance.gauges import gauges
from services.instance.servicer import service_specs

if __name__ == "__main__":
    run_service(lambda config: config.instance_grpc_port, service_specs, partner_envelope, gauges)
