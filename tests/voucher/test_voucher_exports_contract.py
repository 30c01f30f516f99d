"""Voucher exports end to end through the real gateway: request, the in-service worker,
status, and the download of real CSV / JSON / XLSX files compared row by row with the
API's own daily figures."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re

import httpx
import openpyxl
import pytest
import pytest_asyncio

from tests.support import voucher_data as vd
from tests.voucher.test_voucher_contract import TS_Z, auth, error

METRICS = ["uses", "discount", "orders", "conversion_rate", "avg_order_value", "revenue_impact", "unique_customers"]
TREND_METRICS = METRICS[:5]


@pytest_asyncio.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture
async def exported(voucher_channel, make_tenant):
    """A tenant whose vouchers' codes would be formulas in a spreadsheet."""
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = vd.build(now, seed=31, days=20, code="=SUM(A1)")
    await vd.VoucherIngest(voucher_channel, tenant.test_key).all(data)
    return tenant, data, now.date()


async def _completed(http: httpx.AsyncClient, key: str, export_id: str) -> dict:
    for _ in range(150):
        response = await http.get(f"/v1/analytics/export/{export_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] != "processing":
            return body
        assert TS_Z.match(body["estimated_completion"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"export {export_id} still processing")


def _rows_from(fmt: str, content: bytes) -> list[dict]:
    if fmt == "csv":
        assert content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet tools read UTF-8
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
        # CSV cells are text: numbers are read back as numbers to compare them.
        return [{k: (float(v) if k in METRICS else v) for k, v in row.items()} for row in rows]
    if fmt == "json":
        return json.loads(content)["records"]
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
async def test_an_export_is_built_in_the_background_and_downloaded(http, exported, gateway, fmt):
    tenant, data, today = exported
    first = today - dt.timedelta(days=13)
    ids = list(data.vouchers)
    request = {"voucher_ids": ids + ids[:1], "metrics": METRICS, "format": fmt,
               "time_period": {"start": f"{first}T00:00:00Z", "end": f"{today}T23:59:59Z"}}
    created = await http.post("/v1/analytics/export", json=request, headers=auth(tenant.test_key))
    assert created.status_code == 200, created.text
    body = created.json()
    assert re.fullmatch(r"export_[0-9a-f]{16}", body["export_id"])
    assert TS_Z.match(body.pop("estimated_completion"))
    assert body == {"export_id": body["export_id"], "status": "processing", "format": fmt, "voucher_count": 2,
                    "metrics": METRICS}
    assert created.headers["x-ratelimit-limit"] == "10"

    status = await _completed(http, tenant.test_key, body["export_id"])
    assert list(status) == ["export_id", "status", "download_url", "expires_at", "file_size", "record_count",
                            "completed_at"]
    assert status["status"] == "completed" and status["record_count"] == 2 * 14
    url = f"{gateway.gateway_url}/v1/analytics/export/{body['export_id']}/download"
    assert status["download_url"] == url
    assert TS_Z.match(status["completed_at"]) and TS_Z.match(status["expires_at"])
    completed = dt.datetime.fromisoformat(status["completed_at"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(status["expires_at"].replace("Z", "+00:00"))
    assert expires - completed == dt.timedelta(hours=24)
    assert re.fullmatch(r"\d+(\.\d)?(B|KB|MB)", status["file_size"])

    download = await http.get(status["download_url"], headers=auth(tenant.test_key))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(
        {"csv": "text/csv", "json": "application/json", "xlsx": "application/vnd.openxmlformats"}[fmt])
    assert download.headers["content-disposition"] == f'attachment; filename="{body["export_id"]}.{fmt}"'
    rows = _rows_from(fmt, download.content)
    assert len(rows) == status["record_count"]

    # Row by row against the API's own daily trends, and the independent figures.
    expected = []
    for vid in ids:
        trends = await http.get(f"/v1/analytics/vouchers/{vid}/trends?start_date={first}&end_date={today}",
                                headers=auth(tenant.test_key))
        for point in trends.json()["trends"]:
            day = dt.date.fromisoformat(point["date"])
            figures = data.daily(vid, day)
            assert {m: figures[m] for m in TREND_METRICS} == {m: point[m] for m in TREND_METRICS}
            code = data.vouchers[vid].code
            expected.append({"voucher_id": vid, "code": code if fmt == "json" else "'" + code,
                             "date": point["date"], **figures})
    assert rows == expected


async def test_export_errors(http, exported, make_tenant):
    tenant, data, today = exported
    vid = next(iter(data.vouchers))
    unknown = vd.voucher_id()
    headers = auth(tenant.test_key)
    missing = await http.post("/v1/analytics/export", json={"voucher_ids": [vid, unknown, "v_invalid_id"],
                                                            "metrics": ["uses"]}, headers=headers)
    assert missing.status_code == 404
    assert missing.json() == error("VOUCHER_NOT_FOUND", "One or more vouchers not found",
                                   {"not_found": [unknown, "v_invalid_id"], "found": [vid]})
    # Thousands of unknown ids: the lists are cut so that the error still fits its trailer.
    many_unknown = [vd.voucher_id() for _ in range(1200)]
    cut = await http.post("/v1/analytics/export", json={"voucher_ids": [vid, *many_unknown], "metrics": ["uses"]},
                          headers=headers)
    assert cut.status_code == 404
    assert cut.json()["error"]["details"] == {"not_found": many_unknown[:400], "found": [vid], "truncated": True,
                                              "not_found_count": 1200, "found_count": 1}
    too_long = await http.post("/v1/analytics/export", json={
        "voucher_ids": [vid], "metrics": ["uses"], "time_period": {"start": "2024-01-01T00:00:00Z",
                                                                   "end": "2024-04-29T23:59:59Z"}}, headers=headers)
    assert too_long.status_code == 400
    assert too_long.json() == error("INVALID_TIME_PERIOD", "Time period exceeds maximum allowed range",
                                    {"max_days": 90, "requested_days": 120})
    many = [vd.voucher_id() for _ in range(1667)]
    too_many = await http.post("/v1/analytics/export", json={
        "voucher_ids": many, "metrics": ["uses"], "time_period": {"start": "2024-03-01", "end": "2024-05-29"}},
        headers=headers)
    assert too_many.status_code == 500
    assert too_many.json() == error("EXPORT_FAILED", "Failed to generate export", {
        "reason": "Too many records requested", "max_records": 100000, "requested_records": 150030})
    invalid = await http.post("/v1/analytics/export", json={"metrics": ["uses", "clicks"], "format": "pdf"},
                              headers=headers)
    assert invalid.status_code == 400
    assert invalid.json() == error("INVALID_PARAMETER", "Validation failed for 3 fields", {"fields": [
        {"field": "voucher_ids", "message": "voucher_ids must hold at least one voucher id", "code": "required"},
        {"field": "metrics", "message": "Unknown metric 'clicks' (must be one of uses, discount, orders, "
                                        "conversion_rate, avg_order_value, revenue_impact, unique_customers)",
         "code": "invalid_enum"},
        {"field": "format", "message": "Invalid format (must be csv, json, or xlsx)", "code": "invalid_enum"},
    ]})


async def test_another_accounts_export_is_not_found(http, exported, make_tenant):
    tenant, data, _ = exported
    created = await http.post("/v1/analytics/export", json={"voucher_ids": list(data.vouchers), "metrics": ["uses"]},
                              headers=auth(tenant.test_key))
    export_id = created.json()["export_id"]
    other = await make_tenant()
    for key in (other.test_key, tenant.live_key):
        for path in (f"/v1/analytics/export/{export_id}", f"/v1/analytics/export/{export_id}/download"):
            response = await http.get(path, headers=auth(key))
            assert response.status_code == 404
            assert response.json() == error("EXPORT_NOT_FOUND", "Export not found", {"export_id": export_id})
    # Nor can another account export this account's vouchers.
    foreign = await http.post("/v1/analytics/export", json={"voucher_ids": list(data.vouchers), "metrics": ["uses"]},
                              headers=auth(other.test_key))
    assert foreign.status_code == 404
    assert foreign.json()["error"]["details"] == {"not_found": list(data.vouchers), "found": []}
    malformed = await http.get("/v1/analytics/export/export_nope", headers=auth(tenant.test_key))
    assert malformed.status_code == 404 and malformed.json()["error"]["code"] == "EXPORT_NOT_FOUND"


async def test_export_requests_are_limited_to_10_per_minute(http, make_tenant):
    tenant = await make_tenant()
    body = {"voucher_ids": [vd.voucher_id()], "metrics": ["uses"]}
    for n in range(10):
        response = await http.post("/v1/analytics/export", json=body, headers=auth(tenant.test_key))
        assert response.status_code == 404
        assert response.headers["x-ratelimit-remaining"] == str(9 - n)
    refused = await http.post("/v1/analytics/export", json=body, headers=auth(tenant.test_key))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert refused.headers["x-ratelimit-limit"] == "10" and int(refused.headers["retry-after"]) >= 1


async def test_a_file_larger_than_one_chunk_streams_through_the_gateway(http, voucher_channel, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    data = vd.build(now, seed=32, days=3, vouchers=12, customers=10)
    await vd.VoucherIngest(voucher_channel, tenant.test_key).all(data)
    first = now.date() - dt.timedelta(days=89)
    created = await http.post("/v1/analytics/export", headers=auth(tenant.test_key), json={
        "voucher_ids": list(data.vouchers), "metrics": METRICS, "format": "json",
        "time_period": {"start": str(first), "end": str(now.date())}})
    status = await _completed(http, tenant.test_key, created.json()["export_id"])
    download = await http.get(status["download_url"], headers=auth(tenant.test_key))
    assert len(download.content) > 3 * 64 * 1024  # several HttpBody messages
    records = json.loads(download.content)["records"]
    assert len(records) == status["record_count"] == 12 * 90
    vid = list(data.vouchers)[5]
    assert {k: v for k, v in records[5 * 90 + 89].items() if k in METRICS} == data.daily(vid, now.date())


def _bad_body(field: str, message: str, code: str, summary: str | None = None) -> dict:
    return error("INVALID_REQUEST_BODY", summary or message,
                 {"fields": [{"field": field, "message": message, "code": code}]})


NOT_JSON = _bad_body("body", "Request body must be a valid JSON object", "invalid_json")


@pytest.mark.parametrize(("content", "content_type", "expected"), [
    (b'{"voucher_ids": "v_1234567890abcdef", "metrics": ["uses"]}', "application/json",
     _bad_body("voucher_ids", "voucher_ids must be an array", "invalid_type")),
    (b'{"voucherIds": 5, "metrics": ["uses"]}', "application/json",
     _bad_body("voucherIds", "voucherIds must be an array", "invalid_type")),
    (b'{"voucher_ids": {"id": "v_1234567890abcdef"}, "metrics": ["uses"]}', "application/json",
     _bad_body("voucher_ids", "voucher_ids must be an array", "invalid_type")),
    (b'{"voucher_ids": ["v_1234567890abcdef", 7], "metrics": ["uses"]}', "application/json",
     _bad_body("voucher_ids[1]", "voucher_ids[1] must be a string", "invalid_type")),
    (b'{"voucher_ids": ["v_1234567890abcdef"], "metrics": "uses"}', "application/json",
     _bad_body("metrics", "metrics must be an array", "invalid_type")),
    (b'{"voucher_ids": ["v_1234567890abcdef"], "metrics": ["uses"]}', "text/plain",
     _bad_body("content-type", "The request body must be JSON, sent with Content-Type: application/json",
               "unsupported_media_type")),
    (b'{"voucher_ids": ["v_1234567890abcdef"], "metrics": ["uses"]}', None,
     _bad_body("content-type", "The request body must be JSON, sent with Content-Type: application/json",
               "unsupported_media_type")),
    (b'{"voucher_ids": ["v_1234567890abcdef"], "metrics": ["uses"],}', "application/json", NOT_JSON),
    (b"", "application/json", NOT_JSON),
    (b'{"voucher_ids": ["v_1234567890abcdef"], "metrics": ["uses"]} []', "application/json", NOT_JSON),
])
async def test_export_requests_are_read_strictly(http, exported, content, content_type, expected):
    """Each one was accepted (or answered as another error) before: the transcoder takes a
    string for a repeated field, a trailing comma, an empty body and any content type."""
    tenant, data, _ = exported
    headers = {**auth(tenant.test_key), **({"content-type": content_type} if content_type else {})}
    response = await http.post("/v1/analytics/export", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json() == expected
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-request-id"])
    # Refused at the gateway: the export limit (10 a minute) is not spent on it.
    valid = await http.post("/v1/analytics/export", json={"voucher_ids": list(data.vouchers), "metrics": ["uses"]},
                            headers=auth(tenant.test_key))
    assert valid.status_code == 200 and valid.headers["x-ratelimit-remaining"] == "9"
