"""platform_core/ingest.py's value conversions of the ingestion hot path, against the
library functions they replace."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from platform_core.ingest import MAX_FUTURE, NotFinite, micros_limit, struct_dict


def test_struct_dict_gives_what_message_to_dict_gives():
    struct = struct_pb2.Struct()
    struct.update({"s": "é\\u0000", "n": 3, "f": -0.5, "big": 1e300, "t": True, "no": False, "null": None, "empty": {},
                   "list": [1, "two", None, [3.5, []], {"k": {"deep": "x"}}], "nested": {"a": {"b": [True]}}})
    struct.fields["unset"].CopyFrom(struct_pb2.Value())  # no kind: None, as MessageToDict gives
    assert struct_dict(struct) == json_format.MessageToDict(struct)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_struct_dict_refuses_what_message_to_dict_refuses(number):
    struct = struct_pb2.Struct()
    struct.update({"outer": {"list": [1, number]}})
    with pytest.raises(ValueError):
        json_format.MessageToDict(struct)
    with pytest.raises(NotFinite):
        struct_dict(struct)


@pytest.mark.parametrize("offset_us", [-1, 0, 1])
def test_micros_limit_is_the_future_bound_to_the_microsecond(offset_us):
    now = dt.datetime(2026, 12, 3, 17, 0, 0, 123_456, tzinfo=dt.timezone.utc)
    moment = now + MAX_FUTURE + dt.timedelta(microseconds=offset_us)
    seconds = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(seconds=1)
    ts = Timestamp(seconds=seconds, nanos=moment.microsecond * 1000 + 999)  # the nanoseconds round toward zero
    micros = ts.seconds * 1_000_000 + ts.nanos // 1000  # as services/instance/ingest.py compares them
    assert (micros > micros_limit(now)) == (ts.ToDatetime(tzinfo=dt.timezone.utc) > now + MAX_FUTURE) == (offset_us > 0)
