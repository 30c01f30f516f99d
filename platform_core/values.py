"""`google.protobuf.Value` helpers for the JSON fields that may be null.

The gateway's transcoder prints `null` only for a `Value` holding `NULL_VALUE` (an unset
field is left out or printed as its default), so every field a document allows to be
null travels as a `Value`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2


def null() -> struct_pb2.Value:
    """JSON null."""
    return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)


def number_or_null(value: float | decimal.Decimal | None) -> struct_pb2.Value:
    """A JSON number (a double), or null."""
    if value is None:
        return null()
    return struct_pb2.Value(number_value=float(value))


def string_or_null(value: Any, render: Callable[[Any], str] = str) -> struct_pb2.Value:
    """A JSON string (`render(value)`, by default `str`), or null."""
    if value is None:
        return null()
    return struct_pb2.Value(string_value=render(value))


def scalar_or_null(value: Any) -> struct_pb2.Value:
    """A number for decimals, floats and ints, a string for anything else, or null."""
    if isinstance(value, (decimal.Decimal, float, int)):
        return number_or_null(value)
    return string_or_null(value)


def utc_seconds(moment: dt.datetime) -> str:
    """A moment as `2026-01-31T12:00:00Z` (UTC, whole seconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fill_struct(struct: struct_pb2.Struct, mapping: dict[str, Any]) -> None:
    """`struct.update(mapping)` for a JSON object, its scalar values set directly by type
    (protobuf's `Struct.update` is Python that tries each type in turn: about half the
    cost of an event of the instance details); nested objects and arrays through it."""
    fields = struct.fields
    for key, value in mapping.items():
        kind = type(value)
        if kind is str:
            fields[key].string_value = value
        elif kind is int or kind is float:
            fields[key].number_value = value
        elif kind is bool:
            fields[key].bool_value = value
        elif value is None:
            fields[key].null_value = struct_pb2.NULL_VALUE
        else:
            struct[key] = value
