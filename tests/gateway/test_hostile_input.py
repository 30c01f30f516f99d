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


# Path parameters read exactly as their patterns write them: no blanks, no digits other
# than ASCII (Python's int() and `\\d` take "\u0665" as 5), hyphens only 8-4-4-4-12.
@pytest.mark.parametrize(("url", "field"), [
    ("/api/analytics/%205", "tenantId"),
    ("/api/analytics/5%20/today", "tenantId"),
    ("/api/analytics/%D9%A5", "tenantId"),  # ARABIC-INDIC DIGIT FIVE
    ("/api/analytics/%EF%BC%95/today", "tenantId"),  # FULLWIDTH DIGIT FIVE
    (CAMPAIGN.replace("444e1cbc-fea9", "444e1cbcf-ea9") + "?time_frame=per_day", "campaign_id"),
    (CAMPAIGN.replace("444e1cbc", "%20444e1cb") + "?time_frame=per_day", "campaign_id"),
])
def test_path_values_the_document_refuses_are_400(gateway, fuzz_accounts, url, field):
    answer = httpx.get(gateway.gateway_url + url, headers={"Authorization": f"Bearer {fuzz_accounts[0].key}"})
    assert answer.status_code == 400, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == [field]


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


# Every query parameter is read exactly as the served document's schema writes it: a value
# its pattern refuses (blank, padded, signed, zero-padded, a control character) is refused,
# in every section of the affiliate analytics too, never trimmed to absent or ignored. The
# negative_data_rejection check of Schemathesis found these a few at a time (make fuzz).
ODD_VALUES = ("", " ", "\r", " 5", "5 ", "+5", "05", "0", "x", " 2026-01-01", "2026-01-01\n", "Stats",
              " clicks", "clicks,,pageviews", "\u0665", "\uff15", "\u0662\u0660\u0662\u0666-01-01")
_SECTIONS = ("stats", "trends", "charts", "tables", "recent_clicks", "recent_conversions", "recent_events")


def _allowed(schema: dict, value: str) -> bool:
    """Whether a string meets a parameter's schema (patterns, lengths and enums: all it uses)."""
    import re

    if schema.get("type") == "array":  # one value of a repeated query parameter
        return _allowed(schema["items"], value)
    if "anyOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return any(_allowed({**rest, **branch}, value) for branch in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return False
    if "minLength" in schema and len(value) < schema["minLength"]:
        return False
    return "pattern" not in schema or re.search(schema["pattern"], value) is not None


def _query_cases():
    import json
    import pathlib

    spec = json.loads((pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "openapi.json").read_text())
    bases = {"/partner/v1/instances/analytics": [{"time_frame": "custom", "start_date": "2026-01-01",
                                                  "end_date": "2026-01-02"}],
             "/api/partner/v1/campaigns/{campaign_id}/analytics": [{"time_frame": "per_day"}],
             "/v1/affiliate/analytics": [{"section": s} for s in _SECTIONS],
             "/v1/analytics/vouchers/{voucher_id}/performance": [{}],
             "/v1/analytics/vouchers/{voucher_id}/trends": [{}],
             "/v1/analytics/vouchers/{voucher_id}/customers": [{}]}
    for path, base_list in bases.items():
        for method, operation in spec["paths"][path].items():
            for param in operation.get("parameters", []):
                if param["in"] != "query":
                    continue
                # Each section for the parameters some sections only read.
                paging = param["name"] in ("page", "per_page", "top_limit", "metrics")
                # An enum's own names in another case or padded: matched exactly, never folded.
                names = param["schema"].get("enum", param["schema"].get("items", {}).get("enum", []))
                folded = tuple(v for name in names for v in (name.upper(), name.capitalize(), f" {name}"))
                for base in base_list if paging else base_list[:1]:
                    for value in ODD_VALUES + folded:
                        if not _allowed(param["schema"], value):
                            yield method, path, {**base, param["name"]: value}


QUERY_CASES = list(_query_cases())


def test_the_odd_values_cover_every_documented_query_parameter():
    names = {(path, name) for _, path, query in QUERY_CASES for name in query}
    assert len(QUERY_CASES) > 300
    assert {("/v1/affiliate/analytics", n) for n in ("page", "per_page", "top_limit", "from", "to", "metrics")} <= names
    assert ("/v1/analytics/vouchers/{voucher_id}/customers", "start_date") in names
    assert ("/partner/v1/instances/analytics", "events") in names
    assert ("/v1/analytics/vouchers/{voucher_id}/trends", "metrics") in names
    assert ("get", "/api/partner/v1/campaigns/{campaign_id}/analytics", {"time_frame": "PER_DAY"}) in QUERY_CASES
    assert ("get", "/v1/analytics/vouchers/{voucher_id}/performance", {"include_details": "True"}) in QUERY_CASES


async def test_a_value_the_document_refuses_is_refused_in_the_familys_envelope(gateway, fuzz_accounts,
                                                                             owner_sessions):
    from sqlalchemy import text

    account = fuzz_accounts[0]
    path_values = {"{campaign_id}": CAMPAIGN.split("/")[5], "{voucher_id}": VOUCHER.rsplit("/", 1)[1]}
    accepted = []
    async with httpx.AsyncClient(base_url=gateway.gateway_url,
                                 headers={"Authorization": f"Bearer {account.key}"}) as client:
        for n, (method, path, query) in enumerate(QUERY_CASES):
            if n % 40 == 0:  # fresh rate-limit windows (the instance list allows 100 an hour)
                async with owner_sessions() as session, session.begin():
                    await session.execute(text("DELETE FROM rate_limit_windows"))
            url = path
            for hole, value in path_values.items():
                url = url.replace(hole, value)
            # A POST names one of the account's own resources, so that only the query is wrong.
            body = {"instance_ids": account.body_values["instance_ids"][:1]} if method == "post" else None
            answer = await client.request(method.upper(), url, params=query, json=body)
            body = answer.json()
            refused = body.get("success") is False or "error" in body
            if answer.status_code not in (400, 422) or not refused:
                accepted.append((method, path, query, answer.status_code))
    assert accepted == [], "\n".join(map(str, accepted))
