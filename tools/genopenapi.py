"""Generates docs/openapi.json, the OpenAPI 3.1 document of the gateway, from the protos.

Input: the descriptor set `make proto` writes (gen/partnerlytics.pb, with source info),
whose `google.api.http` annotations are the routes, whose messages are the bodies and
whose comments are the descriptions; and the gateway's own definitions
(`gateway.envoy_config`: which services are transcoded, each family's error envelope
and the replies Envoy makes itself, the public browser paths and static assets).

JSON follows the transcoder's print options (`preserve_proto_field_names`,
`always_print_primitive_fields`, enums as names): proto field names; scalars, enums and
repeated fields always printed (so required in responses); `optional` scalars and
message fields only when set; int64 as a string; Timestamp as an RFC 3339 string;
Value as any JSON value, Struct as an object, HttpBody as the raw bytes it carries.

The HTTP statuses of an operation are the ones its RPC comment names (`(404, ...)`,
"Errors as for `X`" includes X's), the ones the gateway itself answers on a documented
path (malformed request, body refused or too large for operations with a body, gRPC
content type, upstream unavailable / timed out, internal error), and 429 (every
endpoint is rate limited). Each error status has its family's envelope.

Why this module is long: it is one translation, protos to OpenAPI, whose parts are read
together: the field and parameter constraints must match the schemas they are written
into and the error envelopes the statuses they name; the constraint tables are kept here,
next to their use, so that the document and the services' rules are reviewed in one place.

`make proto` runs it after tools/genproto.py; tests/gateway/test_openapi.py regenerates it in
memory and fails if docs/openapi.json differs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from typing import Any

from google.api import annotations_pb2, httpbody_pb2  # noqa: F401  (registers the http option)
from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway import envoy_config  # noqa: E402
from gateway.envoy_config import FAMILIES, Family  # noqa: E402

DESCRIPTOR = ROOT / "gen" / "partnerlytics.pb"
OUT = ROOT / "docs" / "openapi.json"
# Where the gateway serves the document (gateway/envoy_config.py).
SPEC_PATH = envoy_config.OPENAPI_PATH

F = descriptor_pb2.FieldDescriptorProto
INTEGER_FORMATS = {F.TYPE_INT32: "int32", F.TYPE_SINT32: "int32", F.TYPE_SFIXED32: "int32",
                   F.TYPE_UINT32: "int64", F.TYPE_FIXED32: "int64"}
INT64_TYPES = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64}

# Well-known types in proto3 JSON.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time",
                                   "description": "RFC 3339 in UTC with a `Z` suffix."},
    ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    ".google.protobuf.Value": {"description": "Any JSON value (google.protobuf.Value)."},
    ".google.protobuf.Struct": {"type": "object", "description": "A JSON object (google.protobuf.Struct)."},
    ".google.protobuf.ListValue": {"type": "array", "description": "A JSON array (google.protobuf.ListValue)."},
    ".google.protobuf.Empty": {"type": "object"},
}
for _name, _schema in {"StringValue": {"type": "string"}, "BoolValue": {"type": "boolean"},
                       "Int32Value": {"type": "integer"}, "DoubleValue": {"type": "number"},
                       "FloatValue": {"type": "number"}, "Int64Value": {"type": "string"}}.items():
    WELL_KNOWN[f".google.protobuf.{_name}"] = {"type": [_schema["type"], "null"]}

# The voucher document's error body has no proto message: `details` differs per code.
VOUCHER_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The voucher family's error body: `code` is the thing to match on; `details` depends on it "
                   "(`fields` for INVALID_PARAMETER, `max_days`/`requested_days` for INVALID_TIME_PERIOD, "
                   "`not_found`/`found` for VOUCHER_NOT_FOUND, ...).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def _resource_error_schema(what: str) -> dict[str, Any]:
    """The resource APIs' error body (platform_core/resource_envelope.py)."""
    return {
        "type": "object",
        "description": f"{what}: `code` is the thing to match on; `fields` lists every bad field of an "
                       "INVALID_ARGUMENT.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                    "details": {"type": "string"},
                    "fields": {"type": "array", "items": {
                        "type": "object", "required": ["field", "message", "code"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"},
                                       "code": {"type": "string"}}}},
                },
            }
        },
    }


EXPORTS_ERROR_SCHEMA = _resource_error_schema('The export service\'s error body (docs/exports.md, "Errors")')
WEBHOOKS_ERROR_SCHEMA = _resource_error_schema('The webhook endpoints API\'s error body (docs/webhooks.md, "Errors")')
# A JSON export file: the export's id, format, period and metrics, then one record per
# voucher per day.
JSON_EXPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["export_id", "format", "time_period", "metrics", "records"],
    "properties": {
        "export_id": {"type": "string"},
        "format": {"const": "json"},
        "time_period": {"type": "object", "properties": {"start": {"type": "string", "format": "date-time"},
                                                         "end": {"type": "string", "format": "date-time"}}},
        "metrics": {"type": "array", "items": {"type": "string"}},
        "records": {"type": "array", "items": {"type": "object"}},
    },
}
# Error bodies are printed by the services (platform_core/errors.py, services/*/errors.py,
# services/landing/envelope.py) and by the gateway's local replies, not by the
# transcoder: what every one of them carries.
SERVICE_PRINTED: dict[str, list[str]] = {
    "partnerlytics.partner.v1.ErrorEnvelope": ["success", "error", "message", "meta"],
    "partnerlytics.affiliate.v1.ErrorEnvelope": ["success", "error"],
    "partnerlytics.affiliate.v1.ErrorBody": ["code", "message"],
    "partnerlytics.landing.v1.LandingError": ["success", "error", "code", "request_id"],
}
# Family envelope style -> the error body's schema (a proto message's full name, or a schema).
ENVELOPE_SCHEMAS: dict[str, str | dict[str, Any]] = {
    "partner": ".partnerlytics.partner.v1.ErrorEnvelope",
    "affiliate": ".partnerlytics.affiliate.v1.ErrorEnvelope",
    "landing": ".partnerlytics.landing.v1.LandingError",
    "voucher": VOUCHER_ERROR_SCHEMA,
    "exports": EXPORTS_ERROR_SCHEMA,
    "webhooks": WEBHOOKS_ERROR_SCHEMA,
}

# The constraints the services enforce, in one place, so that the document accepts what
# the services accept and nothing else (tests/gateway/test_schemathesis.py runs every Schemathesis
# check against it). Path and query parameters are all `string` in the protos, so that the
# services word the refusal: (request message, field) -> JSON Schema keywords added to the
# parameter's schema (`required` is the parameter's, not the schema's).
# platform_core.params.integer: at most 9 digits; page >= 1, limit 1..100.
PAGE = {"pattern": r"^[1-9]\d{0,8}$"}
LIMIT = {"pattern": r"^([1-9]|[1-9]\d|100)$"}
# services/landing/servicer.py: a positive integer up to 2^53 - 1 (15 digits stay below it).
TENANT_ID = {"pattern": r"^[1-9]\d{0,14}$"}
UUID = {"format": "uuid", "pattern": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"}
# platform_core.params: calendar dates from 1970-01-01 to 9998-12-31, `YYYY-MM-DD`.
_YEAR = r"(19[7-9]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d)"
DAY = {"format": "date", "pattern": rf"^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"}
# platform_core.params.moment: such a date, or an RFC 3339 date-time on such a day (or
# empty: no bound).
MOMENT = {"anyOf": [DAY, {"format": "date-time", "pattern": rf"^{_YEAR}-"}, {"maxLength": 0}]}
# services/affiliate/servicer.py: any calendar date, `YYYY-MM-DD`.
ANY_DAY = {"format": "date", "pattern": r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"}
BOOLEAN = {"enum": ["true", "false"]}
# A Timestamp in JSON, as the transcoder parses it (RFC 3339, `T`, `Z` or an offset).
# Years 0001 to 9999 (a Timestamp's range); ASCII digits only.
TIMESTAMP = {"format": "date-time",
             "pattern": r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
                        r":[0-9]{2}(\.[0-9]{1,9})?(Z|[+\-][0-9]{2}:[0-9]{2})$"}


def _names(names) -> dict[str, Any]:
    return {"enum": list(names)}


def _comma_list(names) -> dict[str, Any]:
    """A comma-separated list of the names (empty: the default)."""
    one = "|".join(names)
    return {"pattern": rf"^(({one})(,({one}))*)?$"}


def _param_constraints() -> dict[tuple[str, str], dict[str, Any]]:
    from services.affiliate import servicer as affiliate
    from services.exports import servicer as exports_servicer
    from services.exports import sources as export_sources
    from services.voucher import queries as voucher
    from services.voucher import servicer as voucher_servicer
    from services.webhooks import servicer as webhooks_servicer

    voucher_id = {"pattern": voucher_servicer.VOUCHER_ID.pattern}
    export_id = {"pattern": voucher_servicer.EXPORT_ID.pattern}
    all_metrics = affiliate.ALL_METRICS
    out = {
        ("landing.v1.GetAnalyticsRequest", "tenant_id"): TENANT_ID,
        ("landing.v1.GetTodayAnalyticsRequest", "tenant_id"): TENANT_ID,
        ("instance.v1.ListInstanceAnalyticsRequest", "is_purchased"): BOOLEAN,
        ("instance.v1.ListInstanceAnalyticsRequest", "time_frame"): _names(("hour", "day", "custom")),
        ("instance.v1.ListInstanceAnalyticsRequest", "start_date"): MOMENT,
        ("instance.v1.ListInstanceAnalyticsRequest", "end_date"): MOMENT,
        ("instance.v1.ListInstanceAnalyticsRequest", "page"): PAGE,
        ("instance.v1.ListInstanceAnalyticsRequest", "limit"): LIMIT,
        ("instance.v1.GetInstanceDetailsRequest", "events"): _names(("first", "last", "all")),
        ("campaign.v1.GetCampaignAnalyticsRequest", "campaign_id"): UUID,
        # time_frame is required.
        ("campaign.v1.GetCampaignAnalyticsRequest", "time_frame"): {
            "required": True, **_names(("per_hour", "per_day", "per_month", "custom_range"))},
        ("campaign.v1.GetCampaignAnalyticsRequest", "start_date"): DAY,
        ("campaign.v1.GetCampaignAnalyticsRequest", "end_date"): DAY,
        ("campaign.v1.GetCampaignAnalyticsRequest", "is_purchase"): _names(("true", "false", "all")),
        ("campaign.v1.GetCampaignAnalyticsRequest", "page"): PAGE,
        ("campaign.v1.GetCampaignAnalyticsRequest", "limit"): LIMIT,
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "section"): {"required": True, **_names(affiliate.SECTIONS)},
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "from"): ANY_DAY,
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "to"): ANY_DAY,
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "metrics"): _comma_list(all_metrics),
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "page"): PAGE,
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "per_page"): LIMIT,
        ("affiliate.v1.GetAffiliateAnalyticsRequest", "top_limit"): {"pattern": r"^([1-9]|[1-4]\d|50)$"},
        ("voucher.v1.GetExportRequest", "export_id"): export_id,
        ("voucher.v1.DownloadExportRequest", "export_id"): export_id,
        ("exports.v1.GetExportJobRequest", "export_id"): {"pattern": exports_servicer.EXPORT_ID.pattern},
        ("exports.v1.DownloadExportJobRequest", "export_id"): {"pattern": exports_servicer.EXPORT_ID.pattern},
        ("exports.v1.ListExportJobsRequest", "source"): _names(export_sources.SOURCES),
        ("exports.v1.ListExportJobsRequest", "status"): _names(exports_servicer.STATUSES),
        ("exports.v1.ListExportJobsRequest", "limit"): LIMIT,
        ("exports.v1.ListExportJobsRequest", "page_token"): {"pattern": exports_servicer.PAGE_TOKEN.pattern},
        ("webhooks.v1.ListWebhookDeliveriesRequest", "limit"): {"minimum": 0,
                                                                "maximum": webhooks_servicer.MAX_LOG_LIMIT},
        ("webhooks.v1.ListWebhookDeliveriesRequest", "before"): TIMESTAMP,
    }
    for view in ("Performance", "Trends", "Customers"):
        message = f"voucher.v1.GetVoucher{view}Request"
        out[(message, "voucher_id")] = voucher_id
        out[(message, "start_date")] = MOMENT
        out[(message, "end_date")] = MOMENT
    out[("voucher.v1.GetVoucherPerformanceRequest", "include_details")] = BOOLEAN
    out[("voucher.v1.GetVoucherTrendsRequest", "interval")] = _names(voucher.INTERVALS)
    # Repeated or comma-separated, each value one or more names (never empty).
    one = "|".join(voucher.TREND_METRICS)
    out[("voucher.v1.GetVoucherTrendsRequest", "metrics")] = {
        "items": {"type": "string", "pattern": rf"^({one})(,({one}))*$"}}
    return {(f".partnerlytics.{m}", f): c for (m, f), c in out.items()}


# Request bodies: message -> {"required": [...], field -> keywords}. proto3 JSON reads ""
# and null as an absent field, so a required string is a non-empty one and every other
# field may be null; unknown fields are ignored.
_KEY = r"^[A-Za-z0-9_.\-]{1,64}$"
_OPTIONAL_KEY = r"^[A-Za-z0-9_.\-]{0,64}$"


def _json_without_nul(depth: int) -> dict[str, Any]:
    """The keywords of a JSON object whose objects and arrays nest at most `depth` levels
    (itself the first) with no NUL in a key or a string (services/landing/tracking.py).
    Written out level by level: a recursive `$ref` breaks openapi-python-client."""
    no_nul = r"^[^\x00]*$"
    if depth == 1:
        value = {"type": ["string", "number", "boolean", "null"], "pattern": no_nul}
    else:
        inner = _json_without_nul(depth - 1)
        value = {"pattern": no_nul, **inner, "items": inner["additionalProperties"]}
    return {"propertyNames": {"pattern": no_nul}, "additionalProperties": value}


def _text(max_len: int, required: bool = False) -> dict[str, Any]:
    """services/affiliate/ingest.py: printable text of at most max_len characters."""
    return {"maxLength": max_len, "pattern": r"^[^\x00-\x1f\x7f]+$" if required else r"^[^\x00-\x1f\x7f]*$"}


def _url(required: bool) -> dict[str, Any]:
    return {"maxLength": 2048, "pattern": r"^https?://[\x21-\x7e]+$" if required else r"^(https?://[\x21-\x7e]+)?$"}


def _batch() -> dict[str, Any]:
    from platform_core.ingest import MAX_BATCH

    return {"minItems": 1, "maxItems": MAX_BATCH}


def _export_job_request() -> dict[str, Any]:
    """services/exports/servicer.py: a known source and format, ISO 8601 bounds, and per
    source exactly its own filters (platform_core/export_sources.py)."""
    from platform_core.export_files import FORMATS
    from services.exports.sources import SOURCES

    kinds = {"uuid": UUID, "boolean": BOOLEAN, "integer": {"pattern": r"^\d{1,18}$"}}

    def filter_schema(item) -> dict[str, Any]:
        if item.kind == "choice":
            return {"type": "string", **_names(item.choices)}
        if item.kind == "text":
            return {"type": "string", "minLength": 1, "maxLength": item.max_length}
        return {"type": "string", **kinds[item.kind]}

    def per_source(source) -> dict[str, Any]:
        filters: dict[str, Any] = {"type": ["object", "null"], "additionalProperties": False,
                                   "properties": {f.name: filter_schema(f) for f in source.filters}}
        required = [f.name for f in source.filters if f.required]
        then: dict[str, Any] = {"properties": {"filters": filters}}
        if required:
            filters["type"] = "object"
            filters["required"] = required
            then["required"] = ["filters"]
        return {"if": {"properties": {"source": {"const": source.name}}, "required": ["source"]}, "then": then}

    return {
        "required": ["source"],
        "source": _names(SOURCES),
        "format": _names(FORMATS),
        "start": MOMENT,
        "end": MOMENT,
        "allOf": [per_source(s) for s in SOURCES.values()],
    }


def _webhook_bodies() -> dict[str, dict[str, Any]]:
    """services/webhooks/servicer.py: the url, a description of at most 200 characters
    without NUL, known event types; a rotation's 0 to 168 hours; a replay's event or range."""
    from services.webhooks import servicer, urls

    # urls.check_syntax's own pattern (no credentials: no `@` before the path).
    receiver_url = {"maxLength": 2048, "pattern": f"^{urls.SHAPE.pattern}$"}
    moment = {"format": "date-time", "pattern": f"^{servicer.MOMENT.pattern}$"}
    types = {"items": {"type": "string", **_names(servicer.SUBSCRIBABLE)}}
    description = {"maxLength": 200, "pattern": r"^[^\x00]*$"}
    return {
        "webhooks.v1.CreateWebhookEndpointRequest": {"required": ["url"], "url": receiver_url,
                                                     "description": description, "event_types": types},
        "webhooks.v1.UpdateWebhookEndpointRequest": {"url": receiver_url, "description": description,
                                                     "event_types": types},
        "webhooks.v1.RotateWebhookEndpointSecretRequest": {
            "previous_secret_hours": {"minimum": 0, "maximum": servicer.MAX_PREVIOUS_HOURS}},
        "webhooks.v1.SendTestWebhookEventRequest": {},
        "webhooks.v1.ReplayWebhookEventsRequest": {
            "event_id": {"maxLength": servicer.MAX_EVENT_ID, "pattern": r"^[^\x00]*$"}, "start": moment,
            "end": moment,
            "anyOf": [{"required": ["event_id"], "properties": {"event_id": {"type": "string", "minLength": 1}}},
                      {"required": ["start", "end"], "properties": {"start": {"type": "string"},
                                                                    "end": {"type": "string"}}}]},
    }


def _body_constraints() -> dict[str, dict[str, Any]]:
    from services.affiliate import ingest as affiliate
    from services.landing import tracking
    from services.voucher import exports
    from services.voucher import queries as voucher
    from services.voucher import servicer as voucher_servicer

    money = {"pattern": affiliate._DECIMAL.pattern.replace(r"\Z", "$")}
    product_kinds = sorted(affiliate.PRODUCT_EVENTS)

    def when(kind, required):
        return {"if": {"properties": {"type": {"enum": kind}}, "required": ["type"]},
                "then": {"required": required,
                         "properties": {name: {"type": "string", "minLength": 1} for name in required}}}

    # services/affiliate/ingest.py: from 2000-01-01 UTC (and not in the future): a time of
    # 2000-01-01 itself only with a UTC or negative offset.
    since_2000 = {"format": "date-time", "pattern": (
        r"^(2000-01-01T[^+]*$|2000-01-01T.*\+00:00$|2000-01-(0[2-9]|[12]\d|3[01])T|2000-(0[2-9]|1[0-2])-"
        r"|200[1-9]-|20[1-9]\d-|2[1-9]\d{2}-|[3-9]\d{3}-)")}

    out = {
        "landing.v1.TrackEventRequest": {
            "required": ["tenant_id", "event_type"],
            "tenant_id": {"type": "integer", "minimum": 1, "maximum": tracking.MAX_TENANT_ID},
            "event_type": {"type": "string", **_names(tracking.EVENT_TYPES)},
            "metadata": {"type": ["object", "null"], "maxProperties": tracking.MAX_METADATA_KEYS,
                         **_json_without_nul(tracking.MAX_METADATA_DEPTH)},
            "allOf": [{"if": {"properties": {"event_type": {"const": "time_on_page"}}},
                       "then": {"required": ["metadata"],
                                "properties": {"metadata": {"type": "object", "required": ["seconds"], "properties": {
                                    "seconds": {"type": "number", "minimum": 0,
                                                "maximum": tracking.MAX_SECONDS_ON_PAGE}}}}}}],
        },
        "instance.v1.GetInstanceDetailsBody": {
            "required": ["instance_ids"],
            "instance_ids": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", **UUID}},
        },
        "voucher.v1.CreateExportRequest": {
            "required": ["voucher_ids", "metrics"],
            "voucher_ids": {"minItems": 1, "maxItems": voucher_servicer.MAX_EXPORT_VOUCHERS,
                            "items": {"type": "string", "pattern": voucher_servicer.VOUCHER_ID.pattern}},
            "metrics": {"minItems": 1, "items": {"type": "string", **_names(voucher.EXPORT_METRICS)}},
            "format": _names(exports.FORMATS),
        },
        "voucher.v1.ExportPeriod": {"start": MOMENT, "end": MOMENT},
        "exports.v1.CreateExportJobRequest": _export_job_request(),
        **_webhook_bodies(),
        # No fields (the key is in the header); like every body, no empty field names.
        "instance.v1.CreateSessionRequest": {},
        "affiliate.v1.UpsertAffiliatesRequest": {"required": ["affiliates"], "affiliates": _batch()},
        "affiliate.v1.UpsertProductsRequest": {"required": ["products"], "products": _batch()},
        "affiliate.v1.CreateTrackingCodesRequest": {"required": ["tracking_codes"],
                                                    "tracking_codes": _batch()},
        "affiliate.v1.RecordEventsRequest": {"required": ["events"], "events": _batch()},
        "affiliate.v1.RecordConversionsRequest": {"required": ["conversions"], "conversions": _batch()},
        "affiliate.v1.AffiliateRecord": {"required": ["id", "name"], "id": {"pattern": _KEY},
                                         "name": {"minLength": 1, **_text(200, True)}},
        "affiliate.v1.ProductRecord": {"required": ["product_id", "name"], "product_id": {"pattern": _KEY},
                                       "name": {"minLength": 1, **_text(200, True)}},
        "affiliate.v1.TrackingCodeRecord": {"required": ["code", "affiliate_id"], "code": {"pattern": _KEY},
                                            "affiliate_id": {"pattern": _KEY}},
        "affiliate.v1.EventRecord": {
            "required": ["id", "type", "occurred_at"],
            "id": UUID, "type": _names(affiliate.EVENT_COUNTERS), "occurred_at": since_2000,
            "tracking_code": {"pattern": _OPTIONAL_KEY}, "product_id": {"pattern": _OPTIONAL_KEY},
            "session_id": _text(128), "page_url": _url(False), "referrer_url": _url(False),
            "user_agent": _text(1024), "country": {"pattern": r"^([A-Za-z]{2})?$"},
            **{name: _text(200) for name in ("utm_source", "utm_medium", "utm_campaign")},
            "allOf": [when(["click"], ["tracking_code", "page_url"]), when(["pageview"], ["session_id", "page_url"]),
                      when(product_kinds, ["product_id"])],
        },
        "affiliate.v1.ConversionRecord": {
            "required": ["order_id", "tracking_code", "order_total", "commission", "currency", "occurred_at"],
            "order_id": {"minLength": 1, **_text(64, True)}, "tracking_code": {"pattern": _KEY},
            "order_total": money, "commission": money, "currency": {"pattern": r"^[A-Z]{3}$"},
            "occurred_at": since_2000,
            "product_ids": {"maxItems": affiliate.MAX_PRODUCTS, "items": {"type": "string", "pattern": _KEY}},
        },
    }
    return {f".partnerlytics.{m}": c for m, c in out.items()}


PARAM_CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = _param_constraints()
_USED: set[tuple[str, str]] = set()
_USED_BODIES: set[str] = set()  # those of BODY_CONSTRAINTS a request body was built with
BODY_CONSTRAINTS: dict[str, dict[str, Any]] = _body_constraints()


def _constrained(message: str, field: descriptor_pb2.FieldDescriptorProto, schema: dict[str, Any]) -> dict[str, Any]:
    """The parameter's schema with its constraints from PARAM_CONSTRAINTS."""
    _USED.add((message, field.name))
    extra = {k: v for k, v in PARAM_CONSTRAINTS.get((message, field.name), {}).items() if k != "required"}
    return {**schema, **extra}


def _required(message: str, field: descriptor_pb2.FieldDescriptorProto) -> bool:
    return bool(PARAM_CONSTRAINTS.get((message, field.name), {}).get("required", False))


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           410: "Gone", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _clean_comment(text: str) -> str:
    """The comment as documentation: without its `buf:lint:ignore` lines (notes to buf)."""
    lines = [line[1:] if line.startswith(" ") else line for line in text.strip("\n").split("\n")]
    lines = [line for line in lines if not line.startswith("buf:lint:ignore")]
    return "\n".join(lines).strip()


class Protos:
    """The descriptor set, indexed: messages and enums by full name, comments by element."""

    def __init__(self, data: bytes) -> None:
        self.fds = descriptor_pb2.FileDescriptorSet.FromString(data)
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}  # full name (or "Message.field") -> leading comment
        for file in self.fds.file:
            package = f".{file.package}" if file.package else ""
            docs = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
            for i, message in enumerate(file.message_type):
                self._index_message(message, package, (4, i), docs)
            for i, enum in enumerate(file.enum_type):
                self.enums[f"{package}.{enum.name}"] = enum
                self.comments[f"{package}.{enum.name}"] = docs.get((5, i), "")
            for si, service in enumerate(file.service):
                name = f"{package}.{service.name}"
                self.comments[name] = docs.get((6, si), "")
                for mi, method in enumerate(service.method):
                    self.comments[f"{name}.{method.name}"] = docs.get((6, si, 2, mi), "")

    def _index_message(self, message, scope: str, path: tuple[int, ...], docs) -> None:
        name = f"{scope}.{message.name}"
        self.messages[name] = message
        self.comments[name] = docs.get(path, "")
        for fi, field in enumerate(message.field):
            self.comments[f"{name}.{field.name}"] = docs.get((*path, 2, fi), "")
        for ni, nested in enumerate(message.nested_type):
            self._index_message(nested, name, (*path, 3, ni), docs)
        for ei, enum in enumerate(message.enum_type):
            self.enums[f"{name}.{enum.name}"] = enum

    def services(self):
        """(full name, ServiceDescriptorProto) of every service, in descriptor order."""
        for file in self.fds.file:
            for service in file.service:
                yield f".{file.package}.{service.name}", service


def component_name(full_name: str) -> str:
    return full_name.lstrip(".")


def ref(full_name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component_name(full_name)}"}


class Builder:
    def __init__(self, protos: Protos) -> None:
        self.protos = protos
        self.schemas: dict[str, Any] = {}

    # ------------------------------------------------------------------ schemas

    def field_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
            entry = self.protos.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                _key, value = entry.field
                return {"type": "object", "additionalProperties": self.field_schema(value)}
            schema = self.message_ref(field.type_name)
        elif field.type == F.TYPE_ENUM:
            self.enum_schema(field.type_name)
            schema = ref(field.type_name)
        elif field.type == F.TYPE_BOOL:
            schema = {"type": "boolean"}
        elif field.type == F.TYPE_STRING:
            schema = {"type": "string"}
        elif field.type == F.TYPE_BYTES:
            schema = {"type": "string", "contentEncoding": "base64"}
        elif field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            schema = {"type": "number"}
        elif field.type in INT64_TYPES:
            # proto3 JSON prints 64-bit integers as strings.
            schema = {"type": "string", "pattern": r"^-?\d+$", "format": "int64"}
        else:
            schema = {"type": "integer", "format": INTEGER_FORMATS[field.type]}
        if field.label == F.LABEL_REPEATED:
            return {"type": "array", "items": schema}
        return schema

    def message_ref(self, full_name: str) -> dict[str, Any]:
        if full_name in WELL_KNOWN:
            return dict(WELL_KNOWN[full_name])
        self.message_schema(full_name)
        return ref(full_name)

    def enum_schema(self, full_name: str) -> None:
        name = component_name(full_name)
        if name in self.schemas:
            return
        enum = self.protos.enums[full_name]
        self.schemas[name] = {
            "type": "string",
            "enum": [value.name for value in enum.value],
            "description": _clean_comment(self.protos.comments.get(full_name, "")),
        }

    def message_schema(self, full_name: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The message's schema (registered as a component unless fields are skipped)."""
        name = component_name(full_name)
        if not skip and name in self.schemas:
            return self.schemas[name]
        message = self.protos.messages[full_name]
        schema: dict[str, Any] = {"type": "object"}
        if not skip:
            self.schemas[name] = schema  # before the fields: messages may refer to themselves
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message.field:
            if field.name in skip:
                continue
            prop = self.field_schema(field)
            doc = _clean_comment(self.protos.comments.get(f"{full_name}.{field.name}", ""))
            if doc:
                prop = {**prop, "description": doc} if "$ref" not in prop else {"allOf": [prop], "description": doc}
            properties[field.name] = prop
            # always_print_primitive_fields: every field without presence is printed.
            has_presence = field.HasField("oneof_index") or (
                field.type == F.TYPE_MESSAGE and field.label != F.LABEL_REPEATED)
            if not has_presence:
                required.append(field.name)
        doc = _clean_comment(self.protos.comments.get(full_name, ""))
        if doc:
            schema["description"] = doc
        schema["properties"] = properties
        required = SERVICE_PRINTED.get(name, required)
        body = BODY_CONSTRAINTS.get(full_name)
        if body is not None:  # a request body: what the service requires, nothing else
            _USED_BODIES.add(full_name)
            required = body.get("required", [])
            schema["propertyNames"] = {"minLength": 1}  # the transcoder refuses an empty field name
            for field_name, extra in body.items():
                if field_name in ("allOf", "anyOf"):
                    schema[field_name] = extra
                elif field_name != "required":
                    prop = properties[field_name]
                    properties[field_name] = ({**prop, **extra} if "allOf" not in prop
                                              else {**prop, "allOf": [*prop["allOf"], extra]})
            for field_name, prop in properties.items():
                if field_name not in required and isinstance(prop.get("type"), str):
                    properties[field_name] = {**prop, "type": [prop["type"], "null"]}
            if required:
                schema["required"] = required
            return schema
        if required:
            schema["x-always-printed"] = required
        return schema

    # ------------------------------------------------------------------ operations

    def statuses_of(self, method_name: str, seen: frozenset[str] = frozenset()) -> set[int]:
        """The HTTP statuses the RPC comment names, with those of the RPCs it refers to."""
        service = method_name.rsplit(".", 1)[0]
        # A service comment's statuses hold for each of its RPCs (the ingestion service).
        comment = self.protos.comments.get(service, "") + self.protos.comments.get(method_name, "")
        statuses = {int(code) for code in re.findall(r"\((\d{3})\b", comment)}
        for other in re.findall(r"Errors:? as (?:for )?`?(\w+)`?", comment):
            target = f"{service}.{other}"
            if target not in seen and target in self.protos.comments:
                statuses |= self.statuses_of(target, seen | {method_name})
        return statuses


def _family_of(path: str) -> Family:
    # The longest matching prefix, should one family's prefix ever start another's.
    matches = [f for f in FAMILIES if path.startswith(f.prefix)]
    if not matches:
        raise SystemExit(f"no gateway family serves {path}")
    return max(matches, key=lambda f: len(f.prefix))


def _gateway_replies(family: Family, has_body: bool) -> dict[int, str]:
    """Status -> description of the replies the gateway makes itself on a documented path."""
    replies: dict[int, str] = {}
    for reply in family.replies():
        status = reply.status
        if status in (404, 405):  # other paths and methods, not this operation
            continue
        if reply.details_prefix is not None or status == 413:
            if not has_body:
                continue
        what = {
            400: "a malformed request (e.g. a query parameter given twice)",
            413: "a request body over the gateway's limit",
            415: "a gRPC content type (the public port speaks JSON only)",
            502: "the upstream service sent an invalid response or cannot be reached",
            503: "the upstream service cannot be reached",
            504: "the upstream service did not answer in time",
            None: "any other failure",
        }.get(status, "")
        if reply.details_prefix is not None:
            what = "a body the gateway cannot parse as the request's JSON"
        text = f"Answered by the gateway: {what}." if what else "Answered by the gateway."
        replies.setdefault(reply.reply_status, text)
    return replies


def _file_schema(content_type: str) -> dict[str, Any]:
    """The schema of an export file of that media type (OpenAPI 3.1: `contentMediaType`)."""
    media = content_type.split(";")[0]
    if media == "application/json":
        return JSON_EXPORT_SCHEMA
    if media.startswith("text/"):
        return {"type": "string", "contentMediaType": media, "description": "The file's text (UTF-8)."}
    return {"type": "string", "format": "binary", "contentMediaType": media, "description": "The file's bytes."}


def _path_params(template: str) -> list[str]:
    return re.findall(r"\{([^}=]+)(?:=[^}]*)?\}", template)


def build(descriptor: bytes) -> dict[str, Any]:
    """The OpenAPI document as a dict (deterministic: same descriptor, same document)."""
    protos = Protos(descriptor)
    builder = Builder(protos)
    transcoded = {f".{s}" for family in FAMILIES for s in family.grpc_services}
    public_paths = {p for family in FAMILIES for p in family.browser_paths}
    paths: dict[str, dict[str, Any]] = {}

    def error_ref(family: Family) -> dict[str, Any]:
        style = family.envelope
        target = ENVELOPE_SCHEMAS[style]
        if isinstance(target, str):
            builder.message_ref(target)
            return ref(target)
        name = f"{style}.ErrorEnvelope"
        builder.schemas.setdefault(name, target)
        return {"$ref": f"#/components/schemas/{name}"}

    for service_name, service in protos.services():
        if service_name not in transcoded:
            continue
        for method in service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb is None or verb == "custom":
                continue
            template = getattr(rule, verb)
            full_method = f"{service_name}.{method.name}"
            family = _family_of(template)
            path_fields = _path_params(template)
            request = protos.messages[method.input_type]
            comment = _clean_comment(protos.comments.get(full_method, ""))
            summary, _, rest = comment.partition("\n\n")
            operation: dict[str, Any] = {
                "operationId": method.name,
                "tags": [family.name],
                "summary": " ".join(summary.split()),
                "description": comment,
                "x-grpc-method": f"{service_name.lstrip('.')}/{method.name}",
            }
            parameters: list[dict[str, Any]] = []
            for name in path_fields:
                field = next(f for f in request.field if f.name == name)
                doc = _clean_comment(protos.comments.get(f"{method.input_type}.{name}", ""))
                parameters.append({"name": name, "in": "path", "required": True,
                                   "schema": _constrained(method.input_type, field, builder.field_schema(field)),
                                   **({"description": doc} if doc else {})})
            body_field = rule.body
            if body_field and body_field != "*":
                field = next(f for f in request.field if f.name == body_field)
                body_schema: dict[str, Any] | None = builder.field_schema(field)
                query_fields = [f for f in request.field if f.name not in path_fields and f.name != body_field]
            elif body_field == "*":
                if path_fields:
                    body_schema = builder.message_schema(method.input_type, skip=frozenset(path_fields))
                else:
                    body_schema = builder.message_ref(method.input_type)
                query_fields = []
            else:
                body_schema = None
                query_fields = [f for f in request.field if f.name not in path_fields]
            for field in query_fields:
                if field.type == F.TYPE_MESSAGE and field.type_name not in WELL_KNOWN:
                    continue  # nested query parameters are not used by any documented endpoint
                doc = _clean_comment(protos.comments.get(f"{method.input_type}.{field.name}", ""))
                param: dict[str, Any] = {"name": field.name, "in": "query", "required": _required(method.input_type, field),
                                         "schema": _constrained(method.input_type, field, builder.field_schema(field))}
                if field.label == F.LABEL_REPEATED:
                    param.update(style="form", explode=True)
                if doc:
                    param["description"] = doc
                parameters.append(param)
            if parameters:
                operation["parameters"] = parameters
            if body_schema is not None:
                operation["requestBody"] = {"required": True,
                                            "content": {"application/json": {"schema": body_schema}}}
            responses: dict[str, Any] = {}
            if method.output_type == ".google.api.HttpBody" and family.name == "exports":
                from platform_core.export_files import CONTENT_TYPES as FILE_TYPES

                files = {ctype.split(";")[0]: {"schema": _file_schema(ctype)} for ctype in FILE_TYPES.values()}
                headers = {name: {"schema": {"type": "string"}}
                           for name in ("Content-Disposition", "Accept-Ranges", "ETag")}
                responses["200"] = {
                    "description": "The whole file (google.api.HttpBody, streamed): the content type is the "
                                   "export's format; `Content-Disposition` names the file.",
                    "headers": headers, "content": files,
                }
                responses["206"] = {
                    "description": "The bytes of the `Range` request header's single range; `Content-Range` says "
                                   "which (docs/exports.md, \"Resuming a download\").",
                    "headers": {**headers, "Content-Range": {"schema": {"type": "string"}}}, "content": files,
                }
            elif method.output_type == ".google.api.HttpBody":
                from services.voucher.exports import CONTENT_TYPES

                responses["200"] = {
                    "description": "The file's bytes as they are stored (google.api.HttpBody, streamed): "
                                   "the content type is the export's format; `Content-Disposition` names the file.",
                    "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                    # The export's format decides: CSV is text, a JSON export one object, XLSX
                    # binary (services/voucher/exports.py). CSV first: a client that reads one
                    # media type per status reads the answer as text.
                    "content": {ctype.split(";")[0]: {"schema": _file_schema(ctype)} for ctype in CONTENT_TYPES.values()},
                }
            else:
                responses["200"] = {
                    "description": "Success.",
                    "content": {"application/json": {"schema": builder.message_ref(method.output_type)}},
                }
            statuses: dict[int, str] = {s: "As the operation's description says." for s in
                                        builder.statuses_of(full_method)}
            statuses.setdefault(429, "Rate limit exceeded (`Retry-After` says when to retry).")
            for status, text in _gateway_replies(family, body_schema is not None).items():
                statuses.setdefault(status, text)
            envelope = error_ref(family)
            for status in sorted(statuses):
                responses[str(status)] = {
                    "description": f"{REASONS.get(status, 'Error')}. {statuses[status]}",
                    "content": {"application/json": {"schema": envelope}},
                }
            operation["responses"] = responses
            if template in public_paths:
                operation["security"] = []
            paths.setdefault(template, {})[verb] = operation

    for family in FAMILIES:
        for asset in family.assets:
            paths[asset.path] = {"get": {
                "operationId": "Get" + "".join(p.capitalize() for p in re.split(r"[^a-zA-Z0-9]", asset.path.rsplit("/", 1)[-1])),
                "tags": [family.name],
                "summary": f"The {asset.path.rsplit('/', 1)[-1]} file, served by the gateway itself.",
                "security": [],
                "responses": {"200": {"description": "The file.",
                                      "content": {asset.content_type.split(";")[0]: {"schema": {
                                          "type": "string", "contentMediaType": asset.content_type.split(";")[0],
                                          "description": "The file's text (UTF-8)."}}}}},
            }}
    paths[SPEC_PATH] = {"get": {
        "operationId": "GetOpenApiDocument",
        "tags": ["gateway"],
        "summary": "This document, served by the gateway itself.",
        "security": [],
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}

    _mark_required(builder.schemas)
    unused = sorted(set(PARAM_CONSTRAINTS) - _USED) + sorted(set(BODY_CONSTRAINTS) - _USED_BODIES)
    if unused:
        raise SystemExit(f"constraints of no documented parameter or body: {unused}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Partnerlytics partner API",
            "version": "v1",
            "description": "Generated by tools/genopenapi.py from the protos' google.api.http annotations "
                           "(make proto). JSON field names are the proto field names; int64 values are "
                           "strings; timestamps are RFC 3339 UTC. Every error has its family's envelope.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": f.name} for f in FAMILIES] + [{"name": "gateway"}],
        "security": [{"bearerAuth": []}],
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A secret key: `sk_live_` or `sk_test_` followed by 32 letters and digits.",
            }},
            "schemas": {name: builder.schemas[name] for name in sorted(builder.schemas)},
        },
    }


def _mark_required(schemas: dict[str, Any]) -> None:
    """Turns the always-printed fields into `required` (JSON that every response has)."""
    for schema in schemas.values():
        printed = schema.pop("x-always-printed", None)
        if printed:
            schema["required"] = printed


def render(descriptor: bytes) -> str:
    return json.dumps(build(descriptor), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--descriptor", default=str(DESCRIPTOR))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    text = render(pathlib.Path(args.descriptor).read_bytes())
    pathlib.Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
