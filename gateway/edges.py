"""What the gateway checks at the edge before the transcoder: the request line and
headers against the documented limit (filled into the Lua filter) and the JSON bodies
read strictly (route metadata the Lua filter reads); docs/gateway.md, "Requests at the
edges" and "JSON bodies"."""

from __future__ import annotations

import functools
import pathlib
from typing import Any

from gateway.common import DEFAULT_DESCRIPTOR, LUA_FILTER_NAME, MAX_REQUEST_BODY_BYTES, _compact_json
from gateway.replies import LUA_SLOTS, _plain_internal_error
from platform_core.family import HttpFamily as Family

# Well-known types are JSON values of their own (Struct, Value, Timestamp...): not walked.
WELL_KNOWN_PREFIX = "google.protobuf."

# Request line and headers: up to the documented limit a request is served; above it,
# up to the codec's higher limit, the Lua filter answers the family's 431 (the path is
# known there); above the codec's limit the codec refuses it before the path is known
# (the generic 431 of `_pathless_mapper`). Bytes are names plus values, path included,
# as the Lua filter sees them; fields exclude pseudo-headers (docs/gateway.md).
MAX_REQUEST_HEADERS_BYTES = 60 * 1024
MAX_REQUEST_HEADERS_COUNT = 100
CODEC_MAX_REQUEST_HEADERS_KB = 128
CODEC_MAX_HEADERS_COUNT = 200


def _with_edge_limits(lua_source: str) -> str:
    """The Lua source with the limits it enforces and its generic fallback body (written
    once, in gateway/replies.py) filled in."""
    for name, value in (("max_request_headers_bytes", MAX_REQUEST_HEADERS_BYTES),
                        ("max_request_headers_count", MAX_REQUEST_HEADERS_COUNT),
                        ("max_request_body_bytes", MAX_REQUEST_BODY_BYTES),
                        ("generic_fallback_body", _compact_json(_plain_internal_error(LUA_SLOTS)))):
        placeholder = "{{" + name + "}}"
        if placeholder not in lua_source:
            raise ValueError(f"the Lua source has no {placeholder}")
        lua_source = lua_source.replace(placeholder, str(value))
    return lua_source


def _repeated_paths(message: Any, prefix: str = "", seen: frozenset[str] = frozenset()) -> list[str]:
    """Every repeated field of `message` and of the messages it holds, as the Lua filter
    reads them: "a|aJson" for a field (":string" after it when its elements are strings),
    "a[]." before the fields of a repeated message's elements, "a." before those of a
    singular one."""
    paths = []
    for field in message.fields:
        names = field.name if field.json_name == field.name else f"{field.name}|{field.json_name}"
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            continue  # a JSON object
        repeated = field.is_repeated
        if repeated:
            paths.append(prefix + names + (":string" if field.type == field.TYPE_STRING else ""))
        if nested is not None and not nested.full_name.startswith(WELL_KNOWN_PREFIX) and nested.full_name not in seen:
            paths += _repeated_paths(nested, f"{prefix}{names}{'[]' if repeated else ''}.", seen | {nested.full_name})
    return paths


@functools.lru_cache(maxsize=4)
def _json_bodies(descriptor: pathlib.Path) -> dict[tuple[str, str], str]:
    """(HTTP method, path template) of every RPC with a JSON body -> its repeated-field
    paths (space-separated), from the descriptor set the transcoder loads."""
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2, descriptor_pool

    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    bodies: dict[tuple[str, str], str] = {}
    for file in files.file:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                if not rule.body:
                    continue
                message = pool.FindMessageTypeByName(method.input_type.lstrip("."))
                if rule.body != "*":
                    message = message.fields_by_name[rule.body].message_type
                verb = rule.WhichOneof("pattern")
                paths = [] if message is None or message.full_name.startswith(WELL_KNOWN_PREFIX) else (
                    _repeated_paths(message))
                bodies[(verb.upper(), getattr(rule, verb))] = " ".join(paths)
    return bodies


def _with_body_checks(family: Family, routes: list[dict[str, Any]], descriptor_path: str) -> list[dict[str, Any]]:
    """Tells the Lua filter, in the metadata of each forwarding route with a JSON body,
    which method carries the body, which media types it may have (browser paths also
    take text/plain, what navigator.sendBeacon sends) and its repeated fields."""
    descriptor = pathlib.Path(descriptor_path)
    # The compose config names the container's path; the local build is the same file.
    bodies = _json_bodies(descriptor if descriptor.exists() else DEFAULT_DESCRIPTOR)
    for path, methods in family.routes:
        for method in methods:
            if (method, path) not in bodies:
                continue
            for route in routes:
                if route["name"] == f"{family.name}:{path}":
                    route["metadata"]["filter_metadata"][LUA_FILTER_NAME].update({
                        "json_body_method": method,
                        "json_body_types": "json text" if path in family.browser_paths else "json",
                        "json_body_arrays": bodies[(method, path)],
                    })
    return routes
