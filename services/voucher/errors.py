"""The voucher family's errors and its error envelope.

The document's errors have one shape, `{"error": {"code", "message", "details"}}`, with
the code as the thing to match on. Its own errors (`INVALID_TIME_PERIOD`,
`VOUCHER_NOT_FOUND`, `EXPORT_FAILED`) carry the documented details; the platform's
errors (bad key, rate limit, outage, validation) get codes in the same style. The gRPC
`ErrorInfo.reason` is the same code.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import grpc

from platform_core.errors import DetailedError, DomainError, InvalidArgument, RateLimited, error_class

MAX_DAYS = 90
MAX_RECORDS = 100_000


# The document's own errors. EXPORT_NOT_FOUND, EXPORT_NOT_READY and EXPORT_EXPIRED are the
# export queue's (platform_core/export_queue.py), with this family's details in `info`.
InvalidTimePeriod = error_class("InvalidTimePeriod", DetailedError, grpc.StatusCode.INVALID_ARGUMENT, 400,
                                "INVALID_TIME_PERIOD")
VoucherNotFound = error_class("VoucherNotFound", DetailedError, grpc.StatusCode.NOT_FOUND, 404, "VOUCHER_NOT_FOUND")
# The document answers 500; for gRPC callers it is a refusal of this request.
ExportFailed = error_class("ExportFailed", DetailedError, grpc.StatusCode.FAILED_PRECONDITION, 500, "EXPORT_FAILED")


def invalid_time_period(requested_days: int) -> DetailedError:
    return InvalidTimePeriod(
        message="Time period exceeds maximum allowed range",
        info={"max_days": MAX_DAYS, "requested_days": requested_days},
    )


# The envelope travels in gRPC trailers, capped at 24 KB (platform_core.errors): each id
# list names at most this many ids (about 9 KB), with `truncated` set when it is cut.
MAX_LISTED_IDS = 400


MAX_SHOWN_ID = 64


def shown_id(value: str) -> str:
    """An id as echoed in an error: a caller's over-long string is shortened."""
    return value if len(value) <= MAX_SHOWN_ID else value[:MAX_SHOWN_ID - 3] + "..."


def voucher_not_found(not_found: list[str], found: list[str]) -> DetailedError:
    info: dict[str, Any] = {"not_found": [shown_id(v) for v in not_found[:MAX_LISTED_IDS]],
                            "found": found[:MAX_LISTED_IDS]}
    if len(not_found) > MAX_LISTED_IDS or len(found) > MAX_LISTED_IDS:
        info.update(truncated=True, not_found_count=len(not_found), found_count=len(found))
    return VoucherNotFound(message="One or more vouchers not found", info=info)


def too_many_records(requested: int) -> DetailedError:
    return ExportFailed(
        message="Failed to generate export",
        info={"reason": "Too many records requested", "max_records": MAX_RECORDS, "requested_records": requested},
    )


# The platform's errors in this family's words: status -> (code, fixed message or None).
_PLATFORM = {
    400: ("INVALID_PARAMETER", None),
    401: ("UNAUTHORIZED", "Invalid or missing API key"),
    403: ("FORBIDDEN", "The API key lacks the scope this endpoint needs"),
    404: ("NOT_FOUND", "The requested resource was not found"),
    429: ("RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Please try again later"),
    500: ("INTERNAL_ERROR", "An unexpected error occurred. Please try again later"),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later"),
}


def voucher_envelope(error: DomainError, request_id: str, moment: dt.datetime) -> str:
    """The document's error body for any error of the family (compact, ASCII-only)."""
    if isinstance(error, DetailedError):  # the document's own errors, with their details
        code, message, details = error.reason, error.message, dict(error.info)
    else:
        code, fixed = _PLATFORM.get(error.http_status, _PLATFORM[500])
        message, details = fixed or error.message, {}
        if isinstance(error, InvalidArgument):
            details = {"fields": [{"field": v.field, "message": v.message, "code": v.code} for v in error.violations]}
        elif isinstance(error, RateLimited):
            limit = error.headers.get("x-ratelimit-limit")
            details = {"limit": int(limit) if limit else None, "retry_after": error.retry_after_seconds}
        elif error.details:
            details = {"reason": error.details}
    body = {"error": {"code": code, "message": message, "details": details}}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)
