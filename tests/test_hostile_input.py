"""Hostile input found while fuzzing the gateway: each answered 500 before its fix."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from platform_core.params import Params

CAMPAIGN = "/api/partner/v1/campaigns/444e1cbc-fea9-56ab-b272-8671258aec34/analytics"
VOUCHER = "/v1/analytics/vouchers/v_d3f36144fe465396"


# Percent-escapes that decode to invalid UTF-8 reached proto string fields: the service
# could not parse the request at all.
@pytest.mark.parametrize(("url", "status", "shape"), [
    ("/partner/v1/instances/analytics?limit=%FF", 400, "partner"),
    (f"{CAMPAIGN.replace('444e1cbc', '%FF')}?time_frame=per_day", 400, "partner"),
    ("/v1/affiliate/analytics?section=stats&from=%C0%80", 422, "affiliate"),
    ("/v1/affiliate/analytics?section=stats&metrics=%ED%A0%80", 422, "affiliate"),  # a UTF-16 surrogate
    ("/v1/analytics/export/%FF%FE", 400, "voucher"),
    ("/api/analytics/%F5%80%80%80/today", 400, "landing"),  # above U+10FFFF
])
def test_invalid_utf8_escapes_are_the_familys_malformed_request(gateway, fuzz_accounts, url, status, shape):
    answer = httpx.get(gateway.gateway_url + url, headers={"Authorization": f"Bearer {fuzz_accounts[0].key}"})
    assert answer.status_code == status, answer.text
    body = answer.json()
    # The family's own malformed-request reply (gateway/envoy_config.py), not a 500.
    fields = {"partner": lambda: body["fields"], "voucher": lambda: body["error"]["details"]["fields"],
              "landing": lambda: body["fields"],
              "affiliate": lambda: [{"field": f, "code": "malformed_request"} for f in body["error"]["details"]]}[shape]()
    assert [(f["field"], f["code"]) for f in fields] == [("request", "malformed_request")]


def test_valid_utf8_escapes_still_reach_the_service(gateway, fuzz_accounts):
    answer = httpx.get(f"{gateway.gateway_url}/v1/affiliate/analytics?section=%C3%A9t%C3%A9",
                       headers={"Authorization": f"Bearer {fuzz_accounts[0].key}"})
    assert answer.status_code == 422
    assert "section" in answer.json()["error"]["details"]


# Dates at Python's datetime limits overflowed when a window added a day or a time zone.
@pytest.mark.parametrize(("url", "field"), [
    ("/partner/v1/instances/analytics?time_frame=custom&start_date=9999-12-31&end_date=9999-12-31", "end_date"),
    ("/partner/v1/instances/analytics?time_frame=custom&start_date=0001-01-01T00:00:00%2B01:00&end_date=2026-01-01",
     "start_date"),
    (f"{CAMPAIGN}?time_frame=custom_range&start_date=9999-12-31&end_date=9999-12-31", "end_date"),
    (f"{VOUCHER}/performance?start_date=9999-12-31&end_date=9999-12-31", "end_date"),
    (f"{VOUCHER}/trends?start_date=9999-12-31T23:00:00-05:00", "start_date"),
    (f"{VOUCHER}/customers?start_date=0001-01-01T00:00:00%2B05:00&end_date=0001-01-02", "start_date"),
])
def test_dates_outside_the_supported_range_are_400(gateway, fuzz_accounts, url, field):
    """With the demo account's key: its campaign and voucher exist."""
    answer = httpx.get(gateway.gateway_url + url, headers={"Authorization": f"Bearer {fuzz_accounts[0].key}"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    fields = body.get("fields") or body["error"]["details"]["fields"]
    assert {"field": field, "code": "out_of_range"} in [{"field": f["field"], "code": f["code"]} for f in fields]


def test_params_accept_the_supported_range_and_refuse_its_outside():
    params = Params()
    assert params.date("d", "1970-01-01", "bad") == dt.date(1970, 1, 1)
    assert params.moment("m", "9998-12-31T23:59:59-05:00", "bad") == (
        dt.datetime(9999, 1, 1, 4, 59, 59, tzinfo=dt.timezone.utc), False)
    assert params.violations == []
    assert params.date("d", "9999-12-31", "bad") is None
    assert params.moment("m", "1969-12-31", "bad") is None
    assert params.moment("m", "0001-01-01T00:00:00+01:00", "bad") is None
    assert [v.code for v in params.violations] == ["out_of_range"] * 3


def test_an_affiliate_range_ending_in_year_one_starts_on_the_first_calendar_day(gateway, fuzz_accounts):
    """Found by Schemathesis: `to=0001-01-01` without a valid `from` defaulted `from` to 30
    days earlier, before year 1 (a 500). The document bounds the range only by from <= to
    <= today, so the default `from` stops at 0001-01-01; an invalid `from` is its own 422."""
    url, auth = f"{gateway.gateway_url}/v1/affiliate/analytics", {"Authorization": f"Bearer {fuzz_accounts[0].key}"}
    answer = httpx.get(f"{url}?section=stats&to=0001-01-01", headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["filters"] == {"from": "0001-01-01", "to": "0001-01-01"}
    answer = httpx.get(f"{url}?section=trends&to=0001-01-01&from=x", headers=auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"] == {"from": ["The from field must be a valid date in YYYY-MM-DD format."]}


# JSON bodies the transcoder took although they are not what the documents describe: a
# string or an object where the field is an array, a trailing comma, a text/plain body.
# Each family's ingestion or body endpoint, with the family's bad-body status and shape.
@pytest.mark.parametrize(("path", "content", "content_type", "status", "field"), [
    ("/v1/affiliate/affiliates:batch", b'{"affiliates": {"id": "a1", "name": "A"}}', "application/json", 422,
     "affiliates"),
    ("/v1/affiliate/conversions:batch", b'{"conversions": [{"id": "c1", "product_ids": "p1"}]}', "application/json",
     422, "conversions[0].product_ids"),
    ("/v1/affiliate/events:batch", b'{"events": [],}', "application/json", 422, "body"),
    ("/v1/affiliate/tracking-codes:batch", b'{"tracking_codes": []}', "text/plain", 422, "content-type"),
    ("/v1/analytics/export", b'{"voucher_ids": "v_d3f36144fe465396", "metrics": ["uses"]}', "application/json", 400,
     "voucher_ids"),
    ("/partner/v1/instances/analytics", b'{"instance_ids": []}', "text/plain", 400, "content-type"),
    ("/partner/v1/instances/analytics", b'{"instance_ids": [],}', "application/json", 400, "body"),
    ("/api/analytics/track", b'{"tenant_id": 1, "event_type": "pageview"}', "application/x-www-form-urlencoded",
     400, "content-type"),
])
def test_bodies_are_read_strictly_in_every_family(gateway, fuzz_accounts, path, content, content_type, status, field):
    answer = httpx.post(gateway.gateway_url + path, content=content, headers={
        "Authorization": f"Bearer {fuzz_accounts[0].key}", "content-type": content_type})
    assert answer.status_code == status, answer.text
    body = answer.json()
    if path.startswith("/v1/affiliate/"):
        assert body["success"] is False and body["error"]["code"] == "VALIDATION_ERROR"
        assert list(body["error"]["details"]) == [field]
    elif path.startswith("/v1/analytics/"):
        assert body["error"]["code"] == "INVALID_REQUEST_BODY"
        assert [f["field"] for f in body["error"]["details"]["fields"]] == [field]
    else:
        assert body["success"] is False
        assert [f["field"] for f in body["fields"]] == [field]
    assert answer.headers["x-request-id"] in (body.get("meta", {}).get("requestId"), body.get("request_id"),
                                              answer.headers["x-request-id"])
