"""Renders the Envoy bootstrap of the partner API gateway.

The gateway is one Envoy listener in front of the Python gRPC services. For every API
family (see `FAMILIES`) it

* transcodes the documented REST/JSON endpoints to gRPC with the gRPC-JSON transcoder,
* answers undocumented methods on a documented path with 405 (and an ``Allow`` header)
  and unknown paths under the family prefix with 404,
* turns every reply Envoy makes itself (bad JSON body, upstream down, timeout, body too
  large, ...) into the family's JSON error envelope through ``local_reply_config``,
* and, in the Lua filter (``partner.lua``), turns a gRPC error that carries the service's
  envelope in trailing metadata (``x-envelope-status`` / ``x-envelope``) into that exact
  HTTP status and body, and any other gRPC error into the family's 500 envelope.

``render`` is pure: it returns the bootstrap as a dict and touches nothing but the Lua
file it embeds. ``main`` is the CLI that writes it as YAML (see docs/gateway.md).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import ipaddress
import json
import os
import pathlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DESCRIPTOR = ROOT / "gen" / "partnerlytics.pb"
DEFAULT_LUA = pathlib.Path(__file__).resolve().parent / "partner.lua"

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


# What fills meta.timestamp, meta.requestId and the method in a reply's body: Envoy
# substitution commands in local replies, placeholders when the Lua filter builds it.
@dataclass(frozen=True)
class Slots:
    timestamp: str
    request_id: str
    method: str


# The method as the caller sent it: the transcoder rewrites :method to POST when a path
# also matches another method's URI template (GET /api/analytics/track).
ENVOY_SLOTS = Slots(
    timestamp="%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%", request_id="%REQ(X-REQUEST-ID)%",
    method="%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
)
LUA_SLOTS = Slots(timestamp="{{timestamp}}", request_id="{{request_id}}", method="{{method}}")


@dataclass(frozen=True)
class Family:
    """One documented API family served by one upstream cluster."""

    name: str  # "instance"
    prefix: str  # "/partner/v1/": unknown paths under it get the family's 404 envelope
    cluster: str  # "instance"
    grpc_services: tuple[str, ...]  # fully qualified gRPC service names to transcode
    routes: tuple[tuple[str, tuple[str, ...]], ...]  # (documented path, allowed methods)
    envelope: str  # error envelope style, a key of ENVELOPES
    # The replies Envoy makes itself under `prefix`, in mapper order (the first that
    # matches wins, the last is the catch-all); None means FAMILY_LOCAL_REPLIES.
    local_replies: tuple["LocalReply", ...] | None = None
    # Paths that browsers call cross-origin (public, no key): their routes get the CORS
    # policy (preflights answered by Envoy) and the client headers (BROWSER_HEADERS).
    browser_paths: tuple[str, ...] = ()
    # Files the gateway serves itself under `prefix` (e.g. a tracker script).
    assets: tuple["StaticAsset", ...] = ()

    def replies(self) -> tuple["LocalReply", ...]:
        return self.local_replies if self.local_replies is not None else FAMILY_LOCAL_REPLIES

    def reply_for(self, status: int) -> "LocalReply":
        """The family's reply for a local reply status (the catch-all when none names it)."""
        for reply in self.replies():
            if reply.status == status and reply.details_prefix is None:
                return reply
        return self.replies()[-1]


# --------------------------------------------------------------------------- envelopes


@dataclass(frozen=True)
class LocalReply:
    """How one kind of reply the gateway makes itself looks under a family prefix."""

    status: int | None  # the local reply status it matches; None matches any
    reply_status: int  # the status sent to the client
    error: str
    message: str  # "{method}" stands for the request's method
    fields: tuple[tuple[str, str, str], ...] | None = None  # (field, message, code)
    # Only local replies whose response code details start with this (a CEL filter).
    details_prefix: str | None = None
    details: str | None = None  # the `details` string, where the family's document has one
    retry_after: int | None = None  # the body's `retry_after` seconds (campaign 503)

    def body(self, style: str, slots: Slots) -> dict[str, Any]:
        return ENVELOPES[style](self, slots)


EnvelopeBuilder = Callable[[LocalReply, Slots], dict[str, Any]]


def _partner_envelope(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The partner families' error body (instance and campaign documents)."""
    body: dict[str, Any] = {
        "success": False,
        "error": reply.error,
        "message": reply.message.replace("{method}", slots.method),
    }
    if reply.details is not None:
        body["details"] = reply.details
    if reply.fields is not None:
        body["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.retry_after is not None:
        body["retry_after"] = reply.retry_after
    body["meta"] = {"timestamp": slots.timestamp, "requestId": slots.request_id}
    return body


def _affiliate_envelope(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The affiliate family's error body: `error` is an object with `code`, `message` and
    `details` (field -> messages); no `meta`. `LocalReply.error` holds the code."""
    error: dict[str, Any] = {"code": reply.error, "message": reply.message.replace("{method}", slots.method)}
    if reply.fields is not None:
        details: dict[str, list[str]] = {}
        for field, message, _code in reply.fields:
            details.setdefault(field, []).append(message)
        error["details"] = details
    return {"success": False, "error": error}


ENVELOPES: dict[str, EnvelopeBuilder] = {"partner": _partner_envelope, "affiliate": _affiliate_envelope}


def _voucher_envelope(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The voucher document's error body: `error` holds the code, `fields` go to details."""
    details: dict[str, Any] = {}
    if reply.fields is not None:
        details["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.details is not None:
        details["reason"] = reply.details
    return {"error": {"code": reply.error, "message": reply.message.replace("{method}", slots.method),
                      "details": details}}


ENVELOPES["voucher"] = _voucher_envelope


def _landing_envelope(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The landing family's error body (services/landing/envelope.py builds the same for
    the service's errors): `reply.error` is its machine-readable `code`."""
    body: dict[str, Any] = {
        "success": False,
        "error": reply.message.replace("{method}", slots.method),
        "code": reply.error,
    }
    if reply.fields is not None:
        body["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.retry_after is not None:
        body["retry_after"] = reply.retry_after
    body["request_id"] = slots.request_id
    return body


ENVELOPES["landing"] = _landing_envelope


NOT_FOUND = LocalReply(404, 404, "Not Found", "The requested resource was not found")
METHOD_NOT_ALLOWED = LocalReply(405, 405, "Method Not Allowed", "Method {method} is not allowed on this path")
# The transcoder refusing the body: not JSON, not an object, a value of the wrong JSON
# type. (It would also refuse a malformed query value for a typed field, but the
# documented query parameters are strings in the protos so that the services validate
# them, every bad one in a single 400.)
BAD_BODY = LocalReply(
    400,
    400,
    "Bad Request",
    "Validation failed for 1 fields",
    (("body", "Request body must be a valid JSON object", "invalid_json"),),
    details_prefix="grpc_json_transcode_failure",
)
# Any other 400 Envoy makes itself: a query parameter given twice (the transcoder
# refuses it), or a request its HTTP codec cannot parse. Still the documented 400
# template, with the request as the offending field.
MALFORMED_REQUEST = LocalReply(
    400,
    400,
    "Bad Request",
    "Validation failed for 1 fields",
    (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
      "malformed_request"),),
)
PAYLOAD_TOO_LARGE = LocalReply(413, 413, "Payload Too Large", "The request body is too large")
UNSUPPORTED_MEDIA_TYPE = LocalReply(
    415, 415, "Unsupported Media Type", "This API accepts JSON; gRPC clients must call the service directly"
)
SERVICE_UNAVAILABLE = LocalReply(
    503, 503, "Service Unavailable", "The service is temporarily unavailable. Please try again later"
)
GATEWAY_TIMEOUT = LocalReply(
    504, 504, "Gateway Timeout", "The service did not respond in time. Please try again later"
)
INTERNAL_ERROR = LocalReply(
    None, 500, "Internal Server Error", "An unexpected error occurred. Please try again later"
)

# In mapper order: the first that matches wins, the last is the catch-all.
FAMILY_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    BAD_BODY,
    MALFORMED_REQUEST,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    SERVICE_UNAVAILABLE,
    GATEWAY_TIMEOUT,
    INTERNAL_ERROR,
)


# The campaign document words its gateway errors itself and has a 502: the service
# cannot be reached (Envoy's 503: refused, reset, no healthy host) is its 502 "Upstream
# service unavailable."; its 503, with `retry_after`, comes from the service when the
# database is down (docs/gateway.md).
CAMPAIGN_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    BAD_BODY,
    MALFORMED_REQUEST,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    LocalReply(503, 502, "Bad Gateway", "Upstream service unavailable.",
               details="The campaign analytics service could not be reached."),
    LocalReply(502, 502, "Bad Gateway", "Upstream service unavailable.",
               details="The campaign analytics service sent an invalid response."),
    LocalReply(504, 504, "Gateway Timeout", "Request timeout. Please try again.",
               details="The campaign analytics service did not answer in time."),
    INTERNAL_ERROR,
)

# The landing family's own wording, in its `{"success": false, "error", "code", ...}`
# shape; `error` of a LocalReply is the body's `code` there.
LANDING_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "The requested resource was not found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(
        400, 400, "INVALID_REQUEST", "Validation failed for 1 fields",
        (("body", "Request body must be a valid JSON object", "invalid_json"),),
        details_prefix="grpc_json_transcode_failure",
    ),
    LocalReply(
        400, 400, "INVALID_REQUEST", "Validation failed for 1 fields",
        (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
          "malformed_request"),),
    ),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE", "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later",
               retry_after=5),
    LocalReply(504, 504, "TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(None, 500, "INTERNAL_ERROR", "An unexpected error occurred. Please try again later"),
)


@dataclass(frozen=True)
class StaticAsset:
    """A file the gateway answers itself (a direct response), rendered into the config."""

    path: str
    file: pathlib.Path
    content_type: str
    max_age_s: int = 3600

    def source(self) -> str:
        return self.file.read_text(encoding="utf-8")


# text/javascript: the JavaScript media type of RFC 9239 (application/javascript is obsolete),
# and one that generated API clients read as text.
TRACKER_JS = StaticAsset(
    "/api/analytics/tracker.js", pathlib.Path(__file__).resolve().parent / "tracker.js",
    "text/javascript; charset=utf-8",
)

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

# The OpenAPI document of every route (tools/genopenapi.py, `make proto`), answered by
# Envoy itself at this path; the route configuration's direct-response limit is raised
# to its size.
OPENAPI_PATH = "/openapi.json"
OPENAPI_FILE = ROOT / "docs" / "openapi.json"

FAMILIES: tuple[Family, ...] = (
    Family(
        name="instance",
        prefix="/partner/v1/",
        cluster="instance",
        grpc_services=("partnerlytics.instance.v1.InstanceAnalyticsService",),
        routes=(("/partner/v1/instances/analytics", ("GET", "POST")),),
        envelope="partner",
    ),
    Family(
        name="campaign",
        prefix="/api/partner/v1/",
        cluster="campaign",
        grpc_services=("partnerlytics.campaign.v1.CampaignAnalyticsService",),
        routes=(("/api/partner/v1/campaigns/{campaign_id}/analytics", ("GET",)),),
        envelope="partner",
        local_replies=CAMPAIGN_LOCAL_REPLIES,
    ),
    Family(
        name="landing",
        prefix="/api/analytics/",
        cluster="landing",
        grpc_services=("partnerlytics.landing.v1.LandingAnalyticsService",),
        # The track path first: "/api/analytics/track" also matches "{tenant_id}".
        routes=(
            ("/api/analytics/track", ("POST",)),
            ("/api/analytics/{tenant_id}/today", ("GET",)),
            ("/api/analytics/{tenant_id}", ("GET",)),
        ),
        envelope="landing",
        local_replies=LANDING_LOCAL_REPLIES,
        browser_paths=("/api/analytics/track",),
        assets=(TRACKER_JS,),
    ),
)

# Default upstream addresses per cluster when the CLI's environment does not name any.
DEFAULT_UPSTREAM_ADDRS: dict[str, str] = {
    "instance": "127.0.0.1:50051", "campaign": "127.0.0.1:50052", "landing": "127.0.0.1:50055",
}

# The voucher family's own wording of the same replies (codes as in services/voucher/errors.py).
VOUCHER_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "The requested resource was not found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(400, 400, "INVALID_REQUEST_BODY", "Request body must be a valid JSON object",
               (("body", "Request body must be a valid JSON object", "invalid_json"),),
               details_prefix="grpc_json_transcode_failure"),
    LocalReply(400, 400, "INVALID_PARAMETER", "The request could not be parsed",
               (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
                 "malformed_request"),)),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE", "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later"),
    LocalReply(504, 504, "GATEWAY_TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(None, 500, "INTERNAL_ERROR", "An unexpected error occurred. Please try again later"),
)

FAMILIES += (
    Family(
        name="voucher",
        prefix="/v1/analytics/",
        cluster="voucher",
        grpc_services=("partnerlytics.voucher.v1.VoucherAnalyticsService",),
        routes=(
            ("/v1/analytics/vouchers/{voucher_id}/performance", ("GET",)),
            ("/v1/analytics/vouchers/{voucher_id}/trends", ("GET",)),
            ("/v1/analytics/vouchers/{voucher_id}/customers", ("GET",)),
            ("/v1/analytics/export", ("POST",)),
            ("/v1/analytics/export/{export_id}", ("GET",)),
            ("/v1/analytics/export/{export_id}/download", ("GET",)),
        ),
        envelope="voucher",
        local_replies=VOUCHER_LOCAL_REPLIES,
    ),
)

DEFAULT_UPSTREAM_ADDRS["voucher"] = "127.0.0.1:50054"

# The affiliate family's own wording (its document's codes; 400s Envoy makes itself are
# reported as the document's 422 VALIDATION_ERROR, the family's only client-error shape
# for a bad request).
AFFILIATE_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "Not Found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(
        400, 422, "VALIDATION_ERROR", "Validation failed",
        (("body", "The request body must be a valid JSON object with the documented fields.", "invalid_json"),),
        details_prefix="grpc_json_transcode_failure",
    ),
    LocalReply(
        400, 422, "VALIDATION_ERROR", "Validation failed",
        (("request", "The request could not be parsed, e.g. a query parameter was given more than once.",
          "malformed_request"),),
    ),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE",
               "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable. Please try again later"),
    LocalReply(504, 504, "GATEWAY_TIMEOUT", "The service did not respond in time. Please try again later"),
    LocalReply(None, 500, "INTERNAL_ERROR", "Internal server error"),
)


# The affiliate family, added here because its local replies are defined just above.
FAMILIES += (
    Family(
        name="affiliate",
        prefix="/v1/affiliate/",
        cluster="affiliate",
        grpc_services=(
            "partnerlytics.affiliate.v1.AffiliateAnalyticsService",
            "partnerlytics.affiliate.v1.AffiliateIngestionService",
        ),
        routes=(
            ("/v1/affiliate/analytics", ("GET",)),
            # Ingestion over HTTP (not in the document; docs/architecture.md).
            ("/v1/affiliate/affiliates:batch", ("POST",)),
            ("/v1/affiliate/tracking-codes:batch", ("POST",)),
            ("/v1/affiliate/products:batch", ("POST",)),
            ("/v1/affiliate/events:batch", ("POST",)),
            ("/v1/affiliate/conversions:batch", ("POST",)),
        ),
        envelope="affiliate",
        local_replies=AFFILIATE_LOCAL_REPLIES,
    ),
)

DEFAULT_UPSTREAM_ADDRS["affiliate"] = "127.0.0.1:50053"


def _plain_not_found(slots: Slots) -> dict[str, Any]:
    """The 404 for paths outside every family (no family envelope applies there)."""
    return {"error": "Not Found", "message": "The requested resource was not found", "requestId": slots.request_id}


# --------------------------------------------------------------------------- helpers


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


def _status_filter(code: int) -> dict[str, Any]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": code, "runtime_key": f"gateway.local_reply.status_{code}"},
            }
        }
    }


def _details_prefix_filter(prefix: str) -> dict[str, Any]:
    if not prefix.replace("_", "").isalnum():
        raise ValueError(f"unsafe details prefix {prefix!r}")
    return {
        "extension_filter": {
            "name": "envoy.access_loggers.extension_filters.cel",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                "expression": f"response.code_details.startsWith('{prefix}')",
            },
        }
    }


def _family_filter(family: Family) -> dict[str, Any]:
    # A transcoded request's :path is already "/<package>.<Service>/<Method>" when the
    # router (or the transcoder itself, for a bad body) sends a local reply; the
    # transcoder keeps the REST path in x-envoy-original-path.
    return {
        "or_filter": {
            "filters": [
                {"header_filter": {"header": {"name": name, "string_match": {"prefix": family.prefix}}}}
                for name in (":path", "x-envoy-original-path")
            ]
        }
    }


def _reply_format(body: dict[str, Any]) -> dict[str, Any]:
    # A text format holding a JSON template instead of `json_format`: `json_format`
    # goes through a protobuf Struct, which sorts the keys ("success" would come last),
    # while the documents and the services put success, error, message, fields, meta in
    # that order. The only commands in these templates are START_TIME, the request id
    # (always a UUID: Envoy's own or one the Lua filter checked) and :METHOD (an HTTP
    # token, which cannot hold a quote or a backslash), so none needs JSON escaping.
    return {"text_format_source": {"inline_string": _compact_json(body)}, "content_type": "application/json"}


def _family_mappers(family: Family) -> list[dict[str, Any]]:
    path_filter = _family_filter(family)
    mappers = []
    for reply in family.replies():
        filters = [path_filter]
        if reply.status is not None:
            filters.append(_status_filter(reply.status))
        if reply.details_prefix is not None:
            filters.append(_details_prefix_filter(reply.details_prefix))
        flt = filters[0] if len(filters) == 1 else {"and_filter": {"filters": filters}}
        mapper: dict[str, Any] = {
            "filter": flt,
            "body_format_override": _reply_format(reply.body(family.envelope, ENVOY_SLOTS)),
        }
        if reply.reply_status != reply.status:
            mapper["status_code"] = reply.reply_status
        mappers.append(mapper)
    return mappers


def _local_reply_config(serves_openapi: bool = False) -> dict[str, Any]:
    mappers: list[dict[str, Any]] = [_file_mapper(OPENAPI_PATH, "application/json")] if serves_openapi else []
    for family in FAMILIES:
        mappers.extend(_asset_mappers(family))
        mappers.extend(_pre_request_id_mappers(family))
        mappers.extend(_family_mappers(family))
    mappers.append(_pathless_mapper())
    # Outside every family: a plain JSON 404, and a plain JSON body for anything else.
    mappers.append(
        {"filter": _status_filter(404), "body_format_override": _reply_format(_plain_not_found(ENVOY_SLOTS))}
    )
    return {
        "mappers": mappers,
        # %LOCAL_REPLY_BODY% is Envoy's own text: json_format escapes it properly.
        "body_format": {
            "json_format": {
                "error": "%LOCAL_REPLY_BODY%",
                "status": "%RESPONSE_CODE%",
                "requestId": ENVOY_SLOTS.request_id,
            },
            "content_type": "application/json",
        },
    }


def _lua_metadata(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """Route metadata telling the Lua filter what to answer for a gRPC error without an
    envelope on this route: an upstream failure, or a local reply Envoy turned into a
    gRPC status because the caller sent a gRPC content type. {{timestamp}},
    {{request_id}} and {{method}} in the body are filled in by the Lua filter."""
    entry = {"fallback_status": str(status), "fallback_body": _compact_json(body)}
    return {"filter_metadata": {LUA_FILTER_NAME: entry}}


def _reply_metadata(reply: LocalReply, family: Family) -> dict[str, Any]:
    return _lua_metadata(reply.reply_status, reply.body(family.envelope, LUA_SLOTS))


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


def _asset_mappers(family: Family) -> list[dict[str, Any]]:
    """An asset's direct response keeps its body and content type (the top-level
    body_format would otherwise wrap it in JSON, and the family's catch-all turn it into
    a 500)."""
    return [_file_mapper(asset.path, asset.content_type) for asset in family.assets]


def _file_mapper(path: str, content_type: str) -> dict[str, Any]:
    """The local reply mapper that keeps a file's direct response (body, content type)."""
    return {
            "filter": {
                "and_filter": {
                    "filters": [
                        # The transcoder may have rewritten :path (the asset's path also
                        # matches a URI template); it keeps the original.
                        {
                            "or_filter": {
                                "filters": [
                                    {"header_filter": {"header": {"name": name, "string_match": {"exact": path}}}}
                                    for name in (":path", "x-envoy-original-path")
                                ]
                            }
                        },
                        _status_filter(200),
                    ]
                }
            },
            "body_format_override": {
                "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
                "content_type": content_type,
            },
        }


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


# --------------------------------------------------------------------------- stats

ADMIN_CLUSTER = "envoy_admin"
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


# --------------------------------------------------------------------------- edge requests


def _http1_options() -> dict[str, Any]:
    """HTTP/1.1 codec options of the public listener.

    `allow_custom_methods`: a method token the codec does not know (`QUERY`, `FOO`) is
    parsed instead of being a codec error, a bare 400 with no request id. The request
    then reaches the routes, and a documented path answers it with the family's 405 and
    `Allow`, like DELETE or PUT (docs/gateway.md, "Requests at the edges").
    """
    return {"allow_custom_methods": True}


# Replies the connection manager makes before it has generated a request id (the path
# failed normalization, a QUERY without Content-Type, a request the codec could not
# parse): the id is generated for the reply itself (%UNIQUE_ID%, a UUID v4) into the
# response's X-Request-ID, and the body reads it back from there.
GENERATED_ID_SLOTS = Slots(timestamp=ENVOY_SLOTS.timestamp, request_id="%RESP(X-REQUEST-ID)%",
                           method=ENVOY_SLOTS.method)
# (response code details, field, message, code) of the causes a family path can meet.
PRE_ID_CAUSES: tuple[tuple[str, str, str, str], ...] = (
    ("path_normalization_failed", "path",
     "The path holds a character that is not allowed, e.g. an escaped control character", "invalid_path"),
    ("query_missing_content_type", "content-type", "A QUERY request needs a Content-Type header",
     "missing_content_type"),
)


def _no_request_id_filter() -> dict[str, Any]:
    return {"header_filter": {"header": {"name": "x-request-id", "present_match": True, "invert_match": True}}}


def _generated_id_header() -> list[dict[str, Any]]:
    return [{"header": {"key": "x-request-id", "value": "%UNIQUE_ID%"},
             "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]


def _pre_request_id_mappers(family: Family) -> list[dict[str, Any]]:
    """The family's 400 for each known cause refused before a request id exists."""
    base = family.reply_for(400)
    mappers = []
    for details, field, message, code in PRE_ID_CAUSES:
        reply = dataclasses.replace(base, fields=((field, message, code),))
        mapper: dict[str, Any] = {
            "filter": {"and_filter": {"filters": [
                _family_filter(family), _no_request_id_filter(), _details_prefix_filter(details)]}},
            "headers_to_add": _generated_id_header(),
            "body_format_override": _reply_format(reply.body(family.envelope, GENERATED_ID_SLOTS)),
        }
        if reply.reply_status != 400:
            mapper["status_code"] = reply.reply_status
        mappers.append(mapper)
    return mappers


def _pathless_mapper() -> dict[str, Any]:
    """Anything else without a request id, e.g. request line and headers over the codec's
    limit (431) or a request it cannot parse: the path is not known, so the gateway's
    generic body, with a generated request id."""
    return {
        "filter": _no_request_id_filter(),
        "headers_to_add": _generated_id_header(),
        "body_format_override": {
            "json_format": {"error": "%LOCAL_REPLY_BODY%", "status": "%RESPONSE_CODE%",
                            "requestId": GENERATED_ID_SLOTS.request_id},
            "content_type": "application/json",
        },
    }


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
    lua_source = pathlib.Path(lua_path).read_text(encoding="utf-8")
    spec = pathlib.Path(openapi_path).read_text(encoding="utf-8") if openapi_path else None

    routes: list[dict[str, Any]] = [_openapi_route(spec)] if spec is not None else []
    for family in FAMILIES:
        routes.extend(_asset_routes(family))
        routes.extend(_with_browser_policy(family, _family_routes(family, route_timeout_s), route_timeout_s))
    routes.append(
        {
            "name": "not-found",
            "match": {"prefix": "/"},
            "direct_response": {"status": 404},
            "metadata": _lua_metadata(404, _plain_not_found(LUA_SLOTS)),
        }
    )

    services: list[str] = []
    for family in FAMILIES:
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
            if any(f.browser_paths for f in FAMILIES) else []
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
        "common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"},
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
            **({"max_direct_response_body_size_bytes": max(
                MAX_DIRECT_RESPONSE_BYTES, len(spec.encode("utf-8")) if spec is not None else 0)}
               if any(f.assets for f in FAMILIES) or spec is not None else {}),
            "virtual_hosts": [{"name": "gateway", "domains": ["*"], "routes": routes}],
        },
        "http_filters": http_filters,
        "local_reply_config": _local_reply_config(serves_openapi=spec is not None),
        "access_log": _access_log(),
    }

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
    from platform_core.topology import SERVICES  # the one list of services and their gRPC ports

    ports = {service.name: service.base_port for service in SERVICES}
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
