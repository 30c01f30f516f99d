"""The replies Envoy makes itself: each family's local replies in its own envelope
(`local_reply_config`), the fallback bodies the Lua filter gets as route metadata, and
the replies made before a request id exists."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from gateway.common import LUA_FILTER_NAME, OPENAPI_PATH, _compact_json
from platform_core.family import HttpFamily as Family
from platform_core.family import LocalReply, Slots

# The method as the caller sent it: the transcoder rewrites :method to POST when a path
# also matches another method's URI template (GET /api/analytics/track).
ENVOY_SLOTS = Slots(
    timestamp="%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%", request_id="%REQ(X-REQUEST-ID)%",
    method="%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
)
LUA_SLOTS = Slots(timestamp="{{timestamp}}", request_id="{{request_id}}", method="{{method}}")


def _plain_not_found(slots: Slots) -> dict[str, Any]:
    """The 404 for paths outside every family (no family envelope applies there)."""
    return {"error": "Not Found", "message": "The requested resource was not found", "requestId": slots.request_id}


def _plain_internal_error(slots: Slots) -> dict[str, Any]:
    """The 500 for a gRPC error on a route outside every family (the Lua filter's
    generic fallback): the shape of the 404 there."""
    return {"error": "Internal Server Error", "message": "An unexpected error occurred. Please try again later",
            "requestId": slots.request_id}


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


def _local_reply_config(families: tuple[Family, ...], serves_openapi: bool = False,
                        file_mappers: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """`file_mappers`: those of other files the gateway serves (the dashboard's)."""
    mappers: list[dict[str, Any]] = [_file_mapper(OPENAPI_PATH, "application/json"),
                                     _openapi_query_mapper()] if serves_openapi else []
    mappers.extend(file_mappers)
    for family in families:
        mappers.extend(_asset_mappers(family))
        mappers.extend(_query_without_content_type_mappers(family))
        mappers.extend(_pre_request_id_mappers(family))
        mappers.extend(_body_refusal_mappers(family))
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


def _template_regex(path: str) -> str:
    """A regex for `:path` (query string included) matching a route's path or URI template."""
    parts = re.split(r"\{[a-z_]+\}", path)
    return "^" + "[^/?#]+".join(re.escape(part) for part in parts) + r"(\?.*)?$"


def _query_without_content_type_mappers(family: Family) -> list[dict[str, Any]]:
    """Envoy 1.40 refuses a QUERY without Content-Type (RFC 10008) before routing and
    before a request id exists (details `query_missing_content_type`), and has no runtime
    guard left to turn that off. No route serves QUERY, so its answer is what any other
    method the route does not serve gets: the route's 405 with `Allow`, the family's 404
    elsewhere under the prefix; with a request id made for the reply."""
    served = [*((asset.path, ("GET", "HEAD")) for asset in family.assets), *family.routes]  # route order
    reply = family.reply_for(405)
    # A body per mapper: one shared dict would be written as a YAML alias.
    mappers = [_query_405_mapper(path, methods, _reply_format(reply.body(family.envelope, GENERATED_ID_SLOTS)))
               for path, methods in served]
    mappers.append({
        "filter": {"and_filter": {"filters": [
            _family_filter(family), _no_request_id_filter(), _details_prefix_filter("query_missing_content_type")]}},
        "status_code": 404,
        "headers_to_add": _generated_id_header(),
        "body_format_override": _reply_format(family.reply_for(404).body(family.envelope, GENERATED_ID_SLOTS)),
    })
    return mappers


# --------------------------------------------------------------------------- JSON bodies

# The Lua filter reads a JSON-body route strictly (the transcoder takes `"ids": "a"` for
# a repeated field, an object for a repeated message, trailing commas, an empty body and
# any Content-Type; it refuses a number in an array of strings, but as "not a JSON object"). Its refusals: (marker, field, message, code); `{field}` is the
# offending field's path as the caller wrote it, which the filter puts in the metadata.
REFUSAL_FIELD = "%DYNAMIC_METADATA(envoy.filters.http.lua:refusal_field)%"
BODY_REFUSALS: tuple[tuple[str, str, str, str], ...] = (
    ("content_type", "content-type", "The request body must be JSON, sent with Content-Type: application/json",
     "unsupported_media_type"),
    ("invalid_json", "body", "Request body must be a valid JSON object", "invalid_json"),
    ("not_an_array", REFUSAL_FIELD, REFUSAL_FIELD + " must be an array", "invalid_type"),
    ("not_a_string", REFUSAL_FIELD, REFUSAL_FIELD + " must be a string", "invalid_type"),
)


def _lua_marker_filter(key: str, value: str) -> dict[str, Any]:
    return {"metadata_filter": {"matcher": {"filter": LUA_FILTER_NAME, "path": [{"key": key}],
                                            "value": {"string_match": {"exact": value}}},
                                "match_if_key_not_found": False}}


def _body_refusal_mappers(family: Family) -> list[dict[str, Any]]:
    """The family's bad-body reply (its 400, the affiliate's 422) for each refusal."""
    base = next(r for r in family.replies() if r.details_prefix == "grpc_json_transcode_failure")
    mappers = []
    for marker, field, message, code in BODY_REFUSALS:
        # A reply whose message repeats its field's (the voucher family's) names this refusal;
        # a body that is not JSON gets exactly the transcoder's reply.
        summary = message if base.fields and base.message == base.fields[0][1] else base.message
        reply = base if marker == "invalid_json" else dataclasses.replace(
            base, message=summary, fields=((field, message, code),))
        mapper: dict[str, Any] = {
            "filter": {"and_filter": {"filters": [_family_filter(family), _lua_marker_filter("refusal", marker)]}},
            "body_format_override": _reply_format(reply.body(family.envelope, ENVOY_SLOTS)),
        }
        if reply.reply_status != 400:
            mapper["status_code"] = reply.reply_status
        mappers.append(mapper)
    return mappers


def _query_405_mapper(path: str, methods: tuple[str, ...], body_format: dict[str, Any]) -> dict[str, Any]:
    """The 405 with `Allow: methods` for a QUERY of `path` refused before routing (no
    Content-Type, see `_query_without_content_type_mappers`), with a request id made for it."""
    return {
        "filter": {"and_filter": {"filters": [
            {"header_filter": {"header": {"name": ":path", "string_match": {
                "safe_regex": {"regex": _template_regex(path)}}}}},
            _no_request_id_filter(), _details_prefix_filter("query_missing_content_type")]}},
        "status_code": 405,
        "headers_to_add": [*_generated_id_header(), {"header": {"key": "allow", "value": ", ".join(methods)},
                                                      "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
        "body_format_override": body_format,
    }


def _openapi_query_mapper() -> dict[str, Any]:
    """A QUERY of /openapi.json without Content-Type: the 405 any other method of it gets,
    in the gateway's plain JSON body."""
    return _query_405_mapper(OPENAPI_PATH, ("GET", "HEAD"), {
        "json_format": {"error": "Method Not Allowed", "status": "%RESPONSE_CODE%",
                        "requestId": GENERATED_ID_SLOTS.request_id},
        "content_type": "application/json",
    })
