"""Constants and small builders every part of the gateway renderer shares (gateway/)."""

from __future__ import annotations

import ipaddress
import json
import pathlib
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DESCRIPTOR = ROOT / "gen" / "partnerlytics.pb"
DEFAULT_LUA = pathlib.Path(__file__).resolve().parent / "partner.lua"

# The OpenAPI document of every route (tools/genopenapi.py, `make proto`), answered by
# Envoy itself at this path; the route configuration's direct-response limit is raised
# to its size.
OPENAPI_PATH = "/openapi.json"
OPENAPI_FILE = ROOT / "docs" / "openapi.json"

# The Lua filter's config name. Route metadata for the Lua script and the dynamic
# metadata it writes live under this namespace.
LUA_FILTER_NAME = "envoy.filters.http.lua"
TRANSCODER_FILTER_NAME = "envoy.filters.http.grpc_json_transcoder"
CORS_FILTER_NAME = "envoy.filters.http.cors"

# The caller's X-Request-ID is moved to this header before the connection manager looks
# at request ids, so that Envoy always generates a fresh UUID v4; the Lua filter then
# puts the caller's id back when it is a valid UUID. See docs/gateway.md.
CLIENT_REQUEST_ID_HEADER = "x-gateway-client-request-id"

# Request bodies larger than this are refused by the transcoder with 413.
MAX_REQUEST_BODY_BYTES = 256 * 1024
# Upstream connect timeout. Loopback / in-cluster connects take well under a millisecond;
# a refused connection fails at once, a black-holed one after this long.
UPSTREAM_CONNECT_TIMEOUT_S = 1.0
# Response headers (gRPC initial metadata and a trailers-only error, which carries the
# JSON envelope) may be this large. The services cap their envelopes well below it.
MAX_UPSTREAM_RESPONSE_HEADERS_KB = 96


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    """A typed_config: {"@type": "type.googleapis.com/<type_name>", **fields}."""
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def _duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _compact_json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)
