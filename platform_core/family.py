"""What one API family declares about itself, once, in `services/<family>/family.py`.

A family is a `ServiceFamily`: its name, the module `python -m` runs, its gRPC port (the
variable naming it and the default), how its servicers are built, its gRPC error
envelope, its HTTP face (`HttpFamily`: prefix, routes, the transcoded services, the
wording of the replies the gateway makes itself), its model modules, reference tables
and operator hooks. `services/registry.py` lists the families; the server bootstrap
(platform_core/server.py `run_service`), the gateway renderer (gateway/), migrations,
the distribution statements, `stack/` and the benchmarks read that list. Nothing here
imports anything above platform_core: the families hand their parts in as values
(docs/architecture.md, "Adding a family").
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from platform_core.errors import EnvelopeBuilder


# What fills meta.timestamp, meta.requestId and the method in a reply's body: Envoy
# substitution commands in local replies, placeholders when the Lua filter builds it.
@dataclass(frozen=True)
class Slots:
    timestamp: str
    request_id: str
    method: str


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


ReplyBodyBuilder = Callable[[LocalReply, Slots], dict[str, Any]]

# Envelope style -> the builder of a gateway reply's body in that style. A family that
# brings a style registers it (HttpFamily.reply_body); families may share one.
ENVELOPES: dict[str, ReplyBodyBuilder] = {}


def partner_reply_body(reply: LocalReply, slots: Slots) -> dict[str, Any]:
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


ENVELOPES["partner"] = partner_reply_body


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
# Request line and headers over the documented limit (the Lua filter, docs/gateway.md).
HEADERS_TOO_LARGE_MESSAGE = "The request line and headers are too large (at most 60 KiB and 100 header fields)"
HEADERS_TOO_LARGE = LocalReply(431, 431, "Request Header Fields Too Large", HEADERS_TOO_LARGE_MESSAGE)

# The gateway's refusals of a request itself (no route, method, body, size, media type),
# in mapper order; a family that words only its upstream replies itself starts with them.
REQUEST_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    BAD_BODY,
    MALFORMED_REQUEST,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
)

# In mapper order: the first that matches wins, the last is the catch-all.
FAMILY_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    *REQUEST_LOCAL_REPLIES,
    SERVICE_UNAVAILABLE,
    GATEWAY_TIMEOUT,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
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


@dataclass(frozen=True)
class HttpFamily:
    """A family's HTTP face: one documented API family served by one upstream cluster."""

    name: str  # "instance"
    prefix: str  # "/partner/v1/": unknown paths under it get the family's 404 envelope
    cluster: str  # "instance"
    grpc_services: tuple[str, ...]  # fully qualified gRPC service names to transcode
    routes: tuple[tuple[str, tuple[str, ...]], ...]  # (documented path, allowed methods)
    envelope: str  # error envelope style, a key of ENVELOPES
    # The replies Envoy makes itself under `prefix`, in mapper order (the first that
    # matches wins, the last is the catch-all); None means FAMILY_LOCAL_REPLIES.
    local_replies: tuple[LocalReply, ...] | None = None
    # Paths that browsers call cross-origin (public, no key): their routes get the CORS
    # policy (preflights answered by Envoy) and the client headers (gateway/routes.py).
    browser_paths: tuple[str, ...] = ()
    # Files the gateway serves itself under `prefix` (e.g. a tracker script).
    assets: tuple[StaticAsset, ...] = ()
    # The builder of the `envelope` style, when this family brings the style.
    reply_body: ReplyBodyBuilder | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.reply_body is not None:
            ENVELOPES[self.envelope] = self.reply_body
        elif self.envelope not in ENVELOPES:
            raise ValueError(f"family {self.name}: no envelope style {self.envelope!r} is registered")

    def replies(self) -> tuple[LocalReply, ...]:
        return self.local_replies if self.local_replies is not None else FAMILY_LOCAL_REPLIES

    def reply_for(self, status: int) -> LocalReply:
        """The family's reply for a local reply status (the catch-all when none names it)."""
        for reply in self.replies():
            if reply.status == status and reply.details_prefix is None:
                return reply
        return self.replies()[-1]


# `Deps` and `ServiceSpec` are platform_core/server.py's (which imports this module).
Serve = Callable[[Any], contextlib.AbstractAsyncContextManager[list[Any]]]


def serving(specs_of: Callable[[Any], list[Any]]) -> Serve:
    """`ServiceFamily.serve` of a family whose servicers need nothing but `Deps`."""

    @contextlib.asynccontextmanager
    async def serve(deps: Any) -> AsyncIterator[list[Any]]:
        yield specs_of(deps)

    return serve


@dataclass(frozen=True)
class ServiceFamily:
    """One family, declared once in its package (`services/<family>/family.py`)."""

    name: str  # also its compose service and gateway cluster
    module: str  # what `python -m` runs: "services.instance"
    port_env: str  # the variable naming its gRPC port: "INSTANCE_GRPC_PORT"
    base_port: int  # the default (replica i: + i * stack.run.REPLICA_PORT_STEP)
    # deps -> an async context that builds the servicers (`ServiceSpec`s), keeps what
    # they need running while the server serves (workers, sweeps), and stops it after.
    serve: Serve
    envelope: EnvelopeBuilder  # the family's gRPC error envelope (platform_core/errors.py)
    http: HttpFamily | None = None  # None: gRPC only, nothing behind the gateway
    # deps -> the gauges measured at scrape time on its /metrics (platform_core/metrics.py).
    gauges: Callable[[Any], Sequence[Any]] = lambda deps: ()
    # Modules whose import defines its tables on platform_core.db.Base (migrations/schema.py).
    models: tuple[str, ...] = ()
    # Its tables copied to every Citus node (platform_core/distribution.py), with why.
    reference_tables: Mapping[str, str] = field(default_factory=dict)
    # () -> keyword arguments of platform_core.admin.Hooks this family provides (the
    # operator CLI's erasure needs, read when the CLI starts).
    admin_hooks: Callable[[], Mapping[str, Any]] = dict
