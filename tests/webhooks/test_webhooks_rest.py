"""The webhook endpoints API over REST through the real gateway (docs/webhooks.md,
"Endpoints over REST"): every route, a test event delivered by the service's own worker to
a real local receiver and verified with the documented recipe, the delivery log, replays;
another account's endpoint answering exactly like a missing one; every refusal in the
envelope with a request id (the service's, and the gateway's own 404, 405, 400, 415)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time

import httpx
import pytest
import pytest_asyncio

from gateway.common import MAX_REQUEST_BODY_BYTES
from platform_core import accounts, db
from services.registry import family
from stack.run import migrate
from tests.conftest import whole_stack
from tests.support.databases import scratch_database
from tests.support.webhook_receiver import running_receiver, verify

ENDPOINT_ID = re.compile(r"^we_[0-9a-f]{16}$")
MISSING = "we_" + "0" * 16
# The module makes more calls per account than the documented minute allows (600 reads,
# 60 writes); raised here, to two different values so that the headers show each route's
# bucket. The limits themselves are tested in tests/webhooks/test_webhooks.py.
READ_LIMIT, WRITE_LIMIT = 100_000, 50_000
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def routes(endpoint_id: str) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of every operation on one endpoint."""
    base = f"/v1/webhooks/endpoints/{endpoint_id}"
    return [("GET", base, None), ("PATCH", base, {"description": "theirs"}), ("DELETE", base, None),
            ("POST", f"{base}/rotate-secret", {}), ("POST", f"{base}/test", {}),
            ("GET", f"{base}/deliveries", None), ("POST", f"{base}/replay", {"event_id": "evt_" + "0" * 32})]


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    """The documented envelope, with the request id the gateway sent in the header."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and UUID.match(error["request_id"]), error
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def fields(response: httpx.Response) -> dict[str, str]:
    return {f["field"]: f["code"] for f in response.json()["error"]["fields"]}


async def until(fetch, done, what: str, tries: int = 600):
    """`fetch()` again until `done(answer)`, a bounded number of times."""
    for _ in range(tries):
        answer = await fetch()
        if done(answer):
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not after {tries} tries; last answer {answer}")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def webhook_stack(database_server, tmp_path_factory):
    """The whole stack on a database of its own, its webhooks service delivering with one
    in-process worker (retries a few milliseconds apart) to local receivers."""
    with scratch_database(database_server, "webhooks_rest") as urls:
        migrate(urls.owner)
        with whole_stack(urls, tmp_path_factory.mktemp("webhooks-stack"), WEBHOOK_WORKERS="1",
                         RATE_LIMITS=f"webhooks.read={READ_LIMIT}/60,webhooks.write={WRITE_LIMIT}/60",
                         WEBHOOK_POLL_SECONDS="0.05", WEBHOOK_RETRY_BASE_SECONDS="0.01",
                         WEBHOOK_RETRY_MAX_DELAY_SECONDS="0.05") as stack:
            yield urls, stack


@pytest_asyncio.fixture(scope="module")
async def world(webhook_stack):
    urls, stack = webhook_stack
    engine = db.create_engine(urls.app, pool_size=2)
    try:
        async with db.sessionmaker(engine)() as session:
            a = await accounts.create_account(session, "hooked")
            b = await accounts.create_account(session, "other hooked")
            _, key_a = await accounts.create_key(session, a.id, "test")
            _, live_a = await accounts.create_key(session, a.id, "live")
            _, key_b = await accounts.create_key(session, b.id, "test")
            _, analytics_only = await accounts.create_key(session, a.id, "test", ["analytics:read"])
            await session.commit()
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        yield {"http": http, "a": key_a, "live_a": live_a, "b": key_b, "analytics_only": analytics_only,
               "stack": stack}


@pytest.fixture
def receiver():
    with running_receiver() as made:
        yield made


async def create(world, url: str, key: str | None = None, **extra) -> dict:
    response = await world["http"].post("/v1/webhooks/endpoints", json={"url": url, **extra},
                                        headers=auth(key or world["a"]))
    assert response.status_code == 200, response.text
    return response.json()


async def listed(world, key: str | None = None) -> httpx.Response:
    response = await world["http"].get("/v1/webhooks/endpoints", headers=auth(key or world["a"]))
    assert response.status_code == 200, response.text
    return response


# --------------------------------------------------------------------------- the routes


async def test_an_endpoint_is_created_listed_changed_rotated_and_deleted(world):
    http, key = world["http"], world["a"]
    created = await create(world, "https://hooks.example.com/in", description="orders",
                           event_types=["voucher.redeemed", "voucher.redeemed", "instance.purchased"])
    endpoint, secret = created["endpoint"], created["secret"]
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", secret)
    assert ENDPOINT_ID.match(endpoint["id"])
    assert {k: v for k, v in endpoint.items() if k not in ("id", "created_at")} == {
        "url": "https://hooks.example.com/in", "description": "orders",
        "event_types": ["voucher.redeemed", "instance.purchased"], "enabled": True, "disabled_reason": "",
        "livemode": False}
    assert dt.datetime.fromisoformat(endpoint["created_at"]).tzinfo is not None

    # The secret is shown once: never in a list, an update or anywhere after.
    answer = await listed(world)
    assert answer.json() == {"endpoints": [endpoint]}
    assert secret not in answer.text and "secret" not in answer.text

    path = f"/v1/webhooks/endpoints/{endpoint['id']}"
    got = await http.get(path, headers=auth(key))
    assert got.status_code == 200, got.text
    assert got.json() == {"endpoint": endpoint}
    assert secret not in got.text and "secret" not in got.text
    # Reads and writes count against the webhooks' buckets, with the usual headers.
    assert got.headers["x-ratelimit-limit"] == str(READ_LIMIT), got.headers
    assert int(got.headers["x-ratelimit-remaining"]) < READ_LIMIT and int(got.headers["x-ratelimit-reset"]) > time.time()
    changed = await http.patch(path, json={"description": "everything", "event_types": [],
                                           "replace_event_types": True, "enabled": False}, headers=auth(key))
    assert changed.status_code == 200, changed.text
    assert changed.headers["x-ratelimit-limit"] == str(WRITE_LIMIT), changed.headers
    assert {k: changed.json()["endpoint"][k] for k in ("description", "event_types", "enabled", "disabled_reason")} \
        == {"description": "everything", "event_types": [], "enabled": False, "disabled_reason": "by_account"}
    assert secret not in changed.text
    # Only what a body names changes.
    again = await http.patch(path, json={"enabled": True}, headers=auth(key))
    assert {k: again.json()["endpoint"][k] for k in ("url", "description", "enabled", "disabled_reason")} == {
        "url": "https://hooks.example.com/in", "description": "everything", "enabled": True, "disabled_reason": ""}

    rotated = await http.post(f"{path}/rotate-secret", json={"previous_secret_hours": 2}, headers=auth(key))
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", new_secret) and new_secret != secret
    assert rotated.json()["endpoint"]["id"] == endpoint["id"]
    assert new_secret not in (await listed(world)).text
    after = await http.get(path, headers=auth(key))
    assert after.json()["endpoint"] == again.json()["endpoint"] and new_secret not in after.text

    deleted = await http.delete(path, headers=auth(key))
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (await listed(world)).json() == {"endpoints": []}
    assert_envelope(await http.delete(path, headers=auth(key)), 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    assert_envelope(await http.get(path, headers=auth(key)), 404, "WEBHOOK_ENDPOINT_NOT_FOUND")


async def test_a_test_event_is_delivered_signed_logged_and_replayed(world, receiver):
    http, key = world["http"], world["a"]
    created = await create(world, receiver.url("/hook"))
    endpoint_id, secret = created["endpoint"]["id"], created["secret"]
    base = f"/v1/webhooks/endpoints/{endpoint_id}"

    sent = await http.post(f"{base}/test", json={}, headers=auth(key))
    assert sent.status_code == 200, sent.text
    event_id = sent.json()["event_id"]
    assert re.fullmatch(r"evt_[0-9a-f]{32}", event_id)

    async def log(**params):
        response = await http.get(f"{base}/deliveries", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        return response.json()["deliveries"]

    [entry] = await until(log, lambda d: d and d[0]["status"] != "pending", "the test event's delivery")
    [got] = receiver.at("/hook")
    assert got.event().id == event_id and got.event().type == "webhook.test"
    assert got.event().data.test.endpoint_id == endpoint_id
    assert got.headers["partnerlytics-event-id"] == event_id
    assert verify(got.headers["partnerlytics-signature"], got.body, secret, time.time())
    assert {k: entry[k] for k in ("event_id", "event_type", "status", "attempts", "response_code", "last_error")} == {
        "event_id": event_id, "event_type": "webhook.test", "status": "succeeded", "attempts": 1,
        "response_code": 200, "last_error": ""}
    assert entry["last_attempt_at"] and entry["created_at"] and isinstance(entry["latency_ms"], int)

    # A replay of the one event posts the same id and bytes again.
    replayed = await http.post(f"{base}/replay", json={"event_id": event_id}, headers=auth(key))
    assert (replayed.status_code, replayed.json()) == (200, {"queued": 1}), replayed.text
    await until(lambda: asyncio.sleep(0, receiver.at("/hook")), lambda r: len(r) == 2, "the replay")
    assert receiver.at("/hook")[1].body == got.body
    await until(log, lambda d: d[0]["status"] == "succeeded" and d[0]["attempts"] == 2, "the replay's log")

    # A second test event, then a replay of the range holding both.
    # A POST's body is a JSON object, `{}` when it has nothing to say (an empty one is refused).
    empty = await http.post(f"{base}/test", headers={**auth(key), "Content-Type": "application/json"})
    assert_envelope(empty, 400, "INVALID_ARGUMENT")
    assert fields(empty) == {"body": "invalid_json"}
    second = await http.post(f"{base}/test", json={}, headers=auth(key))
    assert second.status_code == 200, second.text
    await until(log, lambda d: len(d) == 2 and all(e["status"] == "succeeded" for e in d), "the second event")
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    ranged = await http.post(f"{base}/replay", json={"start": start, "end": end}, headers=auth(key))
    assert (ranged.status_code, ranged.json()) == (200, {"queued": 2}), ranged.text
    await until(lambda: asyncio.sleep(0, receiver.at("/hook")), lambda r: len(r) == 5, "the ranged replay")
    ids = [r.event().id for r in receiver.at("/hook")]
    assert sorted(ids[3:]) == sorted({event_id, second.json()["event_id"]})

    newest = await until(lambda: log(limit="1"), lambda d: d[0]["status"] == "succeeded", "the log's first page")
    assert len(newest) == 1 and len(await log()) == 2
    assert await log(before="2020-01-01T00:00:00Z") == []


async def test_a_receivers_failure_is_retried_and_shows_in_the_log(world, receiver):
    created = await create(world, receiver.url("/flaky"))
    base = f"/v1/webhooks/endpoints/{created['endpoint']['id']}"
    receiver.scripts["/flaky"] = [503]
    await world["http"].post(f"{base}/test", json={}, headers=auth(world["a"]))

    async def log():
        return (await world["http"].get(f"{base}/deliveries", headers=auth(world["a"]))).json()["deliveries"]

    [entry] = await until(log, lambda d: d[0]["status"] == "succeeded", "the retried delivery")
    assert (entry["attempts"], entry["response_code"]) == (2, 200)
    assert len({r.body for r in receiver.at("/flaky")}) == 1 and len(receiver.at("/flaky")) == 2


# --------------------------------------------------------------------------- scoping


async def test_another_accounts_endpoint_looks_exactly_like_a_missing_one(world):
    """Account B, and A's own live-mode key, on A's test-mode endpoint: every route answers
    as for an id that exists nowhere (status, headers, body; only the request id differs)."""
    http = world["http"]
    theirs = (await create(world, "https://hooks.example.com/a"))["endpoint"]["id"]
    for key in (world["b"], world["live_a"]):
        for (method, path, body), (_, missing_path, _) in zip(routes(theirs), routes(MISSING), strict=True):
            answers = [await http.request(method, p, json=body, headers=auth(key)) for p in (path, missing_path)]
            for answer in answers:
                assert_envelope(answer, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
            bodies = [a.json() for a in answers]
            for one in bodies:
                one["error"].pop("request_id")
            assert bodies[0] == bodies[1] == {"error": {"code": "WEBHOOK_ENDPOINT_NOT_FOUND",
                                                        "message": "Webhook endpoint not found"}}, (method, path)
            assert answers[0].headers.keys() == answers[1].headers.keys()
        assert (await listed(world, key)).json() == {"endpoints": []}
    # ... and A's endpoint is as it was.
    [mine] = [e for e in (await listed(world)).json()["endpoints"] if e["id"] == theirs]
    assert mine["description"] == "" and mine["enabled"]
    assert (await http.get(f"/v1/webhooks/endpoints/{theirs}", headers=auth(world["a"]))).json() == {"endpoint": mine}


async def test_an_id_that_is_no_endpoint_is_the_same_404(world):
    """Unknown ids, and ids that cannot be one (too long, another prefix, escaped
    characters): the answer of a missing endpoint, body for body; an escaped control
    character is the gateway's documented 400 for the path, on every route."""
    http = world["http"]
    expected = {"error": {"code": "WEBHOOK_ENDPOINT_NOT_FOUND", "message": "Webhook endpoint not found"}}
    for endpoint_id in (MISSING, "we_" + "f" * 16, "nope", "we_" + "0" * 40, "we_%20x", "we_%C3%A9", "exp_0"):
        answer = await http.get(f"/v1/webhooks/endpoints/{endpoint_id}", headers=auth(world["a"]))
        error = assert_envelope(answer, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
        error.pop("request_id")
        assert {"error": error} == expected, endpoint_id
    for method, path, body in routes("we_%00"):
        answer = await http.request(method, path, json=body, headers=auth(world["a"]))
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
        assert fields(answer) == {"path": "invalid_path"}, (method, path)


async def test_without_a_key_401_and_without_webhooks_write_403(world):
    http = world["http"]
    everything = [("POST", "/v1/webhooks/endpoints", {"url": "https://hooks.example.com/"}),
                  ("GET", "/v1/webhooks/endpoints", None), *routes(MISSING)]
    for method, path, body in everything:
        assert_envelope(await http.request(method, path, json=body), 401, "UNAUTHENTICATED")
        assert_envelope(await http.request(method, path, json=body, headers=auth("sk_test_nope")), 401,
                        "UNAUTHENTICATED")
        assert_envelope(await http.request(method, path, json=body, headers=auth(world["analytics_only"])), 403,
                        "PERMISSION_DENIED")


# --------------------------------------------------------------------------- refusals


async def test_bad_input_gets_the_envelope_naming_the_field(world):
    http, key = world["http"], world["a"]
    endpoints = "/v1/webhooks/endpoints"
    for body, field, code in (
        ({}, "url", "invalid_url"),
        ({"url": "ftp://hooks.example.com/"}, "url", "invalid_url"),
        ({"url": "not a url"}, "url", "invalid_url"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/a b"}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/\u00e9"}, "url", "invalid_url"),
        ({"url": "HTTPS://hooks.example.com/"}, "url", "invalid_url"),
        ({"url": "http://[5]/"}, "url", "invalid_url"),
        ({"url": "http://[1.2.3.4]/"}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/" + "x" * 2048}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/", "event_types": ["voucher.exploded"]}, "event_types",
         "invalid_event_type"),
        ({"url": "https://hooks.example.com/", "description": "x" * 201}, "description", "too_long"),
    ):
        answer = await http.post(endpoints, json=body, headers=auth(key))
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
        assert fields(answer) == {field: code}, body
    assert all(e["url"] == "https://hooks.example.com/in" or e["url"].startswith(("http://127.", "https://hooks"))
               for e in (await listed(world)).json()["endpoints"])  # nothing refused was stored

    endpoint_id = (await create(world, "https://hooks.example.com/refusals"))["endpoint"]["id"]
    base = f"{endpoints}/{endpoint_id}"
    for method, path, body, params, field, code in (
        ("PATCH", base, {"url": "javascript:alert(1)"}, None, "url", "invalid_url"),
        # An unknown type is refused even where it would not replace the list.
        ("PATCH", base, {"event_types": ["voucher.exploded"]}, None, "event_types", "invalid_event_type"),
        ("POST", f"{base}/rotate-secret", {"previous_secret_hours": 169}, None, "previous_secret_hours",
         "out_of_range"),
        ("POST", f"{base}/rotate-secret", {"previous_secret_hours": -1}, None, "previous_secret_hours",
         "out_of_range"),
        ("GET", f"{base}/deliveries", None, {"limit": "1001"}, "limit", "out_of_range"),
        ("POST", f"{base}/replay", {}, None, "event_id", "required"),
        ("POST", f"{base}/replay", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, None, "end",
         "invalid_range"),
        ("POST", f"{base}/replay", {"start": "yesterday", "end": "2026-01-01T00:00:00Z"}, None, "start",
         "invalid_date"),
        ("POST", f"{base}/replay", {"start": "2026-01-01T00:00:00Z", "end": "2026-02-30T00:00:00Z"}, None, "end",
         "invalid_date"),
        ("POST", f"{base}/replay", {"start": {}, "end": "2026-01-01T00:00:00Z"}, None, "body", "invalid_json"),
    ):
        answer = await http.request(method, path, json=body, params=params, headers=auth(key))
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
        assert fields(answer) == {field: code}, (method, path, body)
    for event_id in ("evt_" + "1" * 32, "evt_\u0000", "e" * 65):
        unknown = await http.post(f"{base}/replay", json={"event_id": event_id}, headers=auth(key))
        assert_envelope(unknown, 400, "INVALID_ARGUMENT")
        assert fields(unknown) == {"event_id": "unknown_event"}
    await http.patch(base, json={"enabled": False}, headers=auth(key))
    for path, field in ((f"{base}/test", "endpoint_id"), (f"{base}/replay", "endpoint_id")):
        answer = await http.post(path, json={"event_id": "evt_" + "1" * 32}, headers=auth(key))
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
        assert fields(answer) == {field: "disabled"}


async def test_the_gateways_own_refusals_have_the_envelope(world):
    http, key = world["http"], world["a"]
    endpoint_id = (await create(world, "https://hooks.example.com/gateway"))["endpoint"]["id"]
    json_headers = {**auth(key), "Content-Type": "application/json"}
    # Not JSON, not an object, a value of the wrong type, a list that is not one, not sent
    # as JSON: the gateway's reading of the body (docs/gateway.md, "JSON bodies").
    for content, content_type, refused in (
        (b"{not json", "application/json", {"body": "invalid_json"}),
        (b"[1, 2]", "application/json", {"body": "invalid_json"}),
        (b'{"url": "https://hooks.example.com/",}', "application/json", {"body": "invalid_json"}),
        (b'{"url": 5}', "application/json", {"body": "invalid_json"}),
        (b'{"url": "https://hooks.example.com/", "event_types": "voucher.redeemed"}', "application/json",
         {"event_types": "invalid_type"}),
        (b'{"url": "https://hooks.example.com/"}', "text/plain", {"content-type": "unsupported_media_type"}),
        (b'{"url": "https://hooks.example.com/"}', None, {"content-type": "unsupported_media_type"}),
    ):
        headers = {**auth(key), **({"Content-Type": content_type} if content_type else {})}
        answer = await http.post("/v1/webhooks/endpoints", content=content, headers=headers)
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
        assert fields(answer) == refused, content
    answer = await http.patch(f"/v1/webhooks/endpoints/{endpoint_id}", content=b'{"enabled": "maybe"}',
                              headers=json_headers)
    assert fields(answer) == {"body": "invalid_json"}
    # A query value the transcoder cannot read as the field's type.
    answer = await http.get(f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", params={"limit": "many"},
                            headers=auth(key))
    assert_envelope(answer, 400, "INVALID_ARGUMENT")
    assert fields(answer) == {"request": "malformed_request"}
    # Wrong methods: 405 with Allow.
    for method, path, allow in (("PUT", "/v1/webhooks/endpoints", "GET, POST"),
                                ("PUT", f"/v1/webhooks/endpoints/{endpoint_id}", "GET, PATCH, DELETE"),
                                ("GET", f"/v1/webhooks/endpoints/{endpoint_id}/test", "POST"),
                                ("DELETE", f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", "GET")):
        answer = await http.request(method, path, headers=auth(key))
        error = assert_envelope(answer, 405, "METHOD_NOT_ALLOWED")
        assert answer.headers["allow"] == allow and method in error["message"]
    # Unknown paths under the prefix.
    for path in ("/v1/webhooks", "/v1/webhooks/endpoints/a/b/c", "/v1/webhooks/deliveries"):
        assert_envelope(await http.get(path, headers=auth(key)), 404, "NOT_FOUND")
    # gRPC on the public port, and a body over the gateway's limit.
    grpc_answer = await http.post("/v1/webhooks/endpoints", content=b"\x00\x00\x00\x00\x00",
                                  headers={**auth(key), "Content-Type": "application/grpc"})
    assert_envelope(grpc_answer, 415, "UNSUPPORTED_MEDIA_TYPE")
    huge = await http.post("/v1/webhooks/endpoints", content=b'{"url": "' + b"x" * (MAX_REQUEST_BODY_BYTES + 1) + b'"}',
                           headers=json_headers)
    assert_envelope(huge, 413, "PAYLOAD_TOO_LARGE")


@pytest.fixture
def refusing_private_urls(webhook_stack):
    """The webhooks service restarted with the production default (no private receivers),
    then restarted again as the module's stack had it."""
    _urls, stack = webhook_stack
    webhooks = family("webhooks")

    def restart(**env: str) -> None:
        stack.kill("webhooks-0")
        stack.extra_env.pop("WEBHOOK_ALLOW_PRIVATE_URLS", None)
        stack.extra_env.update(env)
        stack.start_service(webhooks, 0)

    restart(WEBHOOK_ALLOW_PRIVATE_URLS="0")
    try:
        yield
    finally:
        restart()


async def test_a_private_receiver_is_refused_unless_the_operator_allows_them(world, refusing_private_urls):
    http, key = world["http"], world["a"]

    async def answer(method, path, body):  # the restarted service may take a moment behind Envoy
        response = await until(lambda: http.request(method, path, json=body, headers=auth(key)),
                               lambda r: r.status_code != 503, "the restarted service", tries=100)
        return response

    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/", "http://192.168.0.1/",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://0.0.0.0/"):
        refused = await answer("POST", "/v1/webhooks/endpoints", {"url": url})
        error = assert_envelope(refused, 400, "INVALID_ARGUMENT")
        assert fields(refused) == {"url": "invalid_url"} and "private" in error["fields"][0]["message"], url
    public = await answer("POST", "/v1/webhooks/endpoints", {"url": "https://93.184.215.14/hook"})
    assert public.status_code == 200, public.text
    changed = await answer("PATCH", f"/v1/webhooks/endpoints/{public.json()['endpoint']['id']}",
                           {"url": "http://127.0.0.1:8080/"})
    assert fields(changed) == {"url": "invalid_url"}


# --------------------------------------------------------------------------- the SDK


async def test_the_python_sdk_manages_an_endpoint_and_raises_the_familys_error(world, receiver):
    from partnerlytics_client import Client, WebhooksApiError

    stack = world["stack"]

    def run():
        with Client(world["a"], base_url=stack.gateway_url) as api:
            created = api.create_webhook_endpoint(receiver.url("/sdk"), description="sdk",
                                                  event_types=["export.completed"])
            endpoint_id = created.endpoint.id
            listed_ids = [e.id for e in api.list_webhook_endpoints().endpoints]
            updated = api.update_webhook_endpoint(endpoint_id, event_types=[], description="all")
            got = api.get_webhook_endpoint(endpoint_id)
            rotated = api.rotate_webhook_endpoint_secret(endpoint_id, previous_secret_hours=1)
            sent = api.send_test_webhook_event(endpoint_id)
            for _ in range(600):
                log = api.list_webhook_deliveries(endpoint_id, limit=10).deliveries
                if log and log[0].status == "succeeded":
                    break
                time.sleep(0.05)
            earlier = api.list_webhook_deliveries(endpoint_id, before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            assert earlier.deliveries == []
            replayed = api.replay_webhook_events(endpoint_id, event_id=sent.event_id)
            api.delete_webhook_endpoint(endpoint_id)
            try:
                api.delete_webhook_endpoint(endpoint_id)
            except WebhooksApiError as error:
                refused = (error.status, error.code, error.request_id is not None)
            return created, listed_ids, updated, got, rotated, sent, log, replayed, refused

    created, listed_ids, updated, got, rotated, sent, log, replayed, refused = await asyncio.to_thread(run)
    assert created.secret.startswith("whsec_") and created.endpoint.event_types == ["export.completed"]
    assert created.endpoint.id in listed_ids
    assert (updated.endpoint.event_types, updated.endpoint.description) == ([], "all")
    assert got.endpoint == updated.endpoint
    assert rotated.secret != created.secret
    assert [(d.event_id, d.status) for d in log] == [(sent.event_id, "succeeded")]
    assert replayed.queued == 1
    assert refused == (404, "WEBHOOK_ENDPOINT_NOT_FOUND", True)
    assert json.loads(receiver.at("/sdk")[0].body)["id"] == sent.event_id
