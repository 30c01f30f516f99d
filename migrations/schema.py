"""Every model module of the platform, imported so that the metadata is complete."""

from platform_core import accounts, audit, distribution, lifecycle  # noqa: F401
from platform_core import ratelimit, record_keys  # noqa: F401
from platform_core.db import Base
from services.affiliate import models as affiliate_models  # noqa: F401
from services.campaign import models as campaign_models  # noqa: F401
from services.instance import models  # noqa: F401
from services.landing import models as landing_models  # noqa: F401
from services.voucher import models as voucher_models  # noqa: F401

metadata = Base.metadata

# The schema's reference tables (platform_core/distribution.py); every other table is
# distributed by account.
REFERENCE_TABLES: dict[str, str] = distribution.REFERENCE_TABLES


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """What Alembic compares: not the month partitions, which the maintenance job makes."""
    return not (type_ == "table" and name is not None and lifecycle.is_partition(name))
