"""Runs the landing service: `python -m services.landing` (settings from the environment)."""

from platform_core.server import run_service
from services.landing.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
