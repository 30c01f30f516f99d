"""The gateway's view of the API families: each family's HTTP face (`HttpFamily`,
declared in services/<family>/family.py and listed by services/registry.py), and where
the CLI finds each cluster when its environment names no address."""

from __future__ import annotations

from platform_core.family import HttpFamily as Family
from platform_core.family import ServiceFamily
from services.registry import families as registered


def http_families(families: tuple[ServiceFamily, ...] | None = None) -> tuple[Family, ...]:
    """The HTTP face of every registered family that has one, in registry order."""
    return tuple(f.http for f in (registered() if families is None else families) if f.http is not None)


def default_upstream_addrs(families: tuple[ServiceFamily, ...] | None = None) -> dict[str, str]:
    """Default upstream addresses per cluster: each family's service on its base port."""
    return {f.http.cluster: f"127.0.0.1:{f.base_port}"
            for f in (registered() if families is None else families) if f.http is not None}
