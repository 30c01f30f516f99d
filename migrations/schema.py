"""Every model module of the platform, imported so that the metadata is complete: the
core's, then each family's (`ServiceFamily.models`, services/registry.py)."""

import importlib

from platform_core import accounts, audit, distribution, lifecycle, ratelimit, record_keys, sessions  # noqa: F401
from platform_core.db import Base
from services.registry import families

for _family in families():
    for _module in _family.models:
        importlib.import_module(_module)

metadata = Base.metadata

# The core's reference tables and every family's (platform_core/distribution.py).
REFERENCE_TABLES: dict[str, str] = distribution.reference_tables(f.reference_tables for f in families())


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """What Alembic compares: not the month partitions, which the maintenance job makes."""
    return not (type_ == "table" and name is not None and lifecycle.is_partition(name))
