import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoucherRecord(_message.Message):
    __slots__ = ("id", "code", "currency", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: str
    currency: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., code: _Optional[str] = ..., currency: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerRecord(_message.Message):
    __slots__ = ("id", "segment", "region")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    id: str
    segment: str
    region: str
    def __init__(self, id: _Optional[str] = ..., segment: _Optional[str] = ..., region: _Optional[str] = ...) -> None: ...

class ValidationRecord(_message.Message):
    __slots__ = ("id", "voucher_id", "customer_id", "order_amount", "validated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    voucher_id: str
    customer_id: str
    order_amount: int
    validated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., voucher_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., order_amount: _Optional[int] = ..., validated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RedemptionRecord(_message.Message):
    __slots__ = ("id", "voucher_id", "customer_id", "order_total", "discount", "redeemed_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    voucher_id: str
    customer_id: str
    order_total: int
    discount: int
    redeemed_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., voucher_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., order_total: _Optional[int] = ..., discount: _Optional[int] = ..., redeemed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateVoucherRequest(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: VoucherRecord
    def __init__(self, voucher: _Optional[_Union[VoucherRecord, _Mapping]] = ...) -> None: ...

class BatchCreateVouchersRequest(_message.Message):
    __slots__ = ("vouchers",)
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    vouchers: _containers.RepeatedCompositeFieldContainer[VoucherRecord]
    def __init__(self, vouchers: _Optional[_Iterable[_Union[VoucherRecord, _Mapping]]] = ...) -> None: ...

class CreateCustomerRequest(_message.Message):
    __slots__ = ("customer",)
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    customer: CustomerRecord
    def __init__(self, customer: _Optional[_Union[CustomerRecord, _Mapping]] = ...) -> None: ...

class BatchCreateCustomersRequest(_message.Message):
    __slots__ = ("customers",)
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[CustomerRecord]
    def __init__(self, customers: _Optional[_Iterable[_Union[CustomerRecord, _Mapping]]] = ...) -> None: ...

class CreateValidationRequest(_message.Message):
    __slots__ = ("validation",)
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    validation: ValidationRecord
    def __init__(self, validation: _Optional[_Union[ValidationRecord, _Mapping]] = ...) -> None: ...

class BatchCreateValidationsRequest(_message.Message):
    __slots__ = ("validations",)
    VALIDATIONS_FIELD_NUMBER: _ClassVar[int]
    validations: _containers.RepeatedCompositeFieldContainer[ValidationRecord]
    def __init__(self, validations: _Optional[_Iterable[_Union[ValidationRecord, _Mapping]]] = ...) -> None: ...

class CreateRedemptionRequest(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: RedemptionRecord
    def __init__(self, redemption: _Optional[_Union[RedemptionRecord, _Mapping]] = ...) -> None: ...

class BatchCreateRedemptionsRequest(_message.Message):
    __slots__ = ("redemptions",)
    REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    redemptions: _containers.RepeatedCompositeFieldContainer[RedemptionRecord]
    def __init__(self, redemptions: _Optional[_Iterable[_Union[RedemptionRecord, _Mapping]]] = ...) -> None: ...

class CreateVoucherResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateVouchersResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateCustomerResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateCustomersResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateValidationResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateValidationsResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CreateRedemptionResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class BatchCreateRedemptionsResponse(_message.Message):
    __slots__ = ("created_count", "duplicate_count")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    duplicate_count: int
    def __init__(self, created_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...
