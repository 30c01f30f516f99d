"""Envoy answering by itself (`direct_response`): the gateway's ceiling on this machine.

Two Envoys, started next to the real gateway in the same run, both answering with the
body the real gateway returned for the 24 h list page 1 (so the client reads the same
bytes):

* ``envoy_minimal``: one listener, one route, the router filter: Envoy alone;
* ``envoy_gateway_chain``: the real gateway bootstrap (``gateway.envoy_config.render``:
  early header mutation, request ids, the Lua filter, the transcoder, local reply
  mappers, the access log) with one extra route answered directly, so the whole filter
  chain runs but no upstream is called.
"""

from __future__ import annotations

from typing import Any


from gateway.envoy_config import render
from stack.run import DESCRIPTOR, ROOT, Stack, free_port

CEILING_PATH = "/bench/ceiling"


def _direct_route(body: str, path: str | None) -> dict[str, Any]:
    return {
        "name": "bench-ceiling",
        "match": {"path": path} if path else {"prefix": "/"},
        "direct_response": {"status": 200, "body": {"inline_string": body}},
        "response_headers_to_add": [
            {"header": {"key": "content-type", "value": "application/json"},
             "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        ],
    }


def minimal_config(port: int, admin_port: int, body: str) -> dict[str, Any]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                 "HttpConnectionManager",
        "stat_prefix": "ceiling",
        "codec_type": "AUTO",
        "route_config": {
            "name": "ceiling",
            "max_direct_response_body_size_bytes": 1024 * 1024,
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [_direct_route(body, None)]}],
        },
        "http_filters": [
            {"name": "envoy.filters.http.router",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "ceiling",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }]
        },
    }


def gateway_chain_config(
    port: int, admin_port: int, body: str, upstreams: dict[str, list[tuple[str, int]]]
) -> dict[str, Any]:
    config = render(
        listen_host="127.0.0.1", listen_port=port, admin_host="127.0.0.1", admin_port=admin_port,
        descriptor_path=str(DESCRIPTOR), upstreams=upstreams, lua_path=str(ROOT / "gateway" / "partner.lua"),
    )
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["max_direct_response_body_size_bytes"] = 1024 * 1024
    hcm["route_config"]["virtual_hosts"][0]["routes"].insert(0, _direct_route(body, CEILING_PATH))
    return config


def start_ceilings(stack: Stack, body: str) -> dict[str, tuple[str, str, int]]:
    """Starts both Envoys; returns name -> (base URL, path to request, envoy pid)."""
    out = {}
    port, admin = free_port(), free_port()
    stack.start_envoy("envoy_minimal", minimal_config(port, admin, body), admin)
    out["envoy_minimal"] = (f"http://127.0.0.1:{port}", "/partner/v1/instances/analytics", stack.processes[-1][1].pid)
    port, admin = free_port(), free_port()
    upstreams = {n: [("127.0.0.1", p) for p in ports] for n, ports in stack.service_ports.items()}
    stack.start_envoy("envoy_gateway_chain", gateway_chain_config(port, admin, body, upstreams), admin)
    out["envoy_gateway_chain"] = (f"http://127.0.0.1:{port}", CEILING_PATH, stack.processes[-1][1].pid)
    return out
