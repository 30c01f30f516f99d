"""The affiliate family's errors: its 422 validation error and its error envelope.

The document's envelope is `{"success": false, "error": {"code", "message",
"details"?}}` with `details` mapping a field to its messages; it has no `meta`.
"""

from __future__ import annotations

import collections
import datetime as dt
import json

from google.protobuf import json_format

from partnerlytics.affiliate.v1 import affiliate_analytics_pb2 as api
from platform_core.errors import DomainError, FieldViolation, InvalidArgument

# (code, message) per HTTP status; the document fixes 401, 403 and 422.
ERRORS: dict[int, tuple[str, str]] = {
    401: ("UNAUTHORIZED", "Unauthorized"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not Found"),
    422: ("VALIDATION_ERROR", "Validation failed"),
    429: ("RATE_LIMIT_EXCEEDED", "Too Many Requests"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    503: ("SERVICE_UNAVAILABLE", "Service temporarily unavailable. Please try again later"),
}


class ValidationFailed(InvalidArgument):
    """The document's 422 `VALIDATION_ERROR` (INVALID_ARGUMENT over gRPC)."""

    http_status = 422


# Error trailers are size-limited: a huge batch reports its first violations only.
MAX_VIOLATIONS = 50


def validation_failed(violations: list[FieldViolation]) -> ValidationFailed:
    return ValidationFailed(message="Validation failed", violations=violations[:MAX_VIOLATIONS])


def details_of(violations: list[FieldViolation]) -> dict[str, list[str]]:
    """Field -> its messages, fields in first-seen order."""
    grouped: dict[str, list[str]] = collections.defaultdict(list)
    for v in violations:
        grouped[v.field].append(v.message)
    return dict(grouped)


def affiliate_envelope(error: DomainError, request_id: str, moment: dt.datetime) -> str:
    """The error body for the interceptor's trailers (an `EnvelopeBuilder`)."""
    status = error.http_status if error.http_status in ERRORS else 500
    code, message = ERRORS[status]
    body = api.ErrorEnvelope(success=False, error=api.ErrorBody(code=code, message=message))
    if isinstance(error, InvalidArgument) and error.violations:
        body.error.details.update(details_of(error.violations))
    elif status == 403 and error.details:
        body.error.details.update({"scope": [error.details]})
    return json.dumps(
        json_format.MessageToDict(body, preserving_proto_field_name=True, always_print_fields_with_no_presence=True),
        separators=(",", ":"), ensure_ascii=True
    )
