import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AffiliateRecord(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class TrackingCodeRecord(_message.Message):
    __slots__ = ("code", "affiliate_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    AFFILIATE_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    affiliate_id: str
    def __init__(self, code: _Optional[str] = ..., affiliate_id: _Optional[str] = ...) -> None: ...

class ProductRecord(_message.Message):
    __slots__ = ("product_id", "name")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class EventRecord(_message.Message):
    __slots__ = ("id", "type", "occurred_at", "tracking_code", "session_id", "page_url", "referrer_url", "user_agent", "country", "utm_source", "utm_medium", "utm_campaign", "product_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_URL_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    UTM_SOURCE_FIELD_NUMBER: _ClassVar[int]
    UTM_MEDIUM_FIELD_NUMBER: _ClassVar[int]
    UTM_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    tracking_code: str
    session_id: str
    page_url: str
    referrer_url: str
    user_agent: str
    country: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    product_id: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tracking_code: _Optional[str] = ..., session_id: _Optional[str] = ..., page_url: _Optional[str] = ..., referrer_url: _Optional[str] = ..., user_agent: _Optional[str] = ..., country: _Optional[str] = ..., utm_source: _Optional[str] = ..., utm_medium: _Optional[str] = ..., utm_campaign: _Optional[str] = ..., product_id: _Optional[str] = ...) -> None: ...

class ConversionRecord(_message.Message):
    __slots__ = ("order_id", "tracking_code", "order_total", "commission", "currency", "occurred_at", "product_ids")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_IDS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    tracking_code: str
    order_total: str
    commission: str
    currency: str
    occurred_at: _timestamp_pb2.Timestamp
    product_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, order_id: _Optional[str] = ..., tracking_code: _Optional[str] = ..., order_total: _Optional[str] = ..., commission: _Optional[str] = ..., currency: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., product_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertAffiliatesRequest(_message.Message):
    __slots__ = ("affiliates",)
    AFFILIATES_FIELD_NUMBER: _ClassVar[int]
    affiliates: _containers.RepeatedCompositeFieldContainer[AffiliateRecord]
    def __init__(self, affiliates: _Optional[_Iterable[_Union[AffiliateRecord, _Mapping]]] = ...) -> None: ...

class CreateTrackingCodesRequest(_message.Message):
    __slots__ = ("tracking_codes",)
    TRACKING_CODES_FIELD_NUMBER: _ClassVar[int]
    tracking_codes: _containers.RepeatedCompositeFieldContainer[TrackingCodeRecord]
    def __init__(self, tracking_codes: _Optional[_Iterable[_Union[TrackingCodeRecord, _Mapping]]] = ...) -> None: ...

class UpsertProductsRequest(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[ProductRecord]
    def __init__(self, products: _Optional[_Iterable[_Union[ProductRecord, _Mapping]]] = ...) -> None: ...

class RecordEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventRecord]
    def __init__(self, events: _Optional[_Iterable[_Union[EventRecord, _Mapping]]] = ...) -> None: ...

class RecordConversionsRequest(_message.Message):
    __slots__ = ("conversions",)
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    conversions: _containers.RepeatedCompositeFieldContainer[ConversionRecord]
    def __init__(self, conversions: _Optional[_Iterable[_Union[ConversionRecord, _Mapping]]] = ...) -> None: ...

class IngestResult(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class UpsertAffiliatesResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: IngestResult
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[IngestResult, _Mapping]] = ...) -> None: ...

class CreateTrackingCodesResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: IngestResult
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[IngestResult, _Mapping]] = ...) -> None: ...

class UpsertProductsResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: IngestResult
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[IngestResult, _Mapping]] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: IngestResult
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[IngestResult, _Mapping]] = ...) -> None: ...

class RecordConversionsResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: IngestResult
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[IngestResult, _Mapping]] = ...) -> None: ...
