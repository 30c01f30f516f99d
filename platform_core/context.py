"""The request context: which request, for which account, in this task."""

from __future__ import annotations

import contextvars
import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

from platform_core.accounts import Principal

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class RequestContext:
    request_id: str
    method: str
    received_at: dt.datetime
    principal: Principal | None = None
    # Extra response headers a handler sets: sent as initial metadata with a unary
    # response (e.g. the rate-limit headers of a public method that limits itself) or
    # before a server-streaming handler's first message (e.g. content-disposition).
    response_headers: dict[str, str] = field(default_factory=dict)


def get() -> RequestContext:
    """The current request's context; only called inside an intercepted RPC."""
    ctx = current.get()
    if ctx is None:
        raise RuntimeError("no request context: the RPC was not intercepted")
    return ctx


def principal() -> Principal:
    p = get().principal
    if p is None:
        raise RuntimeError("the RPC has no authenticated principal")
    return p


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request", default=None)


def request_id_from(value: str | None) -> str:
    """The caller's id when it is a valid UUID, otherwise a fresh UUID v4 (docs/architecture.md)."""
    if value and _UUID.match(value):
        return value
    return str(uuid.uuid4())
