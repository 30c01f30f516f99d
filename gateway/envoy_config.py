"""Renders the Envoy bootstrap of the partner API gateway (the CLI: docs/gateway.md).

The gateway is one Envoy listener in front of the Python gRPC services. For every API
family (see `FAMILIES`: each family's `HttpFamily`, declared in
services/<family>/family.py and listed by services/registry.py) it

* transcodes the documented REST/JSON endpoints to gRPC with the gRPC-JSON transcoder,
* answers undocumented methods on a documented path with 405 (and an ``Allow`` header)
  and unknown paths under the family prefix with 404,
* turns every reply Envoy makes itself (bad JSON body, upstream down, timeout, body too
  large, ...) into the family's JSON error envelope through ``local_reply_config``,
* and, in the Lua filter (``partner.lua``), turns a gRPC error that carries the service's
  envelope in trailing metadata (``x-envelope-status`` / ``x-envelope``) into that exact
  HTTP status and body, and any other gRPC error into the family's 500 envelope.

The parts, one job each: gateway/routes.py (the route table), gateway/replies.py (local
replies and the Lua fallbacks), gateway/clusters.py, gateway/listeners.py (the connection
manager, the stats listener), gateway/common.py (shared constants and helpers),
gateway/families.py (the families from the registry). This module assembles them
(``render``, pure: it touches nothing but the Lua file and the OpenAPI document it
embeds) and holds the CLI (``main``, which writes YAML) and the compose variant.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from gateway.clusters import ADMIN_CLUSTER, _admin_cluster, _cluster  # noqa: F401 (ADMIN_CLUSTER re-exported)
from gateway.common import (  # noqa: F401 (re-exported: the renderer's public names)
    CLIENT_REQUEST_ID_HEADER,
    CORS_FILTER_NAME,
    DEFAULT_DESCRIPTOR,
    DEFAULT_LUA,
    LUA_FILTER_NAME,
    MAX_REQUEST_BODY_BYTES,
    OPENAPI_FILE,
    OPENAPI_PATH,
    ROOT,
    TRANSCODER_FILTER_NAME,
    _socket_address,
)
from gateway.dashboard_routes import dashboard_routes
from gateway.edges import _with_body_checks, _with_edge_limits
from gateway.families import Family, default_upstream_addrs, http_families, registered
from gateway.listeners import _gateway_hcm, _stats_listener
from gateway.replies import ENVOY_SLOTS, LUA_SLOTS, _lua_metadata, _plain_not_found  # noqa: F401
from gateway.routes import _asset_routes, _family_routes, _openapi_405_route, _openapi_route, _with_browser_policy
from platform_core.family import FAMILY_LOCAL_REPLIES, LocalReply, Slots, StaticAsset  # noqa: F401

# Every family's HTTP face, in registry order (render() reads this name when it runs, so
# a test may put another tuple here).
FAMILIES: tuple[Family, ...] = http_families()

# Default upstream addresses per cluster when the CLI's environment does not name any.
DEFAULT_UPSTREAM_ADDRS: dict[str, str] = default_upstream_addrs()


# --------------------------------------------------------------------------- render


def render(
    *,
    listen_host: str,
    listen_port: int,
    admin_host: str,
    admin_port: int,
    descriptor_path: str,
    upstreams: dict[str, list[tuple[str, int]]],
    lua_path: str,
    route_timeout_s: float = 15.0,
    xff_trusted_hops: int = 0,
    stats_host: str = "127.0.0.1",
    stats_port: int | None = None,
    openapi_path: str | None = str(OPENAPI_FILE),
) -> dict[str, Any]:
    """Returns the Envoy bootstrap for `FAMILIES` as a dict (dump it as YAML or JSON).

    `upstreams` maps each family's cluster name to its gRPC endpoints (round robin).
    `descriptor_path` is the descriptor set the transcoder loads at start-up, and
    `lua_path` the Lua filter source, embedded inline. `xff_trusted_hops` is the number
    of trusted proxies in front of Envoy whose X-Forwarded-For entries name the client
    (0: Envoy is the edge and the client IP is the connection's peer). With `stats_port`,
    a second listener on `stats_host` serves only `/stats/prometheus` and `/ready` of the
    admin interface (docs/observability.md). `openapi_path` is the OpenAPI document served
    at OPENAPI_PATH (None: not served).
    """
    missing = sorted({f.cluster for f in FAMILIES} - set(upstreams))
    if missing:
        raise ValueError(f"no upstream endpoints for cluster(s): {', '.join(missing)}")
    if route_timeout_s <= 0:
        raise ValueError("route_timeout_s must be positive")
    if xff_trusted_hops < 0:
        raise ValueError("xff_trusted_hops must not be negative")
    lua_source = _with_edge_limits(pathlib.Path(lua_path).read_text(encoding="utf-8"))
    spec = pathlib.Path(openapi_path).read_text(encoding="utf-8") if openapi_path else None

    routes: list[dict[str, Any]] = [_openapi_route(spec), _openapi_405_route()] if spec is not None else []
    routes.extend(dashboard_routes())
    for family in FAMILIES:
        routes.extend(_asset_routes(family))
        routes.extend(_with_body_checks(family, _with_browser_policy(
            family, _family_routes(family, route_timeout_s), route_timeout_s), descriptor_path))
    routes.append(
        {
            "name": "not-found",
            "match": {"prefix": "/"},
            "direct_response": {"status": 404},
            "metadata": _lua_metadata(404, _plain_not_found(LUA_SLOTS)),
        }
    )

    hcm = _gateway_hcm(FAMILIES, routes, lua_source=lua_source, descriptor_path=descriptor_path,
                       xff_trusted_hops=xff_trusted_hops, spec=spec)

    clusters = [_cluster(name, list(endpoints)) for name, endpoints in sorted(upstreams.items())]
    stats = []
    if stats_port is not None:
        stats.append(_stats_listener(stats_host, stats_port))
        clusters.append(_admin_cluster(admin_host, admin_port))

    return {
        "admin": {"address": _socket_address(admin_host, admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": _socket_address(listen_host, listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                },
                *stats,
            ],
            "clusters": clusters,
        },
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                        "DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50000,
                    },
                }
            ]
        },
    }


# --------------------------------------------------------------------------- CLI


def parse_addrs(text: str) -> list[tuple[str, int]]:
    """Parses "host:port,host:port" (IPv6 as "[::1]:50051") into endpoints."""
    endpoints: list[tuple[str, int]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"bad address {item!r}: expected host:port")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(f"bad port in {item!r}")
        endpoints.append((host, number))
    if not endpoints:
        raise ValueError(f"no addresses in {text!r}")
    return endpoints


def upstreams_from_env(env: Mapping[str, str]) -> dict[str, list[tuple[str, int]]]:
    """Every family cluster's endpoints from ``<CLUSTER>_GRPC_ADDRS`` (e.g. INSTANCE_GRPC_ADDRS)."""
    upstreams: dict[str, list[tuple[str, int]]] = {}
    for cluster in dict.fromkeys(f.cluster for f in FAMILIES):
        var = f"{cluster.upper()}_GRPC_ADDRS"
        text = env.get(var) or DEFAULT_UPSTREAM_ADDRS.get(cluster)
        if not text:
            raise ValueError(f"{var} is not set")
        upstreams[cluster] = parse_addrs(text)
    return upstreams


# The docker compose deployment (docker-compose.yml, docs/deployment.md) runs Envoy from
# the official image on this file, committed and kept fresh by `make gateway-config`
# (a test compares it with compose_config()). The descriptor set is mounted at
# COMPOSE_DESCRIPTOR; the Lua filter is inline, so it needs no file in the container.
COMPOSE_CONFIG = pathlib.Path(__file__).resolve().parent / "envoy.compose.yaml"
COMPOSE_DESCRIPTOR = "/etc/envoy/partnerlytics.pb"
COMPOSE_LISTEN_PORT = 8080
COMPOSE_ADMIN_PORT = 9901
# Envoy's Prometheus stats for the compose network's scraper (only /stats/prometheus, /ready).
COMPOSE_STATS_PORT = 9902


def compose_config(descriptor_path: str = COMPOSE_DESCRIPTOR) -> dict[str, Any]:
    """The bootstrap of the compose gateway: every interface of the Envoy container, each
    family's cluster at its compose service name (STRICT_DNS: every replica's address of a
    scaled service is an endpoint), the admin interface on the container's loopback only.
    `descriptor_path` is a parameter so that tests can validate it against the local file."""
    ports = {family.name: family.base_port for family in registered()}  # services/registry.py
    return render(
        listen_host="0.0.0.0",
        listen_port=COMPOSE_LISTEN_PORT,
        admin_host="127.0.0.1",
        admin_port=COMPOSE_ADMIN_PORT,
        descriptor_path=descriptor_path,
        upstreams={cluster: [(cluster, ports[cluster])] for cluster in dict.fromkeys(f.cluster for f in FAMILIES)},
        lua_path=str(DEFAULT_LUA),
        stats_host="0.0.0.0",
        stats_port=COMPOSE_STATS_PORT,
    )


def dump(config: dict[str, Any]) -> str:
    """The bootstrap as the YAML Envoy reads (the CLI's output and the compose file)."""
    return yaml.safe_dump(config, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(description="Render the Envoy gateway bootstrap as YAML.")
    parser.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    parser.add_argument(
        "--compose", action="store_true",
        help="render the docker compose variant (compose_config(); every other option is ignored)",
    )
    parser.add_argument("--listen-host", default=env.get("GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--listen-port", type=int, default=int(env.get("GATEWAY_PORT", "8080")))
    parser.add_argument("--admin-host", default=env.get("GATEWAY_ADMIN_HOST", "127.0.0.1"))
    parser.add_argument("--admin-port", type=int, default=int(env.get("GATEWAY_ADMIN_PORT", "9901")))
    parser.add_argument("--stats-host", default=env.get("GATEWAY_STATS_HOST", "127.0.0.1"))
    parser.add_argument("--stats-port", type=int, default=int(env.get("GATEWAY_STATS_PORT", "9902")),
                        help="Prometheus stats of Envoy (/stats/prometheus); 0: no stats listener")
    parser.add_argument("--descriptor", default=env.get("GATEWAY_DESCRIPTOR", str(DEFAULT_DESCRIPTOR)))
    parser.add_argument("--lua", default=str(DEFAULT_LUA))
    parser.add_argument(
        "--route-timeout", type=float, default=float(env.get("GATEWAY_ROUTE_TIMEOUT_S", "15"))
    )
    parser.add_argument(
        "--xff-trusted-hops", type=int, default=int(env.get("GATEWAY_XFF_TRUSTED_HOPS", "0")),
        help="trusted proxies in front of Envoy (their X-Forwarded-For entries name the client)",
    )
    args = parser.parse_args(argv)
    try:
        config = compose_config() if args.compose else render(
            listen_host=args.listen_host,
            listen_port=args.listen_port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            descriptor_path=str(pathlib.Path(args.descriptor).resolve()),
            upstreams=upstreams_from_env(env),
            lua_path=args.lua,
            route_timeout_s=args.route_timeout,
            xff_trusted_hops=args.xff_trusted_hops,
            stats_host=args.stats_host,
            stats_port=args.stats_port or None,
        )
    except ValueError as exc:
        parser.error(str(exc))
    text = dump(config)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
