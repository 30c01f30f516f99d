import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetAffiliateAnalyticsRequest(_message.Message):
    __slots__ = ("section", "to", "metrics", "page", "per_page", "top_limit")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_LIMIT_FIELD_NUMBER: _ClassVar[int]
    section: str
    to: str
    metrics: str
    page: str
    per_page: str
    top_limit: str
    def __init__(self, section: _Optional[str] = ..., to: _Optional[str] = ..., metrics: _Optional[str] = ..., page: _Optional[str] = ..., per_page: _Optional[str] = ..., top_limit: _Optional[str] = ..., **kwargs) -> None: ...

class Filters(_message.Message):
    __slots__ = ("to",)
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    to: str
    def __init__(self, to: _Optional[str] = ..., **kwargs) -> None: ...

class Stats(_message.Message):
    __slots__ = ("total_clicks", "total_pageviews", "unique_visitors", "pages_per_visit", "total_conversions", "total_revenue", "total_commission", "conversion_rate", "total_product_views", "total_add_to_carts", "total_remove_from_carts", "total_thank_you_views", "cart_to_conversion_rate")
    TOTAL_CLICKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAGEVIEWS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VISITORS_FIELD_NUMBER: _ClassVar[int]
    PAGES_PER_VISIT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REVENUE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COMMISSION_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRODUCT_VIEWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ADD_TO_CARTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REMOVE_FROM_CARTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_THANK_YOU_VIEWS_FIELD_NUMBER: _ClassVar[int]
    CART_TO_CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    total_clicks: float
    total_pageviews: float
    unique_visitors: float
    pages_per_visit: float
    total_conversions: float
    total_revenue: float
    total_commission: float
    conversion_rate: float
    total_product_views: float
    total_add_to_carts: float
    total_remove_from_carts: float
    total_thank_you_views: float
    cart_to_conversion_rate: float
    def __init__(self, total_clicks: _Optional[float] = ..., total_pageviews: _Optional[float] = ..., unique_visitors: _Optional[float] = ..., pages_per_visit: _Optional[float] = ..., total_conversions: _Optional[float] = ..., total_revenue: _Optional[float] = ..., total_commission: _Optional[float] = ..., conversion_rate: _Optional[float] = ..., total_product_views: _Optional[float] = ..., total_add_to_carts: _Optional[float] = ..., total_remove_from_carts: _Optional[float] = ..., total_thank_you_views: _Optional[float] = ..., cart_to_conversion_rate: _Optional[float] = ...) -> None: ...

class Trends(_message.Message):
    __slots__ = ("clicks", "pageviews", "visitors", "conversions", "revenue", "commission", "product_views", "add_to_carts")
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    PAGEVIEWS_FIELD_NUMBER: _ClassVar[int]
    VISITORS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VIEWS_FIELD_NUMBER: _ClassVar[int]
    ADD_TO_CARTS_FIELD_NUMBER: _ClassVar[int]
    clicks: _struct_pb2.Value
    pageviews: _struct_pb2.Value
    visitors: _struct_pb2.Value
    conversions: _struct_pb2.Value
    revenue: _struct_pb2.Value
    commission: _struct_pb2.Value
    product_views: _struct_pb2.Value
    add_to_carts: _struct_pb2.Value
    def __init__(self, clicks: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., pageviews: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., visitors: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., conversions: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., revenue: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., commission: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., product_views: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., add_to_carts: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Chart(_message.Message):
    __slots__ = ("labels", "data")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    data: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., data: _Optional[_Iterable[float]] = ...) -> None: ...

class Charts(_message.Message):
    __slots__ = ("clicks_over_time", "pageviews_over_time", "device_breakdown", "conversions_over_time", "revenue_over_time", "product_views_over_time", "add_to_carts_over_time", "country_breakdown", "browser_breakdown", "os_breakdown", "traffic_source_breakdown")
    CLICKS_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGEVIEWS_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    REVENUE_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VIEWS_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    ADD_TO_CARTS_OVER_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    BROWSER_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    OS_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_SOURCE_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    clicks_over_time: Chart
    pageviews_over_time: Chart
    device_breakdown: Chart
    conversions_over_time: Chart
    revenue_over_time: Chart
    product_views_over_time: Chart
    add_to_carts_over_time: Chart
    country_breakdown: Chart
    browser_breakdown: Chart
    os_breakdown: Chart
    traffic_source_breakdown: Chart
    def __init__(self, clicks_over_time: _Optional[_Union[Chart, _Mapping]] = ..., pageviews_over_time: _Optional[_Union[Chart, _Mapping]] = ..., device_breakdown: _Optional[_Union[Chart, _Mapping]] = ..., conversions_over_time: _Optional[_Union[Chart, _Mapping]] = ..., revenue_over_time: _Optional[_Union[Chart, _Mapping]] = ..., product_views_over_time: _Optional[_Union[Chart, _Mapping]] = ..., add_to_carts_over_time: _Optional[_Union[Chart, _Mapping]] = ..., country_breakdown: _Optional[_Union[Chart, _Mapping]] = ..., browser_breakdown: _Optional[_Union[Chart, _Mapping]] = ..., os_breakdown: _Optional[_Union[Chart, _Mapping]] = ..., traffic_source_breakdown: _Optional[_Union[Chart, _Mapping]] = ...) -> None: ...

class TopPage(_message.Message):
    __slots__ = ("page_url", "pageviews", "clicks")
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    PAGEVIEWS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    page_url: str
    pageviews: float
    clicks: float
    def __init__(self, page_url: _Optional[str] = ..., pageviews: _Optional[float] = ..., clicks: _Optional[float] = ...) -> None: ...

class TopTrackingCode(_message.Message):
    __slots__ = ("tracking_code", "clicks", "conversions", "revenue")
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    tracking_code: str
    clicks: float
    conversions: float
    revenue: float
    def __init__(self, tracking_code: _Optional[str] = ..., clicks: _Optional[float] = ..., conversions: _Optional[float] = ..., revenue: _Optional[float] = ...) -> None: ...

class TopAffiliate(_message.Message):
    __slots__ = ("name", "clicks", "conversions", "revenue")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    clicks: float
    conversions: float
    revenue: float
    def __init__(self, name: _Optional[str] = ..., clicks: _Optional[float] = ..., conversions: _Optional[float] = ..., revenue: _Optional[float] = ...) -> None: ...

class TopProduct(_message.Message):
    __slots__ = ("product_id", "name", "views", "conversions")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    views: float
    conversions: float
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., views: _Optional[float] = ..., conversions: _Optional[float] = ...) -> None: ...

class Tables(_message.Message):
    __slots__ = ("top_pages", "top_tracking_codes", "top_affiliates", "top_products")
    TOP_PAGES_FIELD_NUMBER: _ClassVar[int]
    TOP_TRACKING_CODES_FIELD_NUMBER: _ClassVar[int]
    TOP_AFFILIATES_FIELD_NUMBER: _ClassVar[int]
    TOP_PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    top_pages: _struct_pb2.Value
    top_tracking_codes: _struct_pb2.Value
    top_affiliates: _struct_pb2.Value
    top_products: _struct_pb2.Value
    def __init__(self, top_pages: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., top_tracking_codes: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., top_affiliates: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., top_products: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Pagination(_message.Message):
    __slots__ = ("current_page", "last_page", "per_page", "total")
    CURRENT_PAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    current_page: int
    last_page: int
    per_page: int
    total: float
    def __init__(self, current_page: _Optional[int] = ..., last_page: _Optional[int] = ..., per_page: _Optional[int] = ..., total: _Optional[float] = ...) -> None: ...

class Click(_message.Message):
    __slots__ = ("id", "tracking_code", "referrer_url", "page_url", "device", "country", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_URL_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: float
    tracking_code: str
    referrer_url: _struct_pb2.Value
    page_url: str
    device: str
    country: _struct_pb2.Value
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[float] = ..., tracking_code: _Optional[str] = ..., referrer_url: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., page_url: _Optional[str] = ..., device: _Optional[str] = ..., country: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Conversion(_message.Message):
    __slots__ = ("id", "order_id", "order_total", "commission", "tracking_code", "currency", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: float
    order_id: str
    order_total: str
    commission: str
    tracking_code: str
    currency: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[float] = ..., order_id: _Optional[str] = ..., order_total: _Optional[str] = ..., commission: _Optional[str] = ..., tracking_code: _Optional[str] = ..., currency: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrackingEvent(_message.Message):
    __slots__ = ("id", "type", "tracking_code", "referrer_url", "page_url", "product_id", "device", "country", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_URL_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: float
    type: str
    tracking_code: _struct_pb2.Value
    referrer_url: _struct_pb2.Value
    page_url: _struct_pb2.Value
    product_id: _struct_pb2.Value
    device: str
    country: _struct_pb2.Value
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[float] = ..., type: _Optional[str] = ..., tracking_code: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., referrer_url: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., page_url: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., product_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., device: _Optional[str] = ..., country: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ClickFeed(_message.Message):
    __slots__ = ("data", "pagination")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Click]
    pagination: Pagination
    def __init__(self, data: _Optional[_Iterable[_Union[Click, _Mapping]]] = ..., pagination: _Optional[_Union[Pagination, _Mapping]] = ...) -> None: ...

class ConversionFeed(_message.Message):
    __slots__ = ("data", "pagination")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Conversion]
    pagination: Pagination
    def __init__(self, data: _Optional[_Iterable[_Union[Conversion, _Mapping]]] = ..., pagination: _Optional[_Union[Pagination, _Mapping]] = ...) -> None: ...

class EventFeed(_message.Message):
    __slots__ = ("data", "pagination")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[TrackingEvent]
    pagination: Pagination
    def __init__(self, data: _Optional[_Iterable[_Union[TrackingEvent, _Mapping]]] = ..., pagination: _Optional[_Union[Pagination, _Mapping]] = ...) -> None: ...

class AnalyticsData(_message.Message):
    __slots__ = ("filters", "section", "stats", "trends", "charts", "tables", "recent_clicks", "recent_conversions", "recent_events")
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    TRENDS_FIELD_NUMBER: _ClassVar[int]
    CHARTS_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    RECENT_CLICKS_FIELD_NUMBER: _ClassVar[int]
    RECENT_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    filters: Filters
    section: str
    stats: Stats
    trends: Trends
    charts: Charts
    tables: Tables
    recent_clicks: ClickFeed
    recent_conversions: ConversionFeed
    recent_events: EventFeed
    def __init__(self, filters: _Optional[_Union[Filters, _Mapping]] = ..., section: _Optional[str] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., trends: _Optional[_Union[Trends, _Mapping]] = ..., charts: _Optional[_Union[Charts, _Mapping]] = ..., tables: _Optional[_Union[Tables, _Mapping]] = ..., recent_clicks: _Optional[_Union[ClickFeed, _Mapping]] = ..., recent_conversions: _Optional[_Union[ConversionFeed, _Mapping]] = ..., recent_events: _Optional[_Union[EventFeed, _Mapping]] = ...) -> None: ...

class GetAffiliateAnalyticsResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: AnalyticsData
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[AnalyticsData, _Mapping]] = ...) -> None: ...

class ErrorBody(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    details: _struct_pb2.Struct
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ErrorEnvelope(_message.Message):
    __slots__ = ("success", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: ErrorBody
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[_Union[ErrorBody, _Mapping]] = ...) -> None: ...
