"""The domain services of the stack: their names, modules and gRPC base ports.

Data only (module names are strings, nothing above platform_core is imported): the stack
runner (`stack/run.py`) starts them and the gateway renderer (`gateway/envoy_config.py`)
points the compose clusters at them, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Service:
    """A domain service: its module and the environment variable naming its port."""

    name: str
    module: str
    port_env: str
    base_port: int


# Replica i of a service listens on its base port + i * REPLICA_PORT_STEP (50051, 50151, ...).
REPLICA_PORT_STEP = 100

SERVICES = [
    Service("instance", "services.instance", "INSTANCE_GRPC_PORT", 50051),
    Service("campaign", "services.campaign", "CAMPAIGN_GRPC_PORT", 50052),
    Service("affiliate", "services.affiliate", "AFFILIATE_GRPC_PORT", 50053),
    Service("voucher", "services.voucher", "VOUCHER_GRPC_PORT", 50054),
    Service("landing", "services.landing", "LANDING_GRPC_PORT", 50055),
]
