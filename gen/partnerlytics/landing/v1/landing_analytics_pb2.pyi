from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_PAGEVIEW: _ClassVar[EventType]
    EVENT_TYPE_CLICK_WHATSAPP: _ClassVar[EventType]
    EVENT_TYPE_CLICK_CALL: _ClassVar[EventType]
    EVENT_TYPE_CLICK_TOGGLE_CURRENCY: _ClassVar[EventType]
    EVENT_TYPE_TIME_ON_PAGE: _ClassVar[EventType]
    EVENT_TYPE_QR_SCAN: _ClassVar[EventType]
    EVENT_TYPE_PRODUCT_CLICK: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_PAGEVIEW: EventType
EVENT_TYPE_CLICK_WHATSAPP: EventType
EVENT_TYPE_CLICK_CALL: EventType
EVENT_TYPE_CLICK_TOGGLE_CURRENCY: EventType
EVENT_TYPE_TIME_ON_PAGE: EventType
EVENT_TYPE_QR_SCAN: EventType
EVENT_TYPE_PRODUCT_CLICK: EventType

class TrackEventRequest(_message.Message):
    __slots__ = ("tenant_id", "event_type", "metadata")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    tenant_id: _struct_pb2.Value
    event_type: _struct_pb2.Value
    metadata: _struct_pb2.Value
    def __init__(self, tenant_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., event_type: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class TrackEventResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class GetAnalyticsRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class DailyVisitors(_message.Message):
    __slots__ = ("date", "visitors")
    DATE_FIELD_NUMBER: _ClassVar[int]
    VISITORS_FIELD_NUMBER: _ClassVar[int]
    date: str
    visitors: int
    def __init__(self, date: _Optional[str] = ..., visitors: _Optional[int] = ...) -> None: ...

class Analytics(_message.Message):
    __slots__ = ("visitors_today", "visitors_week", "whatsapp_clicks", "call_clicks", "currency_toggles", "qr_scans", "avg_time_on_page", "last_7_days")
    VISITORS_TODAY_FIELD_NUMBER: _ClassVar[int]
    VISITORS_WEEK_FIELD_NUMBER: _ClassVar[int]
    WHATSAPP_CLICKS_FIELD_NUMBER: _ClassVar[int]
    CALL_CLICKS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_TOGGLES_FIELD_NUMBER: _ClassVar[int]
    QR_SCANS_FIELD_NUMBER: _ClassVar[int]
    AVG_TIME_ON_PAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_7_DAYS_FIELD_NUMBER: _ClassVar[int]
    visitors_today: int
    visitors_week: int
    whatsapp_clicks: int
    call_clicks: int
    currency_toggles: int
    qr_scans: int
    avg_time_on_page: int
    last_7_days: _containers.RepeatedCompositeFieldContainer[DailyVisitors]
    def __init__(self, visitors_today: _Optional[int] = ..., visitors_week: _Optional[int] = ..., whatsapp_clicks: _Optional[int] = ..., call_clicks: _Optional[int] = ..., currency_toggles: _Optional[int] = ..., qr_scans: _Optional[int] = ..., avg_time_on_page: _Optional[int] = ..., last_7_days: _Optional[_Iterable[_Union[DailyVisitors, _Mapping]]] = ...) -> None: ...

class GetAnalyticsResponse(_message.Message):
    __slots__ = ("success", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    data: Analytics
    def __init__(self, success: _Optional[bool] = ..., data: _Optional[_Union[Analytics, _Mapping]] = ...) -> None: ...

class GetTodayAnalyticsRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class GetTodayAnalyticsResponse(_message.Message):
    __slots__ = ("success", "visitors_today", "whatsapp_clicks", "qr_scans", "products_viewed")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    VISITORS_TODAY_FIELD_NUMBER: _ClassVar[int]
    WHATSAPP_CLICKS_FIELD_NUMBER: _ClassVar[int]
    QR_SCANS_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_VIEWED_FIELD_NUMBER: _ClassVar[int]
    success: bool
    visitors_today: int
    whatsapp_clicks: int
    qr_scans: int
    products_viewed: int
    def __init__(self, success: _Optional[bool] = ..., visitors_today: _Optional[int] = ..., whatsapp_clicks: _Optional[int] = ..., qr_scans: _Optional[int] = ..., products_viewed: _Optional[int] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "message", "code")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    code: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class LandingError(_message.Message):
    __slots__ = ("success", "error", "code", "fields", "retry_after", "request_id")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    code: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldError]
    retry_after: int
    request_id: str
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ..., code: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ..., retry_after: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...
