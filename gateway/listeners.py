"""The listeners: the public one's connection manager (filters, request ids, codec
options, access log) and the stats listener in front of the admin interface."""

from __future__ import annotations

from typing import Any

from gateway.clusters import ADMIN_CLUSTER
from gateway.common import (
    CLIENT_REQUEST_ID_HEADER,
    CORS_FILTER_NAME,
    LUA_FILTER_NAME,
    MAX_REQUEST_BODY_BYTES,
    TRANSCODER_FILTER_NAME,
    _socket_address,
    _typed,
)
from gateway.dashboard_routes import dashboard_mappers
from gateway.edges import CODEC_MAX_HEADERS_COUNT, CODEC_MAX_REQUEST_HEADERS_KB
from gateway.replies import _local_reply_config
from gateway.routes import MAX_DIRECT_RESPONSE_BYTES
from platform_core.family import HttpFamily as Family


def _gateway_hcm(
    families: tuple[Family, ...],
    routes: list[dict[str, Any]],
    *,
    lua_source: str,
    descriptor_path: str,
    xff_trusted_hops: int,
    spec: str | None,
) -> dict[str, Any]:
    """The public listener's HttpConnectionManager over `routes`."""
    services: list[str] = []
    for family in families:
        services.extend(s for s in family.grpc_services if s not in services)

    http_filters = [
        # FIRST: it runs first on requests (request id, stripping internal headers) and
        # LAST on responses (gRPC error -> envelope), after the transcoder.
        {
            "name": LUA_FILTER_NAME,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": lua_source},
            },
        },
        *(
            # Answers browsers' preflights and adds the CORS headers on the routes of
            # Family.browser_paths (a per-route policy); a no-op on every other route.
            [{"name": CORS_FILTER_NAME, "typed_config": _typed("envoy.extensions.filters.http.cors.v3.Cors")}]
            if any(f.browser_paths for f in families) else []
        ),
        {
            "name": TRANSCODER_FILTER_NAME,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                "proto_descriptor": str(descriptor_path),
                "services": services,
                "match_incoming_request_route": True,
                "ignore_unknown_query_parameters": True,
                "case_insensitive_enum_parsing": True,
                "max_request_body_size": MAX_REQUEST_BODY_BYTES,
                "print_options": {
                    "add_whitespace": False,
                    "always_print_primitive_fields": True,
                    "always_print_enums_as_ints": False,
                    "preserve_proto_field_names": True,
                },
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        },
    ]

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "use_remote_address": True,
        "xff_num_trusted_hops": xff_trusted_hops,
        "normalize_path": True,
        "merge_slashes": True,
        "request_headers_timeout": "10s",
        # Header names with underscores are dropped rather than refused (a refusal is a bare
        # 400); nothing documented uses them, and dropping stops `x_request_id`-style
        # spoofing of a dashed header by a component that folds "_" into "-".
        "common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER",
                                         "max_headers_count": CODEC_MAX_HEADERS_COUNT},
        "max_request_headers_kb": CODEC_MAX_REQUEST_HEADERS_KB,
        "http_protocol_options": _http1_options(),
        # Request ids: the caller's header is moved aside before the connection manager
        # handles request ids, so Envoy generates a UUID v4 for every request; the Lua
        # filter restores the caller's id when it is a valid UUID.
        "early_header_mutation_extensions": [
            {
                "name": "envoy.http.early_header_mutation.header_mutation",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3."
                    "HeaderMutation",
                    "mutations": [
                        {"remove": CLIENT_REQUEST_ID_HEADER},
                        {
                            "append": {
                                "header": {"key": CLIENT_REQUEST_ID_HEADER, "value": "%REQ(x-request-id)%"},
                                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                                "keep_empty_value": False,
                            }
                        },
                        {"remove": "x-request-id"},
                    ],
                },
            }
        ],
        "generate_request_id": True,
        "preserve_external_request_id": False,
        "always_set_request_id_in_response": True,
        "request_id_extension": {
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
                # Never rewrite a UUID's version nibble with a trace decision.
                "pack_trace_reason": False,
                "use_request_id_for_trace_sampling": False,
            }
        },
        "route_config": {
            "name": "gateway",
            # The assets, the dashboard's files (always served) and the OpenAPI document.
            "max_direct_response_body_size_bytes": max(
                MAX_DIRECT_RESPONSE_BYTES, len(spec.encode("utf-8")) if spec is not None else 0),
            "virtual_hosts": [{"name": "gateway", "domains": ["*"], "routes": routes}],
        },
        "http_filters": http_filters,
        "local_reply_config": _local_reply_config(families, serves_openapi=spec is not None,
                                                  file_mappers=tuple(dashboard_mappers())),
        "access_log": _access_log(),
    }
    return hcm


def _access_log() -> list[dict[str, Any]]:
    return [
        {
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {
                    "json_format": {
                        "time": "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%",
                        "request_id": "%REQ(X-REQUEST-ID)%",
                        "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
                        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                        "status": "%RESPONSE_CODE%",
                        "details": "%RESPONSE_CODE_DETAILS%",
                        "flags": "%RESPONSE_FLAGS%",
                        # Set by the Lua filter, which strips grpc-status from responses.
                        "grpc_status": "%DYNAMIC_METADATA(envoy.filters.http.lua:grpc_status)%",
                        "upstream": "%UPSTREAM_HOST%",
                        "duration_ms": "%DURATION%",
                    }
                },
            },
        }
    ]


# What the stats listener forwards to the admin interface; everything else is a 404, so
# the admin's mutating endpoints (/quitquitquit, /logging, /runtime_modify, ...) stay
# reachable on the admin's own loopback address only.
STATS_PATHS = ("/stats/prometheus", "/ready")


def _stats_listener(host: str, port: int) -> dict[str, Any]:
    """A listener that serves Envoy's Prometheus stats (and /ready) from the admin
    interface, for scrapers that cannot reach the admin's loopback address."""
    routes = [
        {"match": {"path": path}, "route": {"cluster": ADMIN_CLUSTER, "timeout": "5s"}} for path in STATS_PATHS
    ]
    routes.append({"match": {"prefix": "/"}, "direct_response": {"status": 404}})
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "stats",
        "codec_type": "AUTO",
        "route_config": {
            "name": "stats",
            "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    return {
        "name": "stats",
        "address": _socket_address(host, port),
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def _http1_options() -> dict[str, Any]:
    """HTTP/1.1 codec options of the public listener.

    `allow_custom_methods`: a method token the codec does not know (`QUERY`, `FOO`) is
    parsed instead of being a codec error, a bare 400 with no request id. The request
    then reaches the routes, and a documented path answers it with the family's 405 and
    `Allow`, like DELETE or PUT (docs/gateway.md, "Requests at the edges").
    """
    return {"allow_custom_methods": True}
