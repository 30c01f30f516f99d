"""The route table: each family's documented paths (transcoded, 405, 415, 404), its
files, its browser paths' CORS policy, and the OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

from gateway.common import CORS_FILTER_NAME, OPENAPI_PATH, _duration, _typed
from gateway.replies import LUA_SLOTS, _lua_metadata, _plain_not_found, _reply_metadata
from platform_core.family import HttpFamily as Family

# Browser calls are cross-origin from any landing page: any origin, no credentials, the
# preflight cached for a day. The rate-limit and request-id headers are readable by the page.
BROWSER_CORS: dict[str, Any] = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
    "allow_origin_string_match": [{"safe_regex": {"regex": ".*"}}],
    "allow_methods": "POST, OPTIONS",
    "allow_headers": "content-type, x-request-id",
    "expose_headers": "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after",
    "max_age": "86400",
    "allow_credentials": False,
}
# What the service learns about a browser caller, set by Envoy (a caller's own values of
# these headers are overwritten): the client IP as the connection manager derived it
# (use_remote_address with `xff_num_trusted_hops`, docs/gateway.md), user agent, referrer.
BROWSER_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-landing-client-ip", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
    ("x-landing-user-agent", "%REQ(USER-AGENT)%"),
    ("x-landing-referer", "%REQ(REFERER)%"),
)
# Envoy refuses direct-response bodies above 4 KiB unless told otherwise.
MAX_DIRECT_RESPONSE_BYTES = 64 * 1024



def _path_match(path: str, **extra: Any) -> dict[str, Any]:
    """An exact path, or a URI template such as /v1/vouchers/{voucher_id}/performance."""
    if "{" in path:
        match: dict[str, Any] = {
            "path_match_policy": {
                "name": "envoy.path.match.uri_template.uri_template_match_config",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                    "path_template": path,
                },
            }
        }
    else:
        match = {"path": path}
    match.update(extra)
    return match


def _method_regex(methods: tuple[str, ...]) -> str:
    return "^(" + "|".join(sorted(set(methods))) + ")$"


def _family_routes(family: Family, route_timeout_s: float) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for path, methods in family.routes:
        if not path.startswith(family.prefix):
            raise ValueError(f"route {path} of family {family.name} is outside {family.prefix}")
        # The transcoder passes a request that already is gRPC through untouched, which
        # would tunnel raw gRPC to the service under a REST path. The public port speaks
        # JSON only; gRPC callers use the service port.
        routes.append(
            {
                "name": f"{family.name}:{path}:415",
                "match": _path_match(
                    path, headers=[{"name": "content-type", "string_match": {"prefix": "application/grpc"}}]
                ),
                "direct_response": {"status": 415},
                "metadata": _reply_metadata(family.reply_for(415), family),
            }
        )
        routes.append(
            {
                "name": f"{family.name}:{path}",
                "match": _path_match(
                    path,
                    headers=[{"name": ":method", "string_match": {"safe_regex": {"regex": _method_regex(methods)}}}],
                ),
                "route": {
                    "cluster": family.cluster,
                    "timeout": _duration(route_timeout_s),
                    # Retry only what never reached the service: a refused or failed
                    # connection, or a stream the server refused before processing it.
                    "retry_policy": {
                        "retry_on": "connect-failure,refused-stream",
                        "num_retries": 2,
                        "retry_host_predicate": [
                            {
                                "name": "envoy.retry_host_predicates.previous_hosts",
                                "typed_config": _typed(
                                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                                ),
                            }
                        ],
                        "host_selection_retry_max_attempts": 3,
                    },
                },
                "metadata": _reply_metadata(family.reply_for(500), family),
            }
        )
        routes.append(
            {
                "name": f"{family.name}:{path}:405",
                "match": _path_match(path),
                "direct_response": {"status": 405},
                "response_headers_to_add": [
                    {
                        "header": {"key": "allow", "value": ", ".join(methods)},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
                "metadata": _reply_metadata(family.reply_for(405), family),
            }
        )
    routes.append(
        {
            "name": f"{family.name}:404",
            "match": {"prefix": family.prefix},
            "direct_response": {"status": 404},
            "metadata": _reply_metadata(family.reply_for(404), family),
        }
    )
    return routes


def _asset_routes(family: Family) -> list[dict[str, Any]]:
    """GET/HEAD of each asset answered by Envoy itself; other methods 405."""
    routes: list[dict[str, Any]] = []
    for asset in family.assets:
        if not asset.path.startswith(family.prefix):
            raise ValueError(f"asset {asset.path} of family {family.name} is outside {family.prefix}")
        routes.append(
            {
                "name": f"{family.name}:{asset.path}",
                "match": _path_match(
                    asset.path,
                    headers=[{"name": ":method", "string_match": {"safe_regex": {"regex": _method_regex(("GET", "HEAD"))}}}],
                ),
                "direct_response": {"status": 200, "body": {"inline_string": asset.source()}},
                "response_headers_to_add": [
                    {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                    for key, value in (
                        ("content-type", asset.content_type),
                        ("cache-control", f"public, max-age={asset.max_age_s}"),
                        ("x-content-type-options", "nosniff"),
                        # Included by pages of any origin.
                        ("cross-origin-resource-policy", "cross-origin"),
                        ("access-control-allow-origin", "*"),
                    )
                ],
                "metadata": _reply_metadata(family.reply_for(500), family),
            }
        )
        routes.append(
            {
                "name": f"{family.name}:{asset.path}:405",
                "match": _path_match(asset.path),
                "direct_response": {"status": 405},
                "response_headers_to_add": [
                    {"header": {"key": "allow", "value": "GET, HEAD"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                ],
                "metadata": _reply_metadata(family.reply_for(405), family),
            }
        )
    return routes


def _openapi_route(spec: str) -> dict[str, Any]:
    """GET/HEAD /openapi.json answered by Envoy with the document (no key needed)."""
    return {
        "name": "openapi",
        "match": _path_match(
            OPENAPI_PATH,
            headers=[{"name": ":method", "string_match": {"safe_regex": {"regex": _method_regex(("GET", "HEAD"))}}}],
        ),
        "direct_response": {"status": 200, "body": {"inline_string": spec}},
        "response_headers_to_add": [
            {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in (
                ("content-type", "application/json"),
                ("cache-control", "no-cache"),
                # Readable by API tools of any origin (it holds nothing secret).
                ("access-control-allow-origin", "*"),
            )
        ],
        "metadata": _lua_metadata(404, _plain_not_found(LUA_SLOTS)),
    }


def _openapi_405_route() -> dict[str, Any]:
    """Any other method of /openapi.json: 405 with `Allow`, in the gateway's plain JSON body
    (the document is outside every family)."""
    return {
        "name": "openapi:405",
        "match": _path_match(OPENAPI_PATH),
        "direct_response": {"status": 405, "body": {"inline_string": "Method Not Allowed"}},
        "response_headers_to_add": [{"header": {"key": "allow", "value": "GET, HEAD"},
                                     "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
        "metadata": _lua_metadata(404, _plain_not_found(LUA_SLOTS)),
    }


def _with_browser_policy(family: Family, routes: list[dict[str, Any]], route_timeout_s: float) -> list[dict[str, Any]]:
    """Adds the CORS policy and the client headers to every route of a browser path, and a
    preflight route before its 405: the CORS filter only answers on a route that forwards
    (a direct-response route has no route entry), and it answers every preflight itself,
    so nothing reaches the cluster of that route."""
    names = {f"{family.name}:{path}{suffix}" for path in family.browser_paths for suffix in ("", ":405", ":415")}
    out: list[dict[str, Any]] = []
    for route in routes:
        for path in family.browser_paths:
            if route["name"] == f"{family.name}:{path}:405":
                preflight = {
                    "name": f"{family.name}:{path}:preflight",
                    "match": _path_match(
                        path,
                        headers=[
                            {"name": ":method", "string_match": {"exact": "OPTIONS"}},
                            {"name": "origin", "present_match": True},
                            {"name": "access-control-request-method", "present_match": True},
                        ],
                    ),
                    "route": {"cluster": family.cluster, "timeout": _duration(route_timeout_s)},
                    "metadata": _reply_metadata(family.reply_for(500), family),
                }
                names.add(preflight["name"])
                out.append(preflight)
        out.append(route)
    routes = out
    for route in routes:
        if route["name"] in names:
            # Copies: a shared object would become a YAML alias in the dump.
            route["typed_per_filter_config"] = {CORS_FILTER_NAME: copy.deepcopy(BROWSER_CORS)}
            route["request_headers_to_add"] = [
                {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                for key, value in BROWSER_HEADERS
            ]
    return routes
