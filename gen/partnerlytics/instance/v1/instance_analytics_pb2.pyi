import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from partnerlytics.partner.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListInstanceAnalyticsRequest(_message.Message):
    __slots__ = ("is_purchased", "time_frame", "start_date", "end_date", "page", "limit")
    IS_PURCHASED_FIELD_NUMBER: _ClassVar[int]
    TIME_FRAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    is_purchased: str
    time_frame: str
    start_date: str
    end_date: str
    page: str
    limit: str
    def __init__(self, is_purchased: _Optional[str] = ..., time_frame: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page: _Optional[str] = ..., limit: _Optional[str] = ...) -> None: ...

class InstanceSummary(_message.Message):
    __slots__ = ("timestamp", "instance_id", "is_purchase", "insider_id", "purchased_insider_id")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    IS_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    instance_id: str
    is_purchase: bool
    insider_id: str
    purchased_insider_id: _struct_pb2.Value
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., instance_id: _Optional[str] = ..., is_purchase: _Optional[bool] = ..., insider_id: _Optional[str] = ..., purchased_insider_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class ListInstanceAnalyticsResponse(_message.Message):
    __slots__ = ("success", "time_frame", "message", "data", "pagination", "meta")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    TIME_FRAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    success: bool
    time_frame: str
    message: str
    data: _containers.RepeatedCompositeFieldContainer[InstanceSummary]
    pagination: _envelope_pb2.Pagination
    meta: _envelope_pb2.Meta
    def __init__(self, success: _Optional[bool] = ..., time_frame: _Optional[str] = ..., message: _Optional[str] = ..., data: _Optional[_Iterable[_Union[InstanceSummary, _Mapping]]] = ..., pagination: _Optional[_Union[_envelope_pb2.Pagination, _Mapping]] = ..., meta: _Optional[_Union[_envelope_pb2.Meta, _Mapping]] = ...) -> None: ...

class GetInstanceDetailsBody(_message.Message):
    __slots__ = ("instance_ids",)
    INSTANCE_IDS_FIELD_NUMBER: _ClassVar[int]
    instance_ids: _struct_pb2.Value
    def __init__(self, instance_ids: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class GetInstanceDetailsRequest(_message.Message):
    __slots__ = ("events", "body")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    events: str
    body: GetInstanceDetailsBody
    def __init__(self, events: _Optional[str] = ..., body: _Optional[_Union[GetInstanceDetailsBody, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "name", "tracker_type", "reference_id", "created_at", "updated_at", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRACKER_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    tracker_type: str
    reference_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., tracker_type: _Optional[str] = ..., reference_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class OrderItem(_message.Message):
    __slots__ = ("product_id", "quantity", "price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    price: float
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[float] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("id", "total", "currency", "status", "items", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    total: float
    currency: str
    status: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., total: _Optional[float] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InsiderReward(_message.Message):
    __slots__ = ("id", "insider_id", "type", "amount", "currency", "status", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    insider_id: str
    type: str
    amount: float
    currency: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., insider_id: _Optional[str] = ..., type: _Optional[str] = ..., amount: _Optional[float] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InstanceDetails(_message.Message):
    __slots__ = ("instance_id", "insider_id", "purchased_insider_id", "campaign_id", "is_purchase", "events", "order", "insider_rewards", "order_discounted_price", "cashfunds_use", "credits_used")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IS_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    INSIDER_REWARDS_FIELD_NUMBER: _ClassVar[int]
    ORDER_DISCOUNTED_PRICE_FIELD_NUMBER: _ClassVar[int]
    CASHFUNDS_USE_FIELD_NUMBER: _ClassVar[int]
    CREDITS_USED_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    insider_id: str
    purchased_insider_id: _struct_pb2.Value
    campaign_id: str
    is_purchase: bool
    events: _containers.RepeatedCompositeFieldContainer[Event]
    order: _struct_pb2.Value
    insider_rewards: _containers.RepeatedCompositeFieldContainer[InsiderReward]
    order_discounted_price: _struct_pb2.Value
    cashfunds_use: float
    credits_used: float
    def __init__(self, instance_id: _Optional[str] = ..., insider_id: _Optional[str] = ..., purchased_insider_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., campaign_id: _Optional[str] = ..., is_purchase: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., order: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., insider_rewards: _Optional[_Iterable[_Union[InsiderReward, _Mapping]]] = ..., order_discounted_price: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., cashfunds_use: _Optional[float] = ..., credits_used: _Optional[float] = ...) -> None: ...

class GetInstanceDetailsResponse(_message.Message):
    __slots__ = ("success", "message", "data", "meta")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: _containers.RepeatedCompositeFieldContainer[InstanceDetails]
    meta: _envelope_pb2.Meta
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Iterable[_Union[InstanceDetails, _Mapping]]] = ..., meta: _Optional[_Union[_envelope_pb2.Meta, _Mapping]] = ...) -> None: ...
