"""Runs the export service: `python -m services.exports` (settings from the environment)."""

from platform_core.server import run_service
from services.exports.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
