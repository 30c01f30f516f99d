"""Runs the campaign service: `python -m services.campaign` (settings from the environment)."""

from platform_core.server import run_service
from services.campaign.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
