"""Domain errors and their one mapping to gRPC statuses and to the families' HTTP envelopes.

A service raises a `DomainError`; the interceptor turns it into (a) a canonical gRPC
status with `ErrorInfo` / `BadRequest` / `RetryInfo` / `RequestInfo` details for gRPC
callers and (b) trailing metadata with the family's JSON envelope and HTTP status,
which the gateway returns verbatim (see docs/gateway.md).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2

from partnerlytics.partner.v1 import envelope_pb2
from platform_core.paging import timestamp_of

ERROR_DOMAIN = "partnerlytics.dev"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    message: str
    code: str


@dataclass
class DomainError(Exception):
    """An error a caller can act on. Subclasses fix the status; `message` is for people."""

    message: str
    details: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500
    reason = "INTERNAL"

    def __str__(self) -> str:
        return self.message

    def metadata(self) -> dict[str, str]:
        """The error's values for gRPC callers (`ErrorInfo.metadata`): the same values the
        JSON body carries, as strings. None by default."""
        return {}


@dataclass
class InvalidArgument(DomainError):
    violations: list[FieldViolation] = field(default_factory=list)
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    reason = "INVALID_ARGUMENT"


class Unauthenticated(DomainError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    reason = "NOT_FOUND"


@dataclass
class RateLimited(DomainError):
    retry_after_seconds: int = 1
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "RATE_LIMITED"

    def metadata(self) -> dict[str, str]:
        return {"retry_after_seconds": str(self.retry_after_seconds)}


@dataclass
class Unavailable(DomainError):
    retry_after_seconds: int = 5
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    reason = "UNAVAILABLE"


@dataclass
class Unprocessable(DomainError):
    """A well-formed request that cannot be answered, e.g. a window without data (422)."""

    violations: list[FieldViolation] = field(default_factory=list)
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 422
    reason = "NO_DATA"


class DeadlineExceeded(DomainError):
    """A dependency (the database) did not answer in time (504)."""

    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504
    reason = "DEADLINE_EXCEEDED"


class Internal(DomainError):
    pass


@dataclass
class DetailedError(DomainError):
    """An error with values of its own (`info`, AIP-193's dynamic variables): the family's
    envelope shows them as they are, gRPC callers read them in `ErrorInfo.metadata`."""

    info: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        """`info` as strings: strings as they are, other values (numbers, lists) as their JSON text."""
        return {key: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
                for key, value in self.info.items()}


E = TypeVar("E", bound=DomainError)


def error_class(name: str, base: type[E], grpc_code: grpc.StatusCode, http_status: int, reason: str) -> type[E]:
    """A kind of error declared in one line: `base` with its gRPC code, HTTP status and
    reason (the code a caller matches on). The class belongs to the calling module, as
    `collections.namedtuple`'s do."""
    kind = type(name, (base,), {"grpc_code": grpc_code, "http_status": http_status, "reason": reason})
    kind.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)
    return kind


def invalid(violations: list[FieldViolation]) -> InvalidArgument:
    """The documented 400: every bad field at once."""
    return InvalidArgument(message=f"Validation failed for {len(violations)} fields", violations=violations)


# ---------------------------------------------------------------------------------------
# HTTP envelopes, one builder per documented family.

HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

EnvelopeBuilder = Callable[[DomainError, str, dt.datetime], str]


def partner_meta(request_id: str, moment: dt.datetime) -> envelope_pb2.Meta:
    return envelope_pb2.Meta(timestamp=timestamp_of(moment), requestId=request_id)


@dataclass(frozen=True)
class PartnerFamily:
    """The wording one partner document fixes for its error envelope."""

    messages: dict[int, str]  # status -> the documented `message` (else the error's own)
    labels: dict[int, str] = field(default_factory=dict)  # status -> `error` other than the reason phrase
    has_retry_after: bool = False  # the 503 body carries `retry_after` (campaign)

    def envelope(self, error: DomainError, request_id: str, moment: dt.datetime) -> str:
        status = error.http_status
        body = envelope_pb2.ErrorEnvelope(
            success=False,
            error=self.labels.get(status, HTTP_REASONS[status]),
            message=self.messages.get(status, error.message),
            details=error.details,
            meta=partner_meta(request_id, moment),
        )
        if isinstance(error, InvalidArgument):
            body.fields.extend(
                envelope_pb2.FieldError(field=v.field, message=v.message, code=v.code) for v in error.violations
            )
        if isinstance(error, Unprocessable):
            body.validation_errors.extend(
                envelope_pb2.FieldError(field=v.field, message=v.message, code=v.code) for v in error.violations
            )
        if isinstance(error, Unavailable) and self.has_retry_after:
            body.retry_after = error.retry_after_seconds
        # Compact, field order as in the proto (the documents' order), ASCII-only for metadata.
        return json.dumps(
            json_format.MessageToDict(body, preserving_proto_field_name=True),
            separators=(",", ":"),
            ensure_ascii=True,
        )


# The instance document.
INSTANCE_FAMILY = PartnerFamily(
    messages={
        401: "Invalid or missing secret key",
        429: "Rate limit exceeded. Please try again later",
        500: "An unexpected error occurred. Please try again later",
        503: "The service is temporarily unavailable. Please try again later",
    }
)

# The campaign document: its own 403/404/422/502/503/504 wording, `retry_after` on 503.
CAMPAIGN_FAMILY = PartnerFamily(
    messages={
        401: "Invalid or missing secret key",
        403: "Insufficient permissions to access this campaign.",
        404: "Campaign not found with the specified campaign_id",
        409: "Request conflicts with current campaign state.",
        429: "Rate limit exceeded. Please try again later",
        500: "An unexpected error occurred. Please try again later",
        502: "Upstream service unavailable.",
        503: "Service temporarily unavailable. Please retry later.",
        504: "Request timeout. Please try again.",
    },
    labels={422: "Validation Error"},
    has_retry_after=True,
)

partner_envelope: EnvelopeBuilder = INSTANCE_FAMILY.envelope
campaign_envelope: EnvelopeBuilder = CAMPAIGN_FAMILY.envelope


# ---------------------------------------------------------------------------------------
# gRPC rich status.


def rich_status(error: DomainError, request_id: str) -> status_pb2.Status:
    status = status_pb2.Status(code=getattr(code_pb2, error.grpc_code.name), message=error.message)
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata())
    status.details.add().Pack(info)
    if isinstance(error, InvalidArgument):
        bad = error_details_pb2.BadRequest()
        for v in error.violations:
            bad.field_violations.add(field=v.field, description=v.message, reason=v.code)
        status.details.add().Pack(bad)
    if isinstance(error, (RateLimited, Unavailable)):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.seconds = error.retry_after_seconds
        status.details.add().Pack(retry)
    if isinstance(error, Unprocessable):
        failure = error_details_pb2.PreconditionFailure()
        for v in error.violations:
            failure.violations.add(type=v.code, subject=v.field, description=v.message)
        status.details.add().Pack(failure)
    status.details.add().Pack(error_details_pb2.RequestInfo(request_id=request_id))
    return status


# gRPC trailing metadata is size-limited (docs/gateway.md, "Measured facts": ~30 KB worked, 60 KB did not).
MAX_ENVELOPE_BYTES = 24_000


def error_trailers(
    error: DomainError, request_id: str, moment: dt.datetime, envelope: EnvelopeBuilder
) -> tuple[tuple[str, str | bytes], ...]:
    """Everything the interceptor sends with the aborted call."""
    if isinstance(error, InvalidArgument) and len(error.violations) > 50:
        # Cap the list so that the trailers fit; the count in the message stays exact.
        error = InvalidArgument(message=error.message, violations=error.violations[:50])
    body = envelope(error, request_id, moment)
    if len(body) > MAX_ENVELOPE_BYTES:  # pragma: no cover - guarded by the cap above
        body = envelope(Internal(message="error too large"), request_id, moment)
    return (
        ("grpc-status-details-bin", rich_status(error, request_id).SerializeToString()),
        ("x-envelope-status", str(error.http_status)),
        ("x-envelope", body),
        *((name.lower(), value) for name, value in error.headers.items()),
    )
