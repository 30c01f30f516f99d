"""The operator command line's entry point: `python -m services.admin` (`make admin`).

The commands are in platform_core/admin.py; this module hands them what the families
provide (`ServiceFamily.admin_hooks`: the landing erasure's hooks, the voucher exports'
folder), so that platform_core imports no service.
"""

from __future__ import annotations

import sys

from platform_core import admin
from services.registry import families


def hooks() -> admin.Hooks:
    provided: dict = {}
    for family in families():
        provided.update(family.admin_hooks())
    return admin.Hooks(**provided)


if __name__ == "__main__":
    sys.exit(admin.main(hooks()))
