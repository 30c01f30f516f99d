"""Schemathesis against the running gateway, for every operation of docs/openapi.json.

Account A (the demo data) calls every operation with generated valid and invalid input;
path parameters and id lists are sometimes A's real resources (so successes with real
bodies are checked against the schemas) and sometimes account B's. Checks: no server
error, every status documented, every body conforming to its documented schema (success
and error envelopes), and none of B's ids in any answer to A unless A sent it.

`make test` runs FUZZ_MAX_EXAMPLES=8 per operation (about a minute); `make fuzz` runs
more, with the rate limits raised (docs/reliability.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import uuid

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests import fuzzing

SPEC_FILE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
# `make fuzz` writes one line per call here (method, path template, status) for the
# figures of docs/reliability.md.
STATS = os.environ.get("FUZZ_STATS")


ABSENT = object()
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAYS = [str(TODAY), str(TODAY - dt.timedelta(days=6)), str(TODAY - dt.timedelta(days=29))]
# The edges of what dates can be (each answered 500 once, tests/test_hostile_input.py).
EDGE_DAYS = ["0001-01-01", "9999-12-31", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"]
PAGING = {"page": ["1", "2"], "limit": ["5", "100"]}
# Valid values of the documented query parameters (typed as strings in the protos, so that
# the services report bad ones): mixed into the generated ones so that operations also
# answer with data.
GOOD_QUERY: dict[str, dict[str, list[str]]] = {
    "/partner/v1/instances/analytics": {"time_frame": ["hour", "day", "custom"], "is_purchased": ["true", "false"],
                                        "start_date": DAYS[1:] + EDGE_DAYS, "end_date": DAYS[:1] + EDGE_DAYS, **PAGING},
    "/api/partner/v1/campaigns/{campaign_id}/analytics": {
        "time_frame": ["per_hour", "per_day", "per_month", "custom_range"], "is_purchase": ["true", "false", "all"],
        "start_date": DAYS[1:] + EDGE_DAYS, "end_date": DAYS[:1] + EDGE_DAYS, **PAGING},
    "/v1/affiliate/analytics": {
        "section": ["stats", "trends", "charts", "tables", "recent_clicks", "recent_conversions", "recent_events"],
        "from": DAYS[1:] + EDGE_DAYS, "to": DAYS[:1] + EDGE_DAYS, "metrics": ["total_clicks,total_revenue", "clicks_over_time"],
        "page": ["1", "3"], "per_page": ["5"], "top_limit": ["3"]},
    "/v1/analytics/vouchers/{voucher_id}/performance": {"start_date": DAYS[1:] + EDGE_DAYS, "end_date": DAYS[:1] + EDGE_DAYS,
                                                         "include_details": ["true", "false"]},
    "/v1/analytics/vouchers/{voucher_id}/trends": {"interval": ["day", "week", "month"], "start_date": DAYS[1:] + EDGE_DAYS,
                                                    "metrics": [["uses", "orders"], "conversion_rate"]},
    "/v1/analytics/vouchers/{voucher_id}/customers": {"start_date": DAYS[1:] + EDGE_DAYS,
                                                       "end_date": DAYS[:1] + EDGE_DAYS},
}
# Operations whose body names resources by id: the field, filled with A's and B's ids.
ID_LISTS = {"/partner/v1/instances/analytics": "instance_ids", "/v1/analytics/export": "voucher_ids"}
TRACK_EVENTS = ("pageview", "click_whatsapp", "time_on_page", "product_click")


def _good_bodies(path: str, a: fuzzing.Account, b: fuzzing.Account) -> list[dict]:
    """Valid bodies naming A's and B's resources (B's must be refused like unknown ones)."""
    def both(name):
        return [*a.body_values[name], *b.body_values[name]]

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if path == "/api/analytics/track":
        tenants = [int(t) for t in (*a.path_values["tenant_id"], *b.path_values["tenant_id"])]
        return [{"tenant_id": t, "event_type": e, "metadata": {"seconds": 12}} for t in tenants for e in TRACK_EVENTS]
    if path == "/v1/analytics/export":
        return [{"voucher_ids": ids, "metrics": ["uses", "discount"], "format": fmt}
                for ids in ([a.body_values["voucher_ids"][0]], both("voucher_ids")) for fmt in ("csv", "json", "xlsx")]
    if path == "/v1/affiliate/events:batch":
        return [{"events": [{"id": str(uuid.uuid4()), "type": "click", "occurred_at": now, "tracking_code": code,
                             "page_url": "https://shop.example.com/", "user_agent": "Mozilla/5.0"}]}
                for code in both("tracking_code")]
    if path == "/v1/affiliate/conversions:batch":
        return [{"conversions": [{"order_id": f"fuzz-{uuid.uuid4().hex[:12]}", "tracking_code": code,
                                  "order_total": "10.00", "commission": "1.00", "currency": "USD",
                                  "occurred_at": now}]} for code in both("tracking_code")]
    if path == "/v1/affiliate/tracking-codes:batch":
        return [{"tracking_codes": [{"code": f"FUZZ-{n}", "affiliate_id": aff}]}
                for n, aff in enumerate(both("affiliate_id"))]
    return []


def _mix(original, a_values, b_values):
    """The generated value, or one of A's or B's real ones."""
    return st.sampled_from([original, *a_values, *b_values])


@pytest.fixture(scope="module")
def fuzz_schema(gateway, fuzz_accounts):
    a, b = fuzz_accounts
    config = schemathesis.Config.from_dict({
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
    })
    schema = schemathesis.openapi.from_path(SPEC_FILE, config=config)
    schema.config.update(base_url=gateway.gateway_url, headers={"Authorization": f"Bearer {a.key}"})

    @schema.hook
    def flatmap_path_parameters(_ctx, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        name = next(iter(path_parameters))
        known = (a.path_values.get(name, []), b.path_values.get(name, []))
        return _mix(path_parameters[name], *known).map(lambda v: {**path_parameters, name: v})

    @schema.hook
    def flatmap_query(ctx, query):
        good = GOOD_QUERY.get(ctx.operation.path)
        if not good:
            return st.just(query)
        query = dict(query or {})
        return st.fixed_dictionaries(
            {name: st.sampled_from([query.get(name, ABSENT), *values]) for name, values in good.items()}
        ).map(lambda drawn: {**query, **drawn}).map(lambda q: {k: v for k, v in q.items() if v is not ABSENT})

    @schema.hook
    def flatmap_body(ctx, body):
        if not isinstance(body, dict):
            return st.just(body)
        good = _good_bodies(ctx.operation.path, a, b)
        if good:
            return st.sampled_from([body, *good])
        name = ID_LISTS.get(ctx.operation.path)
        if name is None:
            return st.just(body)
        lists = [[v] for v in a.body_values[name]] + [b.body_values[name],
                                                      a.body_values[name][:1] + b.body_values[name][:1]]
        return st.sampled_from([body.get(name, ABSENT), *lists]).map(
            lambda v: body if v is ABSENT else {**body, name: v})

    return schema


def _operations() -> list[tuple[str, str]]:
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def _request_text(case) -> str:
    return f"{case.formatted_path} {case.query} {case.body} {case.path_parameters}"


# Schemathesis' own pytest plugin (`from_fixture`) does not run under pytest 9, so each
# operation's strategies are driven with Hypothesis directly: positive and negative
# cases, with the schema's hooks (the accounts' real ids).
@pytest.mark.parametrize(("method", "path"), _operations(), ids=[f"{m} {p}" for m, p in _operations()])
def test_every_operation_holds_its_contract(method, path, fuzz_schema, fuzz_accounts):
    _a, b = fuzz_accounts
    operation = fuzz_schema[path][method]
    hooks = fuzz_schema.get_local_hook_dispatcher()
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE, hooks=hooks),
                         operation.as_strategy(GenerationMode.NEGATIVE, hooks=hooks))

    @hypothesis.given(case=strategy)
    @hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck), derandomize=True,
                         max_examples=MAX_EXAMPLES, database=None, phases=[hypothesis.Phase.generate])
    def holds(case):
        response = case.call(timeout=30)
        if STATS:  # before the checks, so that failing calls are counted too
            with open(STATS, "a", encoding="utf-8") as out:
                out.write(json.dumps([method, path, response.status_code]) + "\n")
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 content_type_conformance, response_schema_conformance, ignored_auth])
        body = response.content.decode("utf-8", errors="replace")
        sent = _request_text(case)
        leaked = sorted(s for s in b.secrets if s in body and s not in sent)
        assert not leaked, f"{case.method} {case.formatted_path} answered account B's ids {leaked}: {body[:500]}"

    holds()


def test_another_accounts_resources_are_not_found(gateway, fuzz_accounts):
    """Every documented way of naming account B's resources answers A's key with 404."""
    a, b = fuzz_accounts
    auth = {"Authorization": f"Bearer {a.key}"}
    voucher, export = b.path_values["voucher_id"][0], b.path_values["export_id"][0]
    tenant, campaign = b.path_values["tenant_id"][0], b.path_values["campaign_id"][0]
    gets = [f"/api/partner/v1/campaigns/{campaign}/analytics?time_frame=per_month",
            *(f"/v1/analytics/vouchers/{voucher}/{view}" for view in ("performance", "trends", "customers")),
            f"/v1/analytics/export/{export}", f"/v1/analytics/export/{export}/download",
            f"/api/analytics/{tenant}", f"/api/analytics/{tenant}/today"]
    posts = [("/partner/v1/instances/analytics", {"instance_ids": b.body_values["instance_ids"][:1]}),
             ("/v1/analytics/export", {"voucher_ids": [voucher], "metrics": ["uses"]})]
    with httpx.Client(base_url=gateway.gateway_url, headers=auth, timeout=30) as http:
        answers = [http.get(url) for url in gets] + [http.post(url, json=body) for url, body in posts]
    assert [r.status_code for r in answers] == [404] * len(answers)
    requested = " ".join(str(r.request.url) + r.request.content.decode() for r in answers)
    assert not {s for s in b.secrets for r in answers if s in r.text and s not in requested}
    assert answers[-1].json()["error"]["details"] == {"not_found": [voucher], "found": []}
