"""Runs the affiliate service: `python -m services.affiliate` (settings from the environment)."""

from platform_core.server import run_service
from services.affiliate.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
