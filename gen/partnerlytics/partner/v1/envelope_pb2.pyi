import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Meta(_message.Message):
    __slots__ = ("timestamp", "requestId")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    requestId: str
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requestId: _Optional[str] = ...) -> None: ...

class Pagination(_message.Message):
    __slots__ = ("page", "limit", "total", "totalPages", "hasNext", "hasPrevious")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTALPAGES_FIELD_NUMBER: _ClassVar[int]
    HASNEXT_FIELD_NUMBER: _ClassVar[int]
    HASPREVIOUS_FIELD_NUMBER: _ClassVar[int]
    page: int
    limit: int
    total: int
    totalPages: int
    hasNext: bool
    hasPrevious: bool
    def __init__(self, page: _Optional[int] = ..., limit: _Optional[int] = ..., total: _Optional[int] = ..., totalPages: _Optional[int] = ..., hasNext: _Optional[bool] = ..., hasPrevious: _Optional[bool] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "message", "code")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    code: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class ErrorEnvelope(_message.Message):
    __slots__ = ("success", "error", "message", "details", "fields", "validation_errors", "retry_after", "meta")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ERRORS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    message: str
    details: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldError]
    validation_errors: _containers.RepeatedCompositeFieldContainer[FieldError]
    retry_after: int
    meta: Meta
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ..., validation_errors: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ..., retry_after: _Optional[int] = ..., meta: _Optional[_Union[Meta, _Mapping]] = ...) -> None: ...
