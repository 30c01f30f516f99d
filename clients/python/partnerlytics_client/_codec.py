"""JSON <-> the generated dataclasses: parsing by type hints, printing without None fields."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from typing import Any, TypeVar

from . import _generated

T = TypeVar("T")


def parse_timestamp(value: str) -> dt.datetime:
    """RFC 3339 as protobuf's JSON prints it (`Z`, 0 to 9 fraction digits) into an aware datetime."""
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Python keeps microseconds: cut nanoseconds to six digits
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    return dt.datetime.fromisoformat(text)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(_generated))


def _json_name(field: dataclasses.Field) -> str:
    return field.metadata.get("json", field.name)


def from_json(hint: Any, value: Any) -> Any:
    """`value` (parsed JSON) as `hint`; unknown keys are ignored (newer servers may add some)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return from_json(next(arg for arg in typing.get_args(hint) if arg is not type(None)), value)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [from_json(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: from_json(item, v) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"{hint.__name__}: expected an object, got {type(value).__name__}")
        hints = _hints(hint)
        fields = dataclasses.fields(hint)
        make: Any = hint
        if [f.name for f in fields] == ["extra"]:
            return make(extra=dict(value))
        kwargs = {}
        for field in fields:
            key = _json_name(field)
            if key in value:
                kwargs[field.name] = from_json(hints[field.name], value[key])
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                kwargs[field.name] = None  # a required key the server left out: visible, not fatal
        return make(**kwargs)
    if hint is dt.datetime and isinstance(value, str):
        return parse_timestamp(value)
    return value


def parse(cls: type[T], value: Any) -> T:
    return from_json(cls, value)


def to_json(value: Any) -> Any:
    """A dataclass (or dict/list of them) as JSON values; None fields are left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if item is not None:
                out[_json_name(field)] = to_json(item)
        return out
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # an Enum
        return value.value
    return value
