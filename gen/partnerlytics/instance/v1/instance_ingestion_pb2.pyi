import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackerType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKER_TYPE_UNSPECIFIED: _ClassVar[TrackerType]
    TRACKER_TYPE_PAGE_VIEW: _ClassVar[TrackerType]
    TRACKER_TYPE_CLICK_TRACKING: _ClassVar[TrackerType]
    TRACKER_TYPE_SCROLL_TRACKING: _ClassVar[TrackerType]
    TRACKER_TYPE_TIME_TRACKING: _ClassVar[TrackerType]
TRACKER_TYPE_UNSPECIFIED: TrackerType
TRACKER_TYPE_PAGE_VIEW: TrackerType
TRACKER_TYPE_CLICK_TRACKING: TrackerType
TRACKER_TYPE_SCROLL_TRACKING: TrackerType
TRACKER_TYPE_TIME_TRACKING: TrackerType

class InstanceRecord(_message.Message):
    __slots__ = ("id", "campaign_id", "insider_id", "timestamp")
    ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    id: str
    campaign_id: str
    insider_id: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., insider_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EventRecord(_message.Message):
    __slots__ = ("id", "instance_id", "name", "tracker_type", "reference_id", "created_at", "updated_at", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRACKER_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    instance_id: str
    name: str
    tracker_type: TrackerType
    reference_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., instance_id: _Optional[str] = ..., name: _Optional[str] = ..., tracker_type: _Optional[_Union[TrackerType, str]] = ..., reference_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class OrderItemRecord(_message.Message):
    __slots__ = ("product_id", "quantity", "price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    price: str
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[str] = ...) -> None: ...

class OrderRecord(_message.Message):
    __slots__ = ("id", "instance_id", "purchased_insider_id", "total", "currency", "status", "items", "discounted_price", "cashfunds_used", "credits_used", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTED_PRICE_FIELD_NUMBER: _ClassVar[int]
    CASHFUNDS_USED_FIELD_NUMBER: _ClassVar[int]
    CREDITS_USED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    instance_id: str
    purchased_insider_id: str
    total: str
    currency: str
    status: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItemRecord]
    discounted_price: str
    cashfunds_used: str
    credits_used: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., instance_id: _Optional[str] = ..., purchased_insider_id: _Optional[str] = ..., total: _Optional[str] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItemRecord, _Mapping]]] = ..., discounted_price: _Optional[str] = ..., cashfunds_used: _Optional[str] = ..., credits_used: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InsiderRewardRecord(_message.Message):
    __slots__ = ("id", "instance_id", "insider_id", "type", "amount", "currency", "status", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    instance_id: str
    insider_id: str
    type: str
    amount: str
    currency: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., instance_id: _Optional[str] = ..., insider_id: _Optional[str] = ..., type: _Optional[str] = ..., amount: _Optional[str] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateInstanceRequest(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRecord
    def __init__(self, instance: _Optional[_Union[InstanceRecord, _Mapping]] = ...) -> None: ...

class BatchCreateInstancesRequest(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[InstanceRecord]
    def __init__(self, instances: _Optional[_Iterable[_Union[InstanceRecord, _Mapping]]] = ...) -> None: ...

class CreateEventRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: EventRecord
    def __init__(self, event: _Optional[_Union[EventRecord, _Mapping]] = ...) -> None: ...

class BatchCreateEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventRecord]
    def __init__(self, events: _Optional[_Iterable[_Union[EventRecord, _Mapping]]] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: OrderRecord
    def __init__(self, order: _Optional[_Union[OrderRecord, _Mapping]] = ...) -> None: ...

class BatchCreateOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[OrderRecord]
    def __init__(self, orders: _Optional[_Iterable[_Union[OrderRecord, _Mapping]]] = ...) -> None: ...

class CreateInsiderRewardRequest(_message.Message):
    __slots__ = ("insider_reward",)
    INSIDER_REWARD_FIELD_NUMBER: _ClassVar[int]
    insider_reward: InsiderRewardRecord
    def __init__(self, insider_reward: _Optional[_Union[InsiderRewardRecord, _Mapping]] = ...) -> None: ...

class BatchCreateInsiderRewardsRequest(_message.Message):
    __slots__ = ("insider_rewards",)
    INSIDER_REWARDS_FIELD_NUMBER: _ClassVar[int]
    insider_rewards: _containers.RepeatedCompositeFieldContainer[InsiderRewardRecord]
    def __init__(self, insider_rewards: _Optional[_Iterable[_Union[InsiderRewardRecord, _Mapping]]] = ...) -> None: ...

class CreateInstanceResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateInstancesResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateEventResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateEventsResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateOrderResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateOrdersResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateInsiderRewardResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateInsiderRewardsResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...
