"""A thin gRPC client over the generated stubs (gen/ of the repository, `make proto`).

Every RPC of the five families is a snake_case method taking keyword arguments of
their natural types: ints, bools, dates, date-times and enums (by name or member),
lists of records as messages or dicts. The SDK writes what the protos hold: the
analytics requests keep their query parameters as optional strings (the REST
documents' parsing), so `limit=20` is sent as `"20"`, never typed by the caller.

    channel = grpc.insecure_channel("127.0.0.1:50051")
    instance = GrpcClient(channel, api_key).instance_analytics
    page = instance.list_instance_analytics(time_frame="day", limit=20, is_purchased=True)

With a `grpc.aio` channel every method returns an awaitable.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ._transport import query_value
from .errors import PartnerlyticsError

# Attribute of GrpcClient -> (module of the generated stubs, service name).
SERVICES = {
    "instance_analytics": ("partnerlytics.instance.v1.instance_analytics", "InstanceAnalyticsService"),
    "instance_ingestion": ("partnerlytics.instance.v1.instance_ingestion", "InstanceIngestionService"),
    "campaign_analytics": ("partnerlytics.campaign.v1.campaign_analytics", "CampaignAnalyticsService"),
    "campaigns": ("partnerlytics.campaign.v1.campaigns", "CampaignService"),
    "affiliate_analytics": ("partnerlytics.affiliate.v1.affiliate_analytics", "AffiliateAnalyticsService"),
    "affiliate_ingestion": ("partnerlytics.affiliate.v1.affiliate_ingestion", "AffiliateIngestionService"),
    "voucher_analytics": ("partnerlytics.voucher.v1.voucher_analytics", "VoucherAnalyticsService"),
    "voucher_ingestion": ("partnerlytics.voucher.v1.voucher_ingestion", "VoucherIngestionService"),
    "landing_analytics": ("partnerlytics.landing.v1.landing_analytics", "LandingAnalyticsService"),
    "landing_tenants": ("partnerlytics.landing.v1.tenants", "LandingTenantService"),
    "sessions": ("partnerlytics.instance.v1.sessions", "SessionService"),
    "webhooks": ("partnerlytics.webhooks.v1.webhooks", "WebhookService"),
    "exports": ("partnerlytics.exports.v1.exports", "ExportService"),
}


class GrpcError(PartnerlyticsError):
    """A failed RPC with its rich status: `code`, `reason` and `metadata` (ErrorInfo),
    `field_violations` (BadRequest: field -> description), `retry_delay` (RetryInfo) and
    `request_id` (RequestInfo)."""

    code: grpc.StatusCode
    reason: str | None
    metadata: dict[str, str]
    field_violations: list[tuple[str, str]]
    retry_delay: float | None


def _grpc_error(error: grpc.RpcError) -> GrpcError:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    out = GrpcError(f"{error.code().name}: {error.details()}")
    out.code, out.reason, out.metadata, out.field_violations, out.retry_delay = error.code(), None, {}, [], None
    for detail in status.details if status else ():
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo,
                     error_details_pb2.RequestInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                if kind is error_details_pb2.ErrorInfo:
                    out.reason, out.metadata = message.reason, dict(message.metadata)
                elif kind is error_details_pb2.BadRequest:
                    out.field_violations = [(v.field, v.description) for v in message.field_violations]
                elif kind is error_details_pb2.RetryInfo:
                    out.retry_delay = message.retry_delay.ToTimedelta().total_seconds()
                    out.retry_after = out.retry_delay
                else:
                    out.request_id = message.request_id
    if out.field_violations:
        out.args = (f"{out.args[0]}: " + "; ".join(f"{f}: {d}" for f, d in out.field_violations),)
    return out


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _timestamp(value: Any) -> timestamp_pb2.Timestamp:
    if isinstance(value, timestamp_pb2.Timestamp):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("date-times must be timezone-aware")
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(value.astimezone(dt.UTC))
        return stamp
    raise TypeError(f"a Timestamp field takes a datetime, not {type(value).__name__}")


def _enum(field: FieldDescriptor, value: Any) -> int:
    """An enum field from its number, its full name or its short name (`PAGE_VIEW`)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int):
        return value
    values = field.enum_type.values_by_name
    prefix = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field.enum_type.name).upper() + "_"
    name = str(value).upper()
    hit = values.get(name) or values.get(prefix + name)
    if hit is None:
        raise ValueError(f"{field.enum_type.name} has no value {value!r}")
    return hit.number


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum(field, value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return query_value(value)  # typed value -> the text the service parses
    if field.type in (FieldDescriptor.TYPE_BOOL,) and not isinstance(value, bool):
        raise TypeError(f"{field.name} takes a bool")
    return value


def build(message_cls: type[Message], values: Mapping[str, Any]) -> Message:
    """A request message from typed Python values, by the message's descriptor."""
    message = message_cls()
    for name, value in values.items():
        if value is None:
            continue
        field = message_cls.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            raise TypeError(f"{message_cls.DESCRIPTOR.name} has no field {name!r}")
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            target = getattr(message, name)
            kind = field.message_type.full_name
            items = value if repeated else [value]
            for item in items:
                part = target.add() if repeated else target
                if kind == "google.protobuf.Timestamp":
                    part.CopyFrom(_timestamp(item))
                elif kind in ("google.protobuf.Value", "google.protobuf.Struct"):
                    json_format.ParseDict(item, part)
                elif isinstance(item, Message):
                    part.CopyFrom(item)
                else:
                    part.CopyFrom(build(type(part), item))
        elif repeated:
            getattr(message, name).extend(_scalar(field, v) for v in value)
        else:
            setattr(message, name, _scalar(field, value))
    return message


class _Service:
    """One service's RPCs as methods (`list_instance_analytics(**typed)`)."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel, module: str, service: str,
                 metadata: tuple[tuple[str, str], ...], timeout: float | None) -> None:
        pb2 = importlib.import_module(module + "_pb2")
        pb2_grpc = importlib.import_module(module + "_pb2_grpc")
        stub = getattr(pb2_grpc, f"{service}Stub")(channel)
        self._aio = isinstance(channel, grpc.aio.Channel)
        self.rpcs: dict[str, Callable[..., Any]] = {}
        for method in pb2.DESCRIPTOR.services_by_name[service].methods:
            request_cls = getattr(pb2, method.input_type.name) if method.input_type.file is pb2.DESCRIPTOR else None
            if request_cls is None:
                request_cls = _message_class(method.input_type)
            self.rpcs[snake(method.name)] = self._method(getattr(stub, method.name), request_cls,
                                                          method.server_streaming, metadata, timeout)

    def _method(self, call: Any, request_cls: type[Message], streaming: bool,
                metadata: tuple[tuple[str, str], ...], timeout: float | None) -> Callable[..., Any]:
        def invoke(request: Message | None = None, /, **values: Any) -> Any:
            message = request if request is not None else build(request_cls, values)
            if self._aio:
                return self._await(call, message, streaming, metadata, timeout)
            try:
                result = call(message, metadata=metadata, timeout=timeout)
                return list(result) if streaming else result
            except grpc.RpcError as error:
                raise _grpc_error(error) from None

        invoke.__doc__ = f"{request_cls.DESCRIPTOR.full_name} from keyword arguments (or the message itself)."
        return invoke

    @staticmethod
    async def _await(call: Any, message: Message, streaming: bool, metadata: Any, timeout: float | None) -> Any:
        try:
            if streaming:
                return [chunk async for chunk in call(message, metadata=metadata, timeout=timeout)]
            return await call(message, metadata=metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise _grpc_error(error) from None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self.rpcs[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.rpcs]


def _message_class(descriptor: Any) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


class GrpcClient:
    """Every service of `SERVICES` on one channel (or a channel per service name)."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel | Mapping[str, Any], api_key: str | None = None, *,
                 timeout: float | None = 30.0) -> None:
        metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        for attr, (module, service) in SERVICES.items():
            target = channel.get(attr) if isinstance(channel, Mapping) else channel
            if target is not None:
                setattr(self, attr, _Service(target, module, service, metadata, timeout))
