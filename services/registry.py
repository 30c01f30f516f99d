"""The one list of API families: one line per family (docs/architecture.md, "Adding a family").

Each family declares itself in its own package (`services/<family>/family.py`, a
`platform_core.family.ServiceFamily`); the server bootstrap, the gateway renderer,
migrations, the distribution statements, `stack/` and the benchmarks read `families()`.

Families outside this tree (a plug-in, a test's throwaway family) are added by naming
their modules in PARTNERLYTICS_EXTRA_FAMILIES (comma-separated; each module has a
`FAMILY`), read on every call, so that every process started with the variable (the
gateway renderer, `tools/genopenapi.py`, a service) sees the same list.
"""

from __future__ import annotations

import importlib
import os

from platform_core.family import ServiceFamily
from services.affiliate.family import FAMILY as AFFILIATE
from services.campaign.family import FAMILY as CAMPAIGN
from services.exports.family import FAMILY as EXPORTS
from services.instance.family import FAMILY as INSTANCE
from services.landing.family import FAMILY as LANDING
from services.voucher.family import FAMILY as VOUCHER
from services.webhooks.family import FAMILY as WEBHOOKS

# In the gateway's order (routes, local replies and transcoded services follow it).
FAMILIES: tuple[ServiceFamily, ...] = (
    INSTANCE,
    CAMPAIGN,
    LANDING,
    VOUCHER,
    AFFILIATE,
    WEBHOOKS,
    EXPORTS,
)

EXTRA_FAMILIES_ENV = "PARTNERLYTICS_EXTRA_FAMILIES"


def extra_families(text: str | None = None) -> tuple[ServiceFamily, ...]:
    """The families of the modules PARTNERLYTICS_EXTRA_FAMILIES (or `text`) names."""
    raw = os.environ.get(EXTRA_FAMILIES_ENV, "") if text is None else text
    found = []
    for name in filter(None, (part.strip() for part in raw.split(","))):
        family = getattr(importlib.import_module(name), "FAMILY", None)
        if not isinstance(family, ServiceFamily):
            raise TypeError(f"{EXTRA_FAMILIES_ENV}: module {name} has no FAMILY (a ServiceFamily)")
        found.append(family)
    return tuple(found)


def families() -> tuple[ServiceFamily, ...]:
    """Every family: this tree's, then the extra ones; names must be unique."""
    every = FAMILIES + extra_families()
    names = [f.name for f in every]
    if len(set(names)) != len(names):
        raise ValueError(f"two families share a name: {names}")
    return every


def family(name: str) -> ServiceFamily:
    for candidate in families():
        if candidate.name == name:
            return candidate
    raise KeyError(name)
