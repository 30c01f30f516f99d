"""Runs the webhooks service: `python -m services.webhooks` (settings from the environment)."""

from platform_core.server import run_service
from services.webhooks.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
