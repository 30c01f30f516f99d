"""The upstream clusters: one per family (round robin over its replicas), and the
admin interface's for the stats listener."""

from __future__ import annotations

from typing import Any

from gateway.common import (
    MAX_UPSTREAM_RESPONSE_HEADERS_KB,
    UPSTREAM_CONNECT_TIMEOUT_S,
    _duration,
    _is_ip,
    _socket_address,
)


def _cluster(name: str, endpoints: list[tuple[str, int]]) -> dict[str, Any]:
    if not endpoints:
        raise ValueError(f"cluster {name} has no endpoints")
    all_ips = all(_is_ip(host) for host, _ in endpoints)
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if all_ips else "STRICT_DNS",
        "connect_timeout": _duration(UPSTREAM_CONNECT_TIMEOUT_S),
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _socket_address(h, p)}} for h, p in endpoints]}
            ],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {
                    "idle_timeout": "300s",
                    "max_response_headers_kb": MAX_UPSTREAM_RESPONSE_HEADERS_KB,
                },
                "explicit_http_config": {
                    "http2_protocol_options": {
                        # Notice a dead or half-open upstream connection instead of
                        # sending requests into it.
                        "connection_keepalive": {"interval": "30s", "timeout": "5s"},
                    }
                },
            }
        },
        # A host whose connections fail (refused, reset, timed out) is ejected for a
        # while, so that with several endpoints the others take the traffic. gRPC errors
        # are HTTP 200 responses and do not count.
        "outlier_detection": {
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 3,
            "base_ejection_time": "10s",
        },
    }
    if not all_ips:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


ADMIN_CLUSTER = "envoy_admin"


def _admin_cluster(host: str, port: int) -> dict[str, Any]:
    # The admin interface speaks HTTP/1.1; a wildcard admin address is reached on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": _duration(UPSTREAM_CONNECT_TIMEOUT_S),
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}],
        },
    }
