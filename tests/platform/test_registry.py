"""The one list of families (services/registry.py) is consistent: every name, port, port
variable and HTTP prefix is a family's own, and every reader sees the same list."""

from __future__ import annotations

import importlib.util
import pathlib

from gateway import envoy_config
from migrations.schema import REFERENCE_TABLES, metadata
from services import admin, registry
from stack.run import SERVICES


def test_names_ports_and_prefixes_are_each_familys_own():
    families = registry.families()
    for attribute in ("name", "module", "port_env", "base_port"):
        values = [getattr(f, attribute) for f in families]
        assert len(set(values)) == len(values), attribute
    prefixes = [f.http.prefix for f in families if f.http is not None]
    assert not [(a, b) for a in prefixes for b in prefixes if a != b and b.startswith(a)]
    for family in families:
        assert family.port_env == f"{family.name.upper()}_GRPC_PORT"
        assert importlib.util.find_spec(family.module) is not None
        if family.http is not None:
            assert family.http.name == family.http.cluster == family.name


def test_every_reader_sees_the_registry():
    families = registry.families()
    assert SERVICES == sorted(families, key=lambda f: f.base_port)  # `make run`'s order
    assert envoy_config.FAMILIES == tuple(f.http for f in families if f.http is not None)
    assert envoy_config.DEFAULT_UPSTREAM_ADDRS == {f.name: f"127.0.0.1:{f.base_port}" for f in families if f.http is not None}
    for family in families:
        for table in family.reference_tables:
            assert table in metadata.tables and table in REFERENCE_TABLES
    hooks = admin.hooks()
    assert hooks.landing is not None and isinstance(hooks.export_dir(), pathlib.Path)
