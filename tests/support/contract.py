"""Helpers for contract tests through the gateway: HTTP calls and independent expectations."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 UTC with `Z`, with 0, 3 or 6 fraction digits as protobuf's JSON prints them."""
    moment = moment.astimezone(dt.timezone.utc)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond == 0:
        return base + "Z"
    if moment.microsecond % 1000 == 0:
        return f"{base}.{moment.microsecond // 1000:03d}Z"
    return f"{base}.{moment.microsecond:06d}Z"


def split_meta(response: httpx.Response, sent_request_id: str | None = None) -> dict:
    """Checks `meta` against the response and returns the body without it."""
    body = response.json()
    meta = body.pop("meta")
    assert set(meta) == {"timestamp", "requestId"}
    assert meta["requestId"] == response.headers["x-request-id"]
    assert UUID_RE.match(meta["requestId"]), meta
    if sent_request_id is not None:
        assert meta["requestId"] == sent_request_id
    assert TS_RE.match(meta["timestamp"]), meta
    stamp = dt.datetime.fromisoformat(meta["timestamp"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60
    assert response.headers["content-type"].startswith("application/json")
    return body


def bad_request(*fields: tuple[str, str, str]) -> dict:
    return {
        "success": False,
        "error": "Bad Request",
        "message": f"Validation failed for {len(fields)} fields",
        "fields": [{"field": f, "message": m, "code": c} for f, m, c in fields],
    }


UNAUTHORIZED = {"success": False, "error": "Unauthorized", "message": "Invalid or missing secret key"}
NOT_FOUND_IDS = {"success": False, "error": "Not Found", "message": "One or more instance IDs not found"}
TOO_MANY = {"success": False, "error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later"}


def new_request_id() -> str:
    return str(uuid.uuid4())
