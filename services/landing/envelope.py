"""The landing family's JSON error body, built from the typed `LandingError` message.

The landing document shows only `{"success": true}`; a failure keeps `success` and says
why: `{"success": false, "error": "...", "code": "...", ["fields": [...]],
["retry_after": n], "request_id": "..."}` (docs/architecture.md, "Landing analytics").
The gateway's local replies for this family use the same shape (`services/landing/family.py`,
the "landing" envelope style).
"""

from __future__ import annotations

import datetime as dt
import json

from google.protobuf import json_format

from partnerlytics.landing.v1 import landing_analytics_pb2 as pb
from platform_core.errors import DomainError, InvalidArgument, NotFound, RateLimited, Unavailable

# HTTP status -> the body's `code`, for the errors a service raises.
CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}


class TenantNotFound(NotFound):
    """An unknown tenant, or one of another account or mode (reported alike)."""

    reason = "TENANT_NOT_FOUND"


def landing_envelope(error: DomainError, request_id: str, _moment: dt.datetime) -> str:
    body = pb.LandingError(
        success=False,
        error=error.message,
        code="TENANT_NOT_FOUND" if isinstance(error, TenantNotFound) else CODES.get(error.http_status, "INTERNAL_ERROR"),
        request_id=request_id,
    )
    if isinstance(error, InvalidArgument):
        body.fields.extend(pb.FieldError(field=v.field, message=v.message, code=v.code) for v in error.violations)
    if isinstance(error, (RateLimited, Unavailable)):
        body.retry_after = error.retry_after_seconds
    # `success: false` must print; an empty `fields` list must not.
    data = json_format.MessageToDict(body, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    if not body.fields:
        del data["fields"]
    # In the proto's field order (defaults would otherwise print last), compact,
    # ASCII-only for metadata.
    ordered = {f.name: data[f.name] for f in pb.LandingError.DESCRIPTOR.fields if f.name in data}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=True)
