"""`ErrorInfo.metadata` of the gRPC rich status carries the values an error's JSON body
carries (platform_core/errors.py), so gRPC callers need not parse the envelope."""

from __future__ import annotations

import datetime as dt
import json

from google.rpc import error_details_pb2

from platform_core.errors import InvalidArgument, RateLimited, rich_status
from services.voucher.errors import invalid_time_period, too_many_records, voucher_envelope


def error_info(error) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    assert rich_status(error, "req-1").details[0].Unpack(info)
    return info


def test_the_voucher_details_are_the_error_info_metadata():
    error = invalid_time_period(120)
    body = json.loads(voucher_envelope(error, "req-1", dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)))
    info = error_info(error)
    assert info.reason == "INVALID_TIME_PERIOD"
    assert dict(info.metadata) == {key: str(value) for key, value in body["error"]["details"].items()}
    assert dict(info.metadata) == {"max_days": "90", "requested_days": "120"}


def test_string_details_stay_strings():
    assert dict(error_info(too_many_records(150_000)).metadata) == {
        "reason": "Too many records requested", "max_records": "100000", "requested_records": "150000"}


def test_a_rate_limit_names_its_wait_and_a_plain_error_has_no_metadata():
    assert dict(error_info(RateLimited(message="slow down", retry_after_seconds=7)).metadata) == {
        "retry_after_seconds": "7"}
    assert dict(error_info(InvalidArgument(message="bad")).metadata) == {}
