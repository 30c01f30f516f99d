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

class GetCampaignAnalyticsRequest(_message.Message):
    __slots__ = ("campaign_id", "time_frame", "start_date", "end_date", "is_purchase", "page", "limit")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FRAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    IS_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    time_frame: str
    start_date: str
    end_date: str
    is_purchase: str
    page: str
    limit: str
    def __init__(self, campaign_id: _Optional[str] = ..., time_frame: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., is_purchase: _Optional[str] = ..., page: _Optional[str] = ..., limit: _Optional[str] = ...) -> None: ...

class CampaignInstance(_message.Message):
    __slots__ = ("instance_id", "insider_id", "is_purchase", "purchased_insider_id", "timestamp", "revenue")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    IS_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_INSIDER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    insider_id: str
    is_purchase: bool
    purchased_insider_id: _struct_pb2.Value
    timestamp: _timestamp_pb2.Timestamp
    revenue: float
    def __init__(self, instance_id: _Optional[str] = ..., insider_id: _Optional[str] = ..., is_purchase: _Optional[bool] = ..., purchased_insider_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revenue: _Optional[float] = ...) -> None: ...

class CampaignSummary(_message.Message):
    __slots__ = ("total_instances", "purchase_instances", "non_purchase_instances", "total_revenue", "conversion_rate")
    TOTAL_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    NON_PURCHASE_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REVENUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    total_instances: int
    purchase_instances: int
    non_purchase_instances: int
    total_revenue: float
    conversion_rate: float
    def __init__(self, total_instances: _Optional[int] = ..., purchase_instances: _Optional[int] = ..., non_purchase_instances: _Optional[int] = ..., total_revenue: _Optional[float] = ..., conversion_rate: _Optional[float] = ...) -> None: ...

class CampaignAnalytics(_message.Message):
    __slots__ = ("campaign_id", "time_frame", "instances", "summary")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FRAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    time_frame: str
    instances: _containers.RepeatedCompositeFieldContainer[CampaignInstance]
    summary: CampaignSummary
    def __init__(self, campaign_id: _Optional[str] = ..., time_frame: _Optional[str] = ..., instances: _Optional[_Iterable[_Union[CampaignInstance, _Mapping]]] = ..., summary: _Optional[_Union[CampaignSummary, _Mapping]] = ...) -> None: ...

class GetCampaignAnalyticsResponse(_message.Message):
    __slots__ = ("success", "message", "data", "pagination", "meta")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: CampaignAnalytics
    pagination: _envelope_pb2.Pagination
    meta: _envelope_pb2.Meta
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[CampaignAnalytics, _Mapping]] = ..., pagination: _Optional[_Union[_envelope_pb2.Pagination, _Mapping]] = ..., meta: _Optional[_Union[_envelope_pb2.Meta, _Mapping]] = ...) -> None: ...
