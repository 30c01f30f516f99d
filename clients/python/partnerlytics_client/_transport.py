"""HTTP plumbing shared by the sync and async clients: requests, retries, responses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import enum
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from . import _generated, errors
from ._codec import parse, to_json

USER_AGENT = "partnerlytics-python/0.1.0"
RETRY_STATUSES = frozenset({429, 503})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of a 429 or 503 (and of a request that never reached the server).

    The wait is the response's `Retry-After` (seconds or an HTTP date), else the body's
    `retry_after`, else `backoff * 2**attempt`; a wait longer than `max_wait` is not
    waited for: the error is raised at once.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float = 60.0

    def after(self, attempt: int, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before sending again, or None when `outcome` is final.

        Of transport failures only a refused or failed connection is retried: the request
        cannot have reached the server."""
        if isinstance(outcome, httpx.TransportError):
            return self.wait(attempt, None) if isinstance(outcome, httpx.ConnectError) else None
        return self.wait(attempt, outcome) if outcome.status_code in RETRY_STATUSES else None

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt >= self.max_retries:
            return None
        delay = retry_after(response) if response is not None else None
        if delay is None:
            delay = self.backoff * 2**attempt
        return delay if delay <= self.max_wait else None


def retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            when = email.utils.parsedate_to_datetime(header)
            return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("retry_after") if isinstance(body, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def query_value(value: Any) -> str | None:
    """A typed argument as the query string's text: never a string the caller had to build."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("date-times must be timezone-aware")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(str(query_value(v)) for v in value)
    return str(value)


@dataclasses.dataclass
class Call:
    """One operation call: which operation, with what, and how to read the answer."""

    operation: str
    path: dict[str, Any] = dataclasses.field(default_factory=dict)
    query: dict[str, Any] = dataclasses.field(default_factory=dict)
    body: Any = None
    raw: bool = False  # the answer is not JSON of the operation's model
    auth: bool = True
    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # e.g. `range`

    def __post_init__(self) -> None:
        params = _generated.OPERATIONS[self.operation][2]
        unknown = (set(self.path) | set(self.query)) - set(params)
        if unknown:
            raise TypeError(f"{self.operation} has no parameter {sorted(unknown)}")

    def build(self, client: httpx.Client | httpx.AsyncClient, request_id: str) -> httpx.Request:
        method, template, _, _, _ = _generated.OPERATIONS[self.operation]
        path = template.format(**{k: _segment(v) for k, v in self.path.items()})
        params: list[tuple[str, str | int | float | bool | None]] = [
            (k, v) for k, v in ((k, query_value(v)) for k, v in self.query.items()) if v is not None]
        json_body = to_json(self.body) if self.body is not None else None
        request = client.build_request(method, path, params=params, json=json_body,
                                       headers={"x-request-id": request_id, **self.headers})
        if not self.auth:  # a public endpoint (the landing tracker): no key leaves the process
            request.headers.pop("authorization", None)
        return request

    def result(self, response: httpx.Response | httpx.TransportError) -> Any:
        """The answer's model (or the response itself when `raw`); raises the typed error."""
        if isinstance(response, httpx.TransportError):
            raise errors.PartnerlyticsError(f"{self.operation}: {response!r}") from response
        model = _generated.OPERATIONS[self.operation][3]
        if response.status_code >= 400:
            raise self.error(response)
        if self.raw or model is None:
            return response
        return parse(model, response.json())

    def error(self, response: httpx.Response) -> errors.ApiError:
        tag = _generated.OPERATIONS[self.operation][4]
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return errors.from_response(tag, response.status_code, body, response.headers.get("x-request-id"),
                                    retry_after(response))


def _segment(value: Any) -> str:
    """A path parameter, percent-encoded (an id never changes the path's shape)."""
    from urllib.parse import quote

    return quote(str(query_value(value)), safe="")


def new_request_id() -> str:
    return str(uuid.uuid4())


def chunks(records: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    if not 1 <= size <= 5000:
        raise ValueError("batch_size must be 1 to 5000 (the ingestion API's limit)")
    for start in range(0, len(records), size):
        yield records[start:start + size]


def headers(key: str | None) -> dict[str, str]:
    out = {"user-agent": USER_AGENT, "accept": "application/json"}
    if key:
        out["authorization"] = f"Bearer {key}"
    return out
