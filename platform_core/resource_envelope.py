"""The error envelope of the resource APIs (the export service's `/v1/exports`, the
webhook endpoints' `/v1/webhooks`): one shape for every error, through the gateway and in
gRPC's `x-envelope`, `{"error": {"code", "message", "request_id", "fields"?, "details"?}}`.

`code` is the thing to match on (the gRPC `ErrorInfo.reason` is the same); `fields` lists
every bad field of a 400 at once. The gateway's own replies under such a family's prefix
(404, 405, a body that is not JSON, ...) have the same shape (`resource_reply_body`,
`RESOURCE_LOCAL_REPLIES`). A family that adopts it declares, in its `family.py`,
`envelope=resource_envelope` and an `HttpFamily` with `local_replies=RESOURCE_LOCAL_REPLIES`
and `reply_body=resource_reply_body` (docs/exports.md, docs/webhooks.md, "Errors").
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from platform_core.errors import DomainError, InvalidArgument
from platform_core.family import HEADERS_TOO_LARGE_MESSAGE, LocalReply, Slots


def resource_envelope(error: DomainError, request_id: str, _moment: dt.datetime) -> str:
    """The body of a service's error (the gateway's Lua filter sends it as is)."""
    body: dict[str, Any] = {"code": error.reason, "message": error.message, "request_id": request_id}
    if isinstance(error, InvalidArgument):
        body["fields"] = [{"field": v.field, "message": v.message, "code": v.code} for v in error.violations]
    elif error.details:
        body["details"] = error.details
    return json.dumps({"error": body}, separators=(",", ":"), ensure_ascii=True)


def resource_reply_body(reply: LocalReply, slots: Slots) -> dict[str, Any]:
    """The same envelope for the replies the gateway makes itself."""
    body: dict[str, Any] = {"code": reply.error, "message": reply.message.replace("{method}", slots.method),
                            "request_id": slots.request_id}
    if reply.fields is not None:
        body["fields"] = [{"field": f, "message": m, "code": c} for f, m, c in reply.fields]
    if reply.details is not None:
        body["details"] = reply.details
    return {"error": body}


# The gateway's own replies under a resource family's prefix, in mapper order (the first
# that matches wins, the last is the catch-all); the codes are the gRPC names, as the
# services' own errors are.
RESOURCE_LOCAL_REPLIES: tuple[LocalReply, ...] = (
    LocalReply(404, 404, "NOT_FOUND", "The requested resource was not found"),
    LocalReply(405, 405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path"),
    LocalReply(400, 400, "INVALID_ARGUMENT", "Request body must be a valid JSON object",
               (("body", "Request body must be a valid JSON object", "invalid_json"),),
               details_prefix="grpc_json_transcode_failure"),
    LocalReply(400, 400, "INVALID_ARGUMENT", "The request could not be parsed",
               (("request", "The request could not be parsed, e.g. a query parameter was given more than once",
                 "malformed_request"),)),
    LocalReply(413, 413, "PAYLOAD_TOO_LARGE", "The request body is too large"),
    LocalReply(415, 415, "UNSUPPORTED_MEDIA_TYPE",
               "This API accepts JSON; gRPC clients must call the service directly"),
    LocalReply(503, 503, "UNAVAILABLE", "The service is temporarily unavailable. Please try again later"),
    LocalReply(504, 504, "DEADLINE_EXCEEDED", "The service did not respond in time. Please try again later"),
    LocalReply(431, 431, "REQUEST_HEADERS_TOO_LARGE", HEADERS_TOO_LARGE_MESSAGE),
    LocalReply(None, 500, "INTERNAL", "An unexpected error occurred. Please try again later"),
)
