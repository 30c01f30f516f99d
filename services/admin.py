"""The operator command line's entry point: `python -m services.admin` (`make admin`).

The commands are in platform_core/admin.py; this module hands them what they need from
the families (the landing erasure's hooks, the voucher exports' folder), so that
platform_core imports no service.
"""

from __future__ import annotations

import sys

from platform_core import admin, erasure
from services.landing.salts import visitor_hash
from services.landing.store import COLUMNS
from services.voucher.config import load as voucher_settings

HOOKS = admin.Hooks(
    landing=erasure.LandingHooks(columns=COLUMNS, visitor_hash=visitor_hash),
    export_dir=lambda: voucher_settings().export_dir,
)

if __name__ == "__main__":
    sys.exit(admin.main(HOOKS))
