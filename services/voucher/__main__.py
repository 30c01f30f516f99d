"""Runs the voucher service: `python -m services.voucher` (settings from the environment).

The process serves gRPC and, unless VOUCHER_EXPORT_WORKERS=0, runs export workers as
asyncio tasks next to it (services/voucher/family.py); `python -m services.voucher.worker`
runs workers alone.
"""

from platform_core.server import run_service
from services.voucher.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
