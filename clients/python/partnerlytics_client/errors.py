"""Exceptions: one per error envelope, carrying the family's fields and the request id.

Every family has its own error body (docs/openapi.json, components): instance and
campaign the partner envelope (`error`, `message`, `fields`, ...), affiliate
`{"success": false, "error": {"code", "message", "details"}}`, voucher
`{"error": {"code", "message", "details"}}`, landing `{"success": false, "error",
"code", "fields", "request_id"}`, and the resource APIs (exports, webhooks)
`{"error": {"code", "message", "request_id", "fields"}}`.
"""

from __future__ import annotations

from typing import Any

from . import _generated as m
from ._codec import parse


class PartnerlyticsError(Exception):
    """Any failed call. `status` is the HTTP status (0 for a transport failure)."""

    status: int
    request_id: str | None
    retry_after: float | None
    body: Any

    def __init__(self, message: str, *, status: int = 0, request_id: str | None = None,
                 retry_after: float | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.request_id, self.retry_after, self.body = status, request_id, retry_after, body

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (HTTP {self.status}, request {self.request_id})" if self.status else base


class ApiError(PartnerlyticsError):
    """An HTTP error; this class itself when the body is not a family's envelope (e.g. a proxy's)."""

    envelope: Any = None


class PartnerApiError(ApiError):
    """Instance and campaign analytics: the partner envelope."""

    envelope: m.PartnerErrorEnvelope

    @property
    def error(self) -> str:
        return self.envelope.error

    @property
    def message(self) -> str:
        return self.envelope.message

    @property
    def details(self) -> str | None:
        return self.envelope.details

    @property
    def fields(self) -> list[m.PartnerFieldError]:
        return self.envelope.fields or []

    @property
    def validation_errors(self) -> list[m.PartnerFieldError]:
        return self.envelope.validation_errors or []


class AffiliateApiError(ApiError):
    """Affiliate analytics and ingestion: `error.code`, `error.message`, `error.details`."""

    envelope: m.AffiliateErrorEnvelope

    @property
    def code(self) -> str:
        return self.envelope.error.code

    @property
    def message(self) -> str:
        return self.envelope.error.message

    @property
    def details(self) -> dict[str, Any]:
        return self.envelope.error.details or {}


class VoucherApiError(ApiError):
    """Voucher analytics and exports: `error.code`, `error.message`, `error.details`."""

    envelope: m.VoucherErrorEnvelope

    @property
    def code(self) -> str:
        return self.envelope.error.get("code", "")

    @property
    def message(self) -> str:
        return self.envelope.error.get("message", "")

    @property
    def details(self) -> dict[str, Any]:
        return self.envelope.error.get("details") or {}


class LandingApiError(ApiError):
    """Landing analytics: `error` (for people), `code`, `fields`."""

    envelope: m.LandingError

    @property
    def error(self) -> str:
        return self.envelope.error

    @property
    def code(self) -> str:
        return self.envelope.code

    @property
    def message(self) -> str:
        return self.envelope.error

    @property
    def fields(self) -> list[m.LandingFieldError]:
        return self.envelope.fields or []


class ResourceApiError(ApiError):
    """The resource APIs' envelope (exports, webhooks): `error.code`, `error.message`, `error.fields`."""

    envelope: m.ExportsErrorEnvelope | m.WebhooksErrorEnvelope

    @property
    def code(self) -> str:
        return self.envelope.error.get("code", "")

    @property
    def message(self) -> str:
        return self.envelope.error.get("message", "")

    @property
    def fields(self) -> list[dict[str, Any]]:
        return self.envelope.error.get("fields") or []


class ExportsApiError(ResourceApiError):
    """The export service (docs/exports.md)."""

    envelope: m.ExportsErrorEnvelope


class WebhooksApiError(ResourceApiError):
    """The webhook endpoints (docs/webhooks.md), e.g. `WEBHOOK_ENDPOINT_NOT_FOUND`."""

    envelope: m.WebhooksErrorEnvelope


# The operation's tag (docs/openapi.json) -> the exception and envelope of its family.
FAMILY_ERRORS: dict[str, tuple[type[ApiError], type]] = {
    "instance": (PartnerApiError, m.PartnerErrorEnvelope),
    "campaign": (PartnerApiError, m.PartnerErrorEnvelope),
    "affiliate": (AffiliateApiError, m.AffiliateErrorEnvelope),
    "voucher": (VoucherApiError, m.VoucherErrorEnvelope),
    "landing": (LandingApiError, m.LandingError),
    "exports": (ExportsApiError, m.ExportsErrorEnvelope),
    "webhooks": (WebhooksApiError, m.WebhooksErrorEnvelope),
}


def _message(envelope: Any) -> str:
    error = getattr(envelope, "error", None)
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}" + (f" {error['details']}" if error.get("details") else "")
    if isinstance(error, m.ErrorBody):
        return f"{error.code}: {error.message}" + (f" {error.details}" if error.details else "")
    fields = getattr(envelope, "fields", None) or getattr(envelope, "validation_errors", None) or []
    parts = [error, getattr(envelope, "code", None) or getattr(envelope, "message", None),
             "; ".join(f"{f.field}: {f.message}" for f in fields)]
    return " ".join(str(x) for x in parts if x)


def from_response(tag: str, status: int, body: Any, request_id: str | None, retry_after: float | None) -> ApiError:
    """The typed exception of an error response; ApiError when the body is not the family's."""
    kind, envelope_cls = FAMILY_ERRORS.get(tag, (ApiError, None))
    envelope: Any = None
    if envelope_cls is not None and isinstance(body, dict) and "error" in body:
        try:
            envelope = parse(envelope_cls, body)
        except (TypeError, ValueError, AttributeError):
            envelope = None
    if envelope is None:
        return ApiError(f"HTTP {status}", status=status, request_id=request_id, retry_after=retry_after, body=body)
    if request_id is None:  # the header is always set by the gateway; the body as a fallback
        meta = body.get("meta") or {}
        request_id = meta.get("requestId") or body.get("request_id")
    error = kind(_message(envelope), status=status, request_id=request_id, retry_after=retry_after, body=body)
    error.envelope = envelope
    return error
