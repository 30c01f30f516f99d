"""Schemathesis against the running gateway, every check it ships, on the served document.

The engine runs as `st run --checks all` does (examples, coverage, fuzzing and stateful
phases) on `/openapi.json` as the gateway serves it. Account A (the demo data) calls every
operation with generated valid and invalid input; path parameters and id lists are
sometimes A's real resources (so successes with real bodies are checked against the
schemas) and sometimes account B's. Every check must pass: schema-valid requests accepted,
schema-invalid ones refused, every status, content type, header and body as documented,
no key ignored, 405 for every other method; plus ours: none of B's ids in any answer to A
unless A sent it.

`make test` runs FUZZ_MAX_EXAMPLES=8 per operation (under a minute); `make fuzz` runs
more, with the rate limits raised (docs/reliability.md).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pathlib
import re
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import engine
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES as NEGATIVE_REFUSALS
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import StopReason, events
from schemathesis.generation.meta import TestPhase

from tests.support import fuzzing
from tools import genopenapi

SPEC_FILE = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "openapi.json"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
# `make fuzz` writes one line per call here (method, path template, status) for the
# figures of docs/reliability.md.
STATS = os.environ.get("FUZZ_STATS")
# ... and every failure here, with the failures per check (JSON).
REPORT = os.environ.get("FUZZ_REPORT")


ABSENT = object()
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAYS = [str(TODAY), str(TODAY - dt.timedelta(days=6)), str(TODAY - dt.timedelta(days=29))]
PAGING = {"page": ["1", "2"], "limit": ["5", "100"]}
# Valid values of the documented query parameters (typed as strings in the protos, so that
# the services report bad ones): mixed into the generated ones so that operations also
# answer with data.
GOOD_QUERY: dict[str, dict[str, list[str]]] = {
    "/partner/v1/instances/analytics": {"time_frame": ["hour", "day", "custom"], "is_purchased": ["true", "false"],
                                        "start_date": DAYS[1:], "end_date": DAYS[:1], **PAGING},
    "/api/partner/v1/campaigns/{campaign_id}/analytics": {
        "time_frame": ["per_hour", "per_day", "per_month", "custom_range"], "is_purchase": ["true", "false", "all"],
        "start_date": DAYS[1:], "end_date": DAYS[:1], **PAGING},
    "/v1/affiliate/analytics": {
        "section": ["stats", "trends", "charts", "tables", "recent_clicks", "recent_conversions", "recent_events"],
        "from": DAYS[1:], "to": DAYS[:1], "metrics": ["total_clicks,total_revenue", "clicks_over_time"],
        "page": ["1", "3"], "per_page": ["5"], "top_limit": ["3"]},
    "/v1/analytics/vouchers/{voucher_id}/performance": {"start_date": DAYS[1:], "end_date": DAYS[:1],
                                                         "include_details": ["true", "false"]},
    "/v1/analytics/vouchers/{voucher_id}/trends": {"interval": ["day", "week", "month"], "start_date": DAYS[1:],
                                                    "metrics": [["uses", "orders"], "conversion_rate"]},
    "/v1/analytics/vouchers/{voucher_id}/customers": {"start_date": DAYS[1:],
                                                       "end_date": DAYS[:1]},
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


# The account whose ids must not leak into A's answers, for the check below (set by the fixture).
_OTHER: list[fuzzing.Account] = []


@schemathesis.check
def no_other_accounts_ids(ctx, response, case):
    """None of account B's ids in an answer to A unless A's request held it."""
    if STATS:  # one line per call, failing ones too
        with open(STATS, "a", encoding="utf-8") as out:
            out.write(json.dumps([case.method.upper(), case.operation.path, response.status_code]) + "\n")
    if not _OTHER:
        return None
    body = response.content.decode("utf-8", errors="replace")
    sent = _request_text(case)
    leaked = sorted(s for s in _OTHER[0].secrets if s in body and s not in sent)
    if leaked:
        raise AssertionError(f"answered account B's ids {leaked}: {body[:500]}")
    return True


@pytest.fixture(scope="module")
def fuzz_schema(gateway, fuzz_accounts):
    a, b = fuzz_accounts
    _OTHER[:] = [b]
    config = schemathesis.Config.from_dict({
        # Unknown query parameters are ignored (the gateway's documented behaviour, which
        # OpenAPI cannot state), so none is generated.
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "allow-extra-parameters": False},
        "continue-on-failure": True,
        "request-timeout": 30,
        # A body over the gateway's byte limit is refused with 413, a refusal like any 4xx.
        "checks": {"negative_data_rejection": {"expected-statuses": [*NEGATIVE_REFUSALS, "413"]}},
    })
    # The document as the gateway serves it (loaded from its bytes: loaded from its URL,
    # Schemathesis leaves out the operation that serves it).
    served = httpx.get(f"{gateway.gateway_url}{genopenapi.SPEC_PATH}", timeout=30).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(served, config=config)
    schema.config.update(base_url=gateway.gateway_url, headers={"Authorization": f"Bearer {a.key}"})
    schema.config.checks.update(included_check_names=["all"])

    def path_parameters(operation, values):
        if not values:
            return st.just(values)
        name = next(iter(values))
        known = (a.path_values.get(name, []), b.path_values.get(name, []))
        return _mix(values[name], *known).map(lambda v: {**values, name: v})

    def query(operation, values):
        good = GOOD_QUERY.get(operation.path)
        if not good:
            return st.just(values)
        values = dict(values or {})
        return st.fixed_dictionaries(
            {name: st.sampled_from([values.get(name, ABSENT), *options]) for name, options in good.items()}
        ).map(lambda drawn: {**values, **drawn}).map(lambda q: {k: v for k, v in q.items() if v is not ABSENT})

    def body(operation, value):
        if not isinstance(value, dict):
            return st.just(value)
        good = _good_bodies(operation.path, a, b)
        if good:
            return st.sampled_from([value, *good])
        name = ID_LISTS.get(operation.path)
        if name is None:
            return st.just(value)
        lists = [[v] for v in a.body_values[name]] + [b.body_values[name],
                                                      a.body_values[name][:1] + b.body_values[name][:1]]
        return st.sampled_from([value.get(name, ABSENT), *lists]).map(
            lambda v: value if v is ABSENT else {**value, name: v})

    # Real values replace generated ones only where the case was generated valid (so that
    # an invalid case stays invalid), and never in the stateful phase, whose values come
    # from the previous answers (an export just created, then read).
    parts = [(ParameterLocation.PATH, "path_parameters", path_parameters), (ParameterLocation.QUERY, "query", query),
             (ParameterLocation.BODY, "body", body)]

    @schema.hook
    def flatmap_case(ctx, case):
        strategy = st.just(case)
        if case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL:
            return strategy
        for location, attribute, draw in parts:
            if case.meta is not None and case.meta.is_negative_at(location):
                continue

            def put(c, attribute=attribute, draw=draw):
                return draw(ctx.operation, getattr(c, attribute)).map(lambda v: _set(c, attribute, v))
            strategy = strategy.flatmap(put)
        return strategy

    yield schema
    _OTHER.clear()


def _set(case, attribute, value):
    setattr(case, attribute, value)
    return case


def _operations() -> list[tuple[str, str]]:
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def _request_text(case) -> str:
    return f"{case.formatted_path} {case.query} {case.body} {case.path_parameters}"


# What JSON Schema cannot say: a valid request may still be refused for a relation between
# its fields, to stored resources or to the clock (from after to, a period over the
# family's limit, a metric of another section, an unknown tracking code, an event in the
# future, a body over the gateway's byte limit, a landing event's metadata over its
# documented 4 KiB of JSON (a size JSON Schema has no keyword for), a test event or replay
# to a webhook endpoint an earlier call disabled). Such refusals of schema-valid requests
# are counted apart, not failures, when every violation the answer names is one of these.
RELATIONAL = re.compile(
    r"invalid_range|range_too_large|range_too_long|INVALID_TIME_PERIOD|PAYLOAD_TOO_LARGE"
    r"|names an unknown|must be a date before or equal to|Invalid metric\(s\) for|must not be in the future"
    r"|daily series holds at most|Missing (start|end)_date for custom|No analytics data available"
    r"|the endpoint is disabled|metadata may be at most [0-9]+ bytes of JSON")


def _violations(content: bytes) -> list[str]:
    """'code message' of each violation an error body names, in any family's envelope."""
    try:
        body = json.loads(content)
    except ValueError:
        return [""]
    if not isinstance(body, dict):
        return [""]
    error = body.get("error")
    fields = body.get("fields") or body.get("validation_errors")
    if isinstance(error, str) and not fields:
        return [f"{error} {body.get('message')}"]
    if isinstance(error, dict):
        details = error.get("details") or {}
        fields = details.get("fields") if isinstance(details, dict) and "fields" in details else fields
        fields = error.get("fields") or fields  # the exports and webhooks envelope
        if fields is None and isinstance(details, dict) and details and all(isinstance(v, list) for v in details.values()):
            return [f"{error.get('code')} {m}" for messages in details.values() for m in messages]
        if fields is None:
            return [f"{error.get('code')} {error.get('message')}"]
    return [f"{f.get('code')} {f.get('message')}" for f in fields or [{}]]


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _apart(name: str, case, method: str, answer) -> str | None:
    """Why a failure is counted apart, or None."""
    # A JSON string holding half a UTF-16 surrogate pair (`"\\ud800"`) has no Unicode
    # meaning (RFC 8259, section 8.2): refused as a malformed body, which JSON Schema
    # cannot tell apart from a valid string.
    if name == "positive_data_acceptance" and case is not None and _has_lone_surrogate(case.body):
        return "lone_surrogate"
    if name == "positive_data_acceptance" and answer is not None and all(
            RELATIONAL.search(v) for v in _violations(answer.content or b"")):
        return "relational"
    return None


def _run(schema) -> tuple[list[str], set[str], collections.Counter]:
    """Runs every phase; returns the failures (one line each), the operations called and
    the failures per check."""
    failures: list[str] = []
    called: set[str] = set()
    per_check: collections.Counter = collections.Counter()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            if recorder.interactions:
                called.add(recorder.label)
            elif event.skip_reason:
                called.add(f"{recorder.label} (skipped in {event.phase}: {event.skip_reason})")
            for case_id, nodes in recorder.checks.items():
                interaction = recorder.interactions.get(case_id)
                answer = interaction.response if interaction is not None else None
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    node_case = recorder.cases.get(case_id)
                    reason = _apart(node.name, node_case.value if node_case else None,
                                    interaction.request.method if interaction else "", answer)
                    if reason:
                        per_check[f"{node.name} ({reason})"] += 1
                        continue
                    per_check[node.name] += 1
                    got = (f" -> {answer.status_code} {(answer.content or b'')[:300].decode('utf-8', 'replace')}"
                           if answer is not None else "")
                    failures.append(f"[{event.phase}] {node.name} {failure.code} {recorder.label}: {failure.title}; "
                                    f"{node.failure_info.code_sample[:1500]}{got}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            per_check["error"] += 1
            failures.append(f"error {getattr(event, 'label', '')}: {getattr(event, 'value', None) or event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            if event.stop_reason != StopReason.COMPLETED:  # interrupted, out of time, server gone
                failures.append(f"the run stopped early: {event.stop_reason}")
            for failure in event.failures:
                per_check[",".join(failure.checks) or failure.code] += 1
                failures.append(f"[after run] {failure.code} {failure.operation}: {failure.title}; {failure.message}")
    return failures, called, per_check


def test_another_accounts_resources_are_not_found(gateway, fuzz_accounts):
    """Every documented way of naming account B's resources answers A's key with 404."""
    a, b = fuzz_accounts
    auth = {"Authorization": f"Bearer {a.key}"}
    voucher, export = b.path_values["voucher_id"][0], b.path_values["export_id"][0]
    tenant, campaign = b.path_values["tenant_id"][0], b.path_values["campaign_id"][0]
    gets = [f"/api/partner/v1/campaigns/{campaign}/analytics?time_frame=per_month",
            *(f"/v1/analytics/vouchers/{voucher}/{view}" for view in ("performance", "trends", "customers")),
            f"/v1/analytics/export/{export}", f"/v1/analytics/export/{export}/download",
            f"/api/analytics/{tenant}", f"/api/analytics/{tenant}/today",
            f"/v1/webhooks/endpoints/{b.path_values['endpoint_id'][0]}",
            f"/v1/webhooks/endpoints/{b.path_values['endpoint_id'][0]}/deliveries"]
    posts = [("/partner/v1/instances/analytics", {"instance_ids": b.body_values["instance_ids"][:1]}),
             *((f"/v1/webhooks/endpoints/{b.path_values['endpoint_id'][0]}/{action}", {}) for action in
               ("test", "rotate-secret")),
             ("/v1/analytics/export", {"voucher_ids": [voucher], "metrics": ["uses"]})]
    with httpx.Client(base_url=gateway.gateway_url, headers=auth, timeout=30) as http:
        answers = [http.get(url) for url in gets] + [http.post(url, json=body) for url, body in posts]
    assert [r.status_code for r in answers] == [404] * len(answers)
    requested = " ".join(str(r.request.url) + r.request.content.decode() for r in answers)
    assert not {s for s in b.secrets for r in answers if s in r.text and s not in requested}
    assert answers[-1].json()["error"]["details"] == {"not_found": [voucher], "found": []}


# Last: its calls use up the demo key's export budget (10 a minute under `make test`'s limits).
def test_every_operation_passes_every_check(fuzz_schema):
    failures, called, per_check = _run(fuzz_schema)
    if REPORT:
        pathlib.Path(REPORT).write_text(json.dumps({"per_check": per_check, "failures": failures, "called": sorted(called)}, indent=1))
    assert not failures, f"{dict(per_check)}\n" + "\n".join(failures[:60])
    print("counted apart:", dict(per_check))
    assert {f"{m} {p}" for m, p in _operations()} <= called
