import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimePeriod(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetVoucherPerformanceRequest(_message.Message):
    __slots__ = ("voucher_id", "start_date", "end_date", "include_details")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DETAILS_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    start_date: str
    end_date: str
    include_details: str
    def __init__(self, voucher_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., include_details: _Optional[str] = ...) -> None: ...

class Performance(_message.Message):
    __slots__ = ("total_uses", "total_discount", "conversion_rate", "avg_order_value", "revenue_impact", "unique_customers", "repeat_usage")
    TOTAL_USES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_IMPACT_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_USAGE_FIELD_NUMBER: _ClassVar[int]
    total_uses: int
    total_discount: float
    conversion_rate: float
    avg_order_value: float
    revenue_impact: float
    unique_customers: int
    repeat_usage: int
    def __init__(self, total_uses: _Optional[int] = ..., total_discount: _Optional[float] = ..., conversion_rate: _Optional[float] = ..., avg_order_value: _Optional[float] = ..., revenue_impact: _Optional[float] = ..., unique_customers: _Optional[int] = ..., repeat_usage: _Optional[int] = ...) -> None: ...

class PerformanceDetails(_message.Message):
    __slots__ = ("validations", "gross_order_value", "avg_discount", "new_customers", "returning_customers", "first_use_at", "last_use_at")
    VALIDATIONS_FIELD_NUMBER: _ClassVar[int]
    GROSS_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    AVG_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    NEW_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RETURNING_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    FIRST_USE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_AT_FIELD_NUMBER: _ClassVar[int]
    validations: int
    gross_order_value: float
    avg_discount: float
    new_customers: int
    returning_customers: int
    first_use_at: _struct_pb2.Value
    last_use_at: _struct_pb2.Value
    def __init__(self, validations: _Optional[int] = ..., gross_order_value: _Optional[float] = ..., avg_discount: _Optional[float] = ..., new_customers: _Optional[int] = ..., returning_customers: _Optional[int] = ..., first_use_at: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., last_use_at: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class GetVoucherPerformanceResponse(_message.Message):
    __slots__ = ("voucher_id", "code", "performance", "details", "time_period", "currency", "generated_at")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    TIME_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    code: str
    performance: Performance
    details: PerformanceDetails
    time_period: TimePeriod
    currency: str
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, voucher_id: _Optional[str] = ..., code: _Optional[str] = ..., performance: _Optional[_Union[Performance, _Mapping]] = ..., details: _Optional[_Union[PerformanceDetails, _Mapping]] = ..., time_period: _Optional[_Union[TimePeriod, _Mapping]] = ..., currency: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetVoucherTrendsRequest(_message.Message):
    __slots__ = ("voucher_id", "interval", "start_date", "end_date", "metrics")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    interval: str
    start_date: str
    end_date: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, voucher_id: _Optional[str] = ..., interval: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class TrendPoint(_message.Message):
    __slots__ = ("date", "uses", "discount", "orders", "conversion_rate", "avg_order_value")
    DATE_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    date: str
    uses: int
    discount: float
    orders: int
    conversion_rate: float
    avg_order_value: float
    def __init__(self, date: _Optional[str] = ..., uses: _Optional[int] = ..., discount: _Optional[float] = ..., orders: _Optional[int] = ..., conversion_rate: _Optional[float] = ..., avg_order_value: _Optional[float] = ...) -> None: ...

class TrendSummary(_message.Message):
    __slots__ = ("total_period_uses", "total_period_discount", "avg_daily_uses", "growth_rate")
    TOTAL_PERIOD_USES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PERIOD_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    AVG_DAILY_USES_FIELD_NUMBER: _ClassVar[int]
    GROWTH_RATE_FIELD_NUMBER: _ClassVar[int]
    total_period_uses: int
    total_period_discount: float
    avg_daily_uses: float
    growth_rate: _struct_pb2.Value
    def __init__(self, total_period_uses: _Optional[int] = ..., total_period_discount: _Optional[float] = ..., avg_daily_uses: _Optional[float] = ..., growth_rate: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class GetVoucherTrendsResponse(_message.Message):
    __slots__ = ("voucher_id", "code", "interval", "trends", "summary", "currency", "generated_at")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TRENDS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    code: str
    interval: str
    trends: _containers.RepeatedCompositeFieldContainer[TrendPoint]
    summary: TrendSummary
    currency: str
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, voucher_id: _Optional[str] = ..., code: _Optional[str] = ..., interval: _Optional[str] = ..., trends: _Optional[_Iterable[_Union[TrendPoint, _Mapping]]] = ..., summary: _Optional[_Union[TrendSummary, _Mapping]] = ..., currency: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetVoucherCustomersRequest(_message.Message):
    __slots__ = ("voucher_id", "start_date", "end_date")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    start_date: str
    end_date: str
    def __init__(self, voucher_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class CustomerSegment(_message.Message):
    __slots__ = ("segment", "count", "avg_order_value", "conversion_rate")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    segment: str
    count: int
    avg_order_value: float
    conversion_rate: float
    def __init__(self, segment: _Optional[str] = ..., count: _Optional[int] = ..., avg_order_value: _Optional[float] = ..., conversion_rate: _Optional[float] = ...) -> None: ...

class RegionShare(_message.Message):
    __slots__ = ("region", "count", "percentage")
    REGION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    region: str
    count: int
    percentage: float
    def __init__(self, region: _Optional[str] = ..., count: _Optional[int] = ..., percentage: _Optional[float] = ...) -> None: ...

class CustomerInsights(_message.Message):
    __slots__ = ("total_customers", "new_customers", "returning_customers", "avg_customer_value", "customer_lifetime_value", "top_customer_segments", "geographic_distribution")
    TOTAL_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEW_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RETURNING_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    AVG_CUSTOMER_VALUE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_LIFETIME_VALUE_FIELD_NUMBER: _ClassVar[int]
    TOP_CUSTOMER_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    GEOGRAPHIC_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    total_customers: int
    new_customers: int
    returning_customers: int
    avg_customer_value: float
    customer_lifetime_value: float
    top_customer_segments: _containers.RepeatedCompositeFieldContainer[CustomerSegment]
    geographic_distribution: _containers.RepeatedCompositeFieldContainer[RegionShare]
    def __init__(self, total_customers: _Optional[int] = ..., new_customers: _Optional[int] = ..., returning_customers: _Optional[int] = ..., avg_customer_value: _Optional[float] = ..., customer_lifetime_value: _Optional[float] = ..., top_customer_segments: _Optional[_Iterable[_Union[CustomerSegment, _Mapping]]] = ..., geographic_distribution: _Optional[_Iterable[_Union[RegionShare, _Mapping]]] = ...) -> None: ...

class GetVoucherCustomersResponse(_message.Message):
    __slots__ = ("voucher_id", "code", "customer_insights", "time_period", "currency", "generated_at")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    TIME_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    code: str
    customer_insights: CustomerInsights
    time_period: TimePeriod
    currency: str
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, voucher_id: _Optional[str] = ..., code: _Optional[str] = ..., customer_insights: _Optional[_Union[CustomerInsights, _Mapping]] = ..., time_period: _Optional[_Union[TimePeriod, _Mapping]] = ..., currency: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportPeriod(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class CreateExportRequest(_message.Message):
    __slots__ = ("voucher_ids", "metrics", "format", "time_period")
    VOUCHER_IDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TIME_PERIOD_FIELD_NUMBER: _ClassVar[int]
    voucher_ids: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.RepeatedScalarFieldContainer[str]
    format: str
    time_period: ExportPeriod
    def __init__(self, voucher_ids: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Iterable[str]] = ..., format: _Optional[str] = ..., time_period: _Optional[_Union[ExportPeriod, _Mapping]] = ...) -> None: ...

class CreateExportResponse(_message.Message):
    __slots__ = ("export_id", "status", "estimated_completion", "format", "voucher_count", "metrics")
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_COUNT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    status: str
    estimated_completion: _timestamp_pb2.Timestamp
    format: str
    voucher_count: int
    metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, export_id: _Optional[str] = ..., status: _Optional[str] = ..., estimated_completion: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[str] = ..., voucher_count: _Optional[int] = ..., metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class GetExportRequest(_message.Message):
    __slots__ = ("export_id",)
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    def __init__(self, export_id: _Optional[str] = ...) -> None: ...

class GetExportResponse(_message.Message):
    __slots__ = ("export_id", "status", "estimated_completion", "download_url", "expires_at", "file_size", "record_count", "completed_at", "reason", "failed_at")
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    status: str
    estimated_completion: _timestamp_pb2.Timestamp
    download_url: str
    expires_at: _timestamp_pb2.Timestamp
    file_size: str
    record_count: int
    completed_at: _timestamp_pb2.Timestamp
    reason: str
    failed_at: _timestamp_pb2.Timestamp
    def __init__(self, export_id: _Optional[str] = ..., status: _Optional[str] = ..., estimated_completion: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., download_url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., file_size: _Optional[str] = ..., record_count: _Optional[int] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DownloadExportRequest(_message.Message):
    __slots__ = ("export_id",)
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    def __init__(self, export_id: _Optional[str] = ...) -> None: ...
