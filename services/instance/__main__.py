"""Runs the instance service: `python -m services.instance` (settings from the environment)."""

from platform_core.server import run_service
from services.instance.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
