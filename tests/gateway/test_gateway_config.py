"""Tests of the Envoy gateway renderer (gateway/envoy_config.py) and its Lua filter.

* Pure tests of the rendered bootstrap.
* `envoy --mode validate` on rendered configurations (must pass).
* A live Envoy with no gRPC service behind it (the upstream port is closed): local
  replies, the request-id handling of the Lua filter, and the 503 for an unreachable
  upstream. Nothing here needs a database or a service.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # the repository root holds the `gateway` package
    sys.path.insert(0, str(ROOT))

from gateway import edges, envoy_config
from gateway.envoy_config import render
from platform_core.family import HEADERS_TOO_LARGE_MESSAGE
from services.campaign.family import CAMPAIGN_LOCAL_REPLIES

DESCRIPTOR = ROOT / "gen" / "partnerlytics.pb"
LUA = ROOT / "gateway" / "partner.lua"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
INSTANCE_PATH = "/partner/v1/instances/analytics"


def _envoy_binary() -> str | None:
    candidate = pathlib.Path(sys.executable).parent / "envoy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("envoy")


ENVOY = _envoy_binary()
needs_envoy = pytest.mark.skipif(ENVOY is None, reason="envoy binary not installed")


def _render(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        listen_host="127.0.0.1",
        listen_port=18480,
        admin_host="127.0.0.1",
        admin_port=19481,
        descriptor_path=str(DESCRIPTOR),
        upstreams={f.cluster: [("127.0.0.1", 15551 + i)] for i, f in enumerate(envoy_config.FAMILIES)},
        lua_path=str(LUA),
    )
    kwargs.update(overrides)
    # These tests describe the instance family's rendering (and families a test adds);
    # every other family has its own tests (e.g. tests/gateway/test_voucher_gateway.py).
    families = envoy_config.FAMILIES
    envoy_config.FAMILIES = tuple(f for f in families if f.name == "instance" or f.cluster in kwargs["upstreams"])
    try:
        return render(**kwargs)
    finally:
        envoy_config.FAMILIES = families


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return _hcm(config)["route_config"]["virtual_hosts"][0]["routes"]


def _filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    for flt in _hcm(config)["http_filters"]:
        if flt["name"] == name:
            return flt["typed_config"]
    raise AssertionError(f"no filter {name}")


# --------------------------------------------------------------------------- pure tests


def test_lua_filter_is_first_and_router_last() -> None:
    names = [f["name"] for f in _hcm(_render())["http_filters"]]
    assert names == [
        "envoy.filters.http.lua",
        "envoy.filters.http.cors",  # the landing family's browser path
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_lua_source_is_embedded() -> None:
    lua = _filter(_render(), "envoy.filters.http.lua")
    source = LUA.read_text(encoding="utf-8")
    assert lua["default_source_code"]["inline_string"] == envoy_config._with_edge_limits(source)
    assert "{{max_request_headers_bytes}}" in source
    assert f"local MAX_HEADER_BYTES = {edges.MAX_REQUEST_HEADERS_BYTES}\n" in lua["default_source_code"][
        "inline_string"]


def test_transcoder_options() -> None:
    transcoder = _filter(_render(), "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["proto_descriptor"] == str(DESCRIPTOR)
    assert transcoder["services"] == [s for f in envoy_config.FAMILIES for s in f.grpc_services]
    assert transcoder["services"][:4] == [
        "partnerlytics.instance.v1.InstanceAnalyticsService",
        "partnerlytics.instance.v1.SessionService",
        "partnerlytics.campaign.v1.CampaignAnalyticsService",
        "partnerlytics.landing.v1.LandingAnalyticsService",
    ]
    assert transcoder["match_incoming_request_route"] is True
    assert transcoder["ignore_unknown_query_parameters"] is True
    assert transcoder["print_options"]["preserve_proto_field_names"] is True
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["print_options"]["always_print_enums_as_ints"] is False


def test_listener_and_admin_addresses() -> None:
    config = _render(listen_host="0.0.0.0", listen_port=8081, admin_host="127.0.0.2", admin_port=9902)
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener == {"address": "0.0.0.0", "port_value": 8081}
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.2", "port_value": 9902}


def test_request_id_settings() -> None:
    hcm = _hcm(_render())
    assert hcm["generate_request_id"] is True
    assert hcm["always_set_request_id_in_response"] is True
    mutations = hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    # The caller's id is copied aside, then removed so that Envoy generates a fresh one.
    assert mutations[0] == {"remove": envoy_config.CLIENT_REQUEST_ID_HEADER}
    assert mutations[1]["append"]["header"]["key"] == envoy_config.CLIENT_REQUEST_ID_HEADER
    assert mutations[-1] == {"remove": "x-request-id"}


def test_cluster_is_http2_round_robin_with_connect_timeout() -> None:
    config = _render(upstreams={**{f.cluster: [("127.0.0.1", 50060)] for f in envoy_config.FAMILIES},
                                "instance": [("127.0.0.1", 50051), ("127.0.0.1", 50052)]})
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {f.cluster for f in envoy_config.FAMILIES}
    cluster = clusters["instance"]
    assert cluster["type"] == "STATIC"
    assert cluster["lb_policy"] == "ROUND_ROBIN"
    assert cluster["connect_timeout"] == "1s"
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in options["explicit_http_config"]
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints]
    assert ports == [50051, 50052]


def test_hostname_endpoints_use_dns() -> None:
    config = _render(upstreams={"instance": [("instance-svc", 50051)], "campaign": [("127.0.0.1", 50052)],
                                "landing": [("127.0.0.1", 50055)]})
    clusters = {c["name"]: c["type"] for c in config["static_resources"]["clusters"]}
    assert clusters == {"instance": "STRICT_DNS", "campaign": "STATIC", "landing": "STATIC"}


def test_missing_upstream_is_an_error() -> None:
    with pytest.raises(ValueError, match="instance"):
        _render(upstreams={})


def test_route_timeout() -> None:
    routes = _routes(_render(route_timeout_s=2.5))
    upstream = [r for r in routes if "route" in r]
    assert upstream and all(r["route"]["timeout"] == "2.5s" for r in upstream)
    assert {r["route"]["cluster"] for r in upstream} == {f.cluster for f in envoy_config.FAMILIES}


def test_routes_per_family() -> None:
    routes = _routes(_render())
    by_name = {r["name"]: r for r in routes}
    served = by_name[f"instance:{INSTANCE_PATH}"]
    regex = served["match"]["headers"][0]["string_match"]["safe_regex"]["regex"]
    assert re.match(regex, "GET") and re.match(regex, "POST") and not re.match(regex, "DELETE")
    not_allowed = by_name[f"instance:{INSTANCE_PATH}:405"]
    assert not_allowed["direct_response"]["status"] == 405
    assert not_allowed["response_headers_to_add"][0]["header"] == {"key": "allow", "value": "GET, POST"}
    assert by_name["instance:404"]["match"] == {"prefix": "/partner/v1/"}
    # Order matters: 415 before the served route, the family 404 after its paths, and
    # the catch-all last.
    names = [r["name"] for r in routes]
    assert names.index(f"instance:{INSTANCE_PATH}:415") < names.index(f"instance:{INSTANCE_PATH}")
    assert names.index(f"instance:{INSTANCE_PATH}:405") < names.index("instance:404")
    assert names[-1] == "not-found"


def test_every_route_tells_lua_its_fallback_reply() -> None:
    partner = {f.name for f in envoy_config.FAMILIES if f.envelope == "partner"}
    for route in _routes(_render()):
        entry = route["metadata"]["filter_metadata"]["envoy.filters.http.lua"]
        body = json.loads(entry["fallback_body"])
        assert entry["fallback_status"].isdigit()
        if route["name"].split(":")[0] in partner:
            assert body["success"] is False
            assert body["meta"] == {"timestamp": "{{timestamp}}", "requestId": "{{request_id}}"}
        elif route["name"].startswith("landing:"):  # the landing family's own shape
            assert body["success"] is False and body["request_id"] == "{{request_id}}"
    served = next(r for r in _routes(_render()) if "route" in r)
    entry = served["metadata"]["filter_metadata"]["envoy.filters.http.lua"]
    assert entry["fallback_status"] == "500"
    assert json.loads(entry["fallback_body"])["error"] == "Internal Server Error"


def _mapper_bodies(config: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for mapper in _hcm(config)["local_reply_config"]["mappers"]:
        if "headers_to_add" in mapper:
            continue  # a reply made before a request id exists (generated id; tested live)
        if "metadata_filter" in json.dumps(mapper["filter"]):
            continue  # a body the Lua filter refused (tested live)
        fmt = mapper["body_format_override"]
        if fmt["text_format_source"]["inline_string"] == "%LOCAL_REPLY_BODY%":
            continue  # a file's own body (the landing tracker, /openapi.json), not an envelope
        assert fmt["content_type"] == "application/json"
        out.append((mapper, json.loads(fmt["text_format_source"]["inline_string"])))
    return out


def test_local_reply_envelopes() -> None:
    all_bodies = [body for _, body in _mapper_bodies(_render())]
    # Instance, campaign and landing come first (the other families test their own
    # replies in their modules); the catch-all 404 is last.
    assert [f.name for f in envoy_config.FAMILIES][:3] == ["instance", "campaign", "landing"]
    first = sum(len(f.replies()) for f in envoy_config.FAMILIES[:3])
    bodies = all_bodies[:first] + all_bodies[-1:]
    meta = {"timestamp": "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%", "requestId": "%REQ(X-REQUEST-ID)%"}
    expected = [
        {"success": False, "error": "Not Found", "message": "The requested resource was not found", "meta": meta},
        {
            "success": False,
            "error": "Method Not Allowed",
            "message": "Method %REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)% is not allowed on this path",
            "meta": meta,
        },
        {
            "success": False,
            "error": "Bad Request",
            "message": "Validation failed for 1 fields",
            "fields": [
                {"field": "body", "message": "Request body must be a valid JSON object", "code": "invalid_json"}
            ],
            "meta": meta,
        },
    ]
    assert bodies[:3] == expected
    errors = [b.get("error") for b in bodies]
    assert errors == [
        "Not Found",
        "Method Not Allowed",
        "Bad Request",
        "Bad Request",
        "Payload Too Large",
        "Unsupported Media Type",
        "Service Unavailable",
        "Gateway Timeout",
        "Request Header Fields Too Large",
        "Internal Server Error",
        # the campaign family's own
        "Not Found",
        "Method Not Allowed",
        "Bad Request",
        "Bad Request",
        "Payload Too Large",
        "Unsupported Media Type",
        "Bad Gateway",
        "Bad Gateway",
        "Gateway Timeout",
        "Request Header Fields Too Large",
        "Internal Server Error",
        # the landing family's (its `error` is the message)
        "The requested resource was not found",
        "Method %REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)% is not allowed on this path",
        "Validation failed for 1 fields",
        "Validation failed for 1 fields",
        "The request body is too large",
        "This API accepts JSON; gRPC clients must call the service directly",
        "The service is temporarily unavailable. Please try again later",
        "The service did not respond in time. Please try again later",
        HEADERS_TOO_LARGE_MESSAGE,
        "An unexpected error occurred. Please try again later",
        "Not Found",  # outside every family
    ]
    # Key order as in the documents (the text format keeps it; json_format would not).
    assert list(bodies[2]) == ["success", "error", "message", "fields", "meta"]


def test_invalid_json_envelope_only_for_transcoder_failures() -> None:
    mapper, body = _mapper_bodies(_render())[2]
    assert body["fields"][0]["code"] == "invalid_json"
    assert "response.code_details.startsWith('grpc_json_transcode_failure')" in json.dumps(mapper["filter"])
    other_400 = _mapper_bodies(_render())[3][1]
    assert other_400["message"] == "Validation failed for 1 fields"
    assert other_400["fields"][0]["code"] == "malformed_request"


def test_family_catch_all_mapper_turns_anything_into_500() -> None:
    family_mappers = _mapper_bodies(_render())[: len(envoy_config.FAMILY_LOCAL_REPLIES)]
    catch_all, body = family_mappers[-1]
    assert catch_all["status_code"] == 500
    assert "status_code_filter" not in json.dumps(catch_all["filter"])
    assert body["message"] == "An unexpected error occurred. Please try again later"


def test_families_are_data_driven(tmp_path: pathlib.Path) -> None:
    extra = envoy_config.Family(
        name="probe",
        prefix="/probe/v1/",
        cluster="probe",
        # A service that is in today's descriptor, so that Envoy can validate the result.
        grpc_services=("partnerlytics.instance.v1.InstanceIngestionService",),
        routes=(("/probe/v1/things/{thing_id}/figures", ("GET",)),),
        envelope="partner",
    )
    original = envoy_config.FAMILIES
    try:
        envoy_config.FAMILIES = (*original, extra)
        config = _render(upstreams={**{f.cluster: [("127.0.0.1", 2)] for f in original}, "probe": [("127.0.0.1", 3)]})
    finally:
        envoy_config.FAMILIES = original
    if ENVOY is not None:  # the templated route must be valid Envoy config, too
        path = tmp_path / "envoy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        result = _validate(path)
        assert result.returncode == 0, result.stdout + result.stderr
    routes = {r["name"]: r for r in _routes(config)}
    assert "probe:404" in routes and "instance:404" in routes
    templated = routes["probe:/probe/v1/things/{thing_id}/figures"]["match"]
    policy = templated["path_match_policy"]["typed_config"]
    assert policy["path_template"] == "/probe/v1/things/{thing_id}/figures"
    assert {c["name"] for c in config["static_resources"]["clusters"]} == {f.cluster for f in original} | {"probe"}
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["services"] == [
        *(s for f in original for s in f.grpc_services), "partnerlytics.instance.v1.InstanceIngestionService",
    ]


def test_campaign_family_words_its_gateway_errors_as_its_document() -> None:
    bodies = _mapper_bodies(_render())
    campaign = [(m, b) for m, b in bodies if "/api/partner/v1/" in json.dumps(m["filter"])]
    assert len(campaign) == len(CAMPAIGN_LOCAL_REPLIES)
    unreachable = next((m, b) for m, b in campaign if '"default_value": 503' in json.dumps(m["filter"]))
    assert unreachable[0]["status_code"] == 502
    assert unreachable[1]["error"] == "Bad Gateway" and unreachable[1]["message"] == "Upstream service unavailable."
    assert list(unreachable[1]) == ["success", "error", "message", "details", "meta"]
    timeout = next(b for m, b in campaign if '"default_value": 504' in json.dumps(m["filter"]))
    assert (timeout["error"], timeout["message"]) == ("Gateway Timeout", "Request timeout. Please try again.")


def test_parse_addrs() -> None:
    assert envoy_config.parse_addrs("127.0.0.1:50051") == [("127.0.0.1", 50051)]
    assert envoy_config.parse_addrs(" a:1 , b:2 ,") == [("a", 1), ("b", 2)]
    assert envoy_config.parse_addrs("[::1]:50051") == [("::1", 50051)]
    for bad in ("", "host", "host:", ":50051", "host:0", "host:abc", "host:70000"):
        with pytest.raises(ValueError):
            envoy_config.parse_addrs(bad)


def test_upstreams_from_env() -> None:
    assert envoy_config.upstreams_from_env({}) == {
        f.cluster: envoy_config.parse_addrs(envoy_config.DEFAULT_UPSTREAM_ADDRS[f.cluster])
        for f in envoy_config.FAMILIES
    }
    assert envoy_config.upstreams_from_env({})["campaign"] == [("127.0.0.1", 50052)]
    env = {"INSTANCE_GRPC_ADDRS": "10.0.0.1:7000,10.0.0.2:7000"}
    assert envoy_config.upstreams_from_env(env)["instance"] == [("10.0.0.1", 7000), ("10.0.0.2", 7000)]


def test_cli_writes_yaml(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HOST", "127.0.0.1")
    monkeypatch.setenv("GATEWAY_PORT", "18999")
    monkeypatch.setenv("GATEWAY_ADMIN_PORT", "19999")
    monkeypatch.setenv("INSTANCE_GRPC_ADDRS", "127.0.0.1:15001,127.0.0.1:15002")
    out = tmp_path / "envoy.yaml"
    assert envoy_config.main(["--out", str(out)]) == 0
    config = yaml.safe_load(out.read_text())
    assert config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"] == 18999
    assert config["admin"]["address"]["socket_address"]["port_value"] == 19999
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    endpoints = clusters["instance"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert len(endpoints) == 2
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert pathlib.Path(transcoder["proto_descriptor"]).resolve() == DESCRIPTOR.resolve()


# --------------------------------------------------------------------------- envoy --mode validate


def _validate(path: pathlib.Path) -> subprocess.CompletedProcess[str]:
    assert ENVOY is not None
    return subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_envoy
@pytest.mark.parametrize(
    "upstreams",
    [
        {"instance": [("127.0.0.1", 50051)], "campaign": [("127.0.0.1", 50052)], "landing": [("127.0.0.1", 50055)]},
        {"instance": [("127.0.0.1", 50051), ("127.0.0.1", 50053)], "campaign": [("127.0.0.1", 50052)],
         "landing": [("127.0.0.1", 50055)]},
        {"instance": [("instance-svc", 50051)], "campaign": [("campaign-svc", 50052)],
         "landing": [("landing-svc", 50055)]},
    ],
)
def test_envoy_validates_rendered_config(tmp_path: pathlib.Path, upstreams: dict[str, Any]) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(_render(upstreams=upstreams), sort_keys=False))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


@needs_envoy
def test_envoy_validates_cli_output(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INSTANCE_GRPC_ADDRS", raising=False)
    path = tmp_path / "envoy.yaml"
    assert envoy_config.main(["--out", str(path)]) == 0
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- live envoy, no upstream


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from live_gateway(tmp_path_factory)


def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live Envoy on the rendered config whose upstreams are a closed port; its URL."""
    if ENVOY is None:
        pytest.skip("envoy binary not installed")
    listen, admin, closed = _free_port(), _free_port(), _free_port()
    config = _render(
        listen_port=listen, admin_port=admin, route_timeout_s=5,
        upstreams={f.cluster: [("127.0.0.1", closed)] for f in envoy_config.FAMILIES},
    )
    directory = tmp_path_factory.mktemp("gateway")
    path = directory / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = open(directory / "envoy.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [ENVOY, "-c", str(path), "--concurrency", "1", "--log-level", "warn", "--base-id", str(listen)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"envoy exited: {(directory / 'envoy.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("envoy did not become ready")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{listen}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _assert_envelope(response: httpx.Response, status: int, error: str, message: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body)[:3] == ["success", "error", "message"]
    assert body["success"] is False
    assert body["error"] == error
    assert body["message"] == message
    assert TIMESTAMP_RE.match(body["meta"]["timestamp"]), body
    request_id = response.headers["x-request-id"]
    assert body["meta"]["requestId"] == request_id
    assert UUID_RE.match(request_id)
    for name in response.headers:
        assert not name.startswith(("grpc-", "x-envelope", "x-gateway-")), name
    return body


@needs_envoy
def test_live_unknown_path_under_family(gateway: str) -> None:
    response = httpx.get(f"{gateway}/partner/v1/nope?x=1")
    _assert_envelope(response, 404, "Not Found", "The requested resource was not found")


@needs_envoy
@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_live_method_not_allowed(gateway: str, method: str) -> None:
    response = httpx.request(method, f"{gateway}{INSTANCE_PATH}")
    _assert_envelope(response, 405, "Method Not Allowed", f"Method {method} is not allowed on this path")
    assert response.headers["allow"] == "GET, POST"


@needs_envoy
@pytest.mark.parametrize("payload", [b"{bad json", b"[1,2]", b'"text"', b"42"])
def test_live_bad_json_body(gateway: str, payload: bytes) -> None:
    response = httpx.post(f"{gateway}{INSTANCE_PATH}", content=payload, headers={"content-type": "application/json"})
    body = _assert_envelope(response, 400, "Bad Request", "Validation failed for 1 fields")
    assert body["fields"] == [
        {"field": "body", "message": "Request body must be a valid JSON object", "code": "invalid_json"}
    ]


@needs_envoy
def test_live_payload_too_large(gateway: str) -> None:
    payload = json.dumps({"instance_ids": ["x" * 100] * 4000}).encode()
    assert len(payload) > envoy_config.MAX_REQUEST_BODY_BYTES
    response = httpx.post(f"{gateway}{INSTANCE_PATH}", content=payload, headers={"content-type": "application/json"})
    _assert_envelope(response, 413, "Payload Too Large", "The request body is too large")


@needs_envoy
def test_live_grpc_content_type_is_refused(gateway: str) -> None:
    grpc = {"content-type": "application/grpc"}
    response = httpx.post(f"{gateway}{INSTANCE_PATH}", content=b"\0\0\0\0\0", headers=grpc)
    _assert_envelope(
        response, 415, "Unsupported Media Type", "This API accepts JSON; gRPC clients must call the service directly"
    )


@needs_envoy
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_live_unreachable_upstream_is_a_quick_503(gateway: str, method: str) -> None:
    started = time.monotonic()
    payload = {"instance_ids": []} if method == "POST" else None
    response = httpx.request(method, f"{gateway}{INSTANCE_PATH}", json=payload)
    assert time.monotonic() - started < 3
    _assert_envelope(
        response, 503, "Service Unavailable", "The service is temporarily unavailable. Please try again later"
    )


@needs_envoy
def test_live_outside_families_plain_json_404(gateway: str) -> None:
    response = httpx.get(f"{gateway}/elsewhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "Not Found",
        "message": "The requested resource was not found",
        "requestId": response.headers["x-request-id"],
    }


@needs_envoy
@pytest.mark.parametrize(
    "incoming",
    [
        "6f1c2a1e-3b4d-4c5e-8f90-0123456789ab",
        "6F1C2A1E-3B4D-4C5E-8F90-0123456789AB",
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_live_valid_request_id_is_kept(gateway: str, incoming: str) -> None:
    response = httpx.get(f"{gateway}/partner/v1/nope", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json()["meta"]["requestId"] == incoming


@needs_envoy
@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "",
        "not-a-uuid",
        "{6f1c2a1e-3b4d-4c5e-8f90-0123456789ab}",
        "6f1c2a1e3b4d4c5e8f900123456789ab",
        "6f1c2a1e-3b4d-4c5e-8f90-0123456789ab-extra",
    ],
)
def test_live_invalid_request_id_is_replaced_by_a_fresh_uuid4(gateway: str, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = httpx.get(f"{gateway}/partner/v1/nope", headers=headers)
    request_id = response.headers["x-request-id"]
    assert request_id != incoming
    assert uuid.UUID(request_id).version == 4
    assert response.json()["meta"]["requestId"] == request_id


@needs_envoy
def test_live_side_header_cannot_smuggle_a_request_id(gateway: str) -> None:
    smuggled = "6f1c2a1e-3b4d-4c5e-8f90-0123456789ab"
    response = httpx.get(
        f"{gateway}/partner/v1/nope", headers={envoy_config.CLIENT_REQUEST_ID_HEADER: smuggled}
    )
    assert response.headers["x-request-id"] != smuggled


@needs_envoy
def test_live_admin_is_not_on_the_public_port(gateway: str) -> None:
    for path in ("/stats", "/config_dump", "/ready"):
        assert httpx.get(f"{gateway}{path}").status_code == 404


CAMPAIGN_PATH = "/api/partner/v1/campaigns/0b9e2f5c-61a4-4d0e-9a53-3a8c1f6e7d20/analytics"


def test_live_campaign_service_unreachable_is_the_documented_502(gateway: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{gateway}{CAMPAIGN_PATH}?time_frame=per_day", headers={"authorization": "Bearer x"})
    assert time.monotonic() - started < 5  # refused at once, not after the route timeout
    body = _assert_envelope(response, 502, "Bad Gateway", "Upstream service unavailable.")
    assert body["details"] == "The campaign analytics service could not be reached."
    assert list(body) == ["success", "error", "message", "details", "meta"]


def test_live_campaign_family_404_and_405(gateway: str) -> None:
    missing = httpx.get(f"{gateway}/api/partner/v1/campaigns")
    _assert_envelope(missing, 404, "Not Found", "The requested resource was not found")
    wrong_method = httpx.post(f"{gateway}{CAMPAIGN_PATH}", json={})
    _assert_envelope(wrong_method, 405, "Method Not Allowed", "Method POST is not allowed on this path")
    assert wrong_method.headers["allow"] == "GET"


@needs_envoy
def test_live_landing_service_unreachable_is_503_in_its_shape(gateway: str) -> None:
    response = httpx.post(f"{gateway}/api/analytics/track", json={"tenant_id": 1, "event_type": "pageview"})
    assert response.status_code == 503, response.text
    body = response.json()
    assert body == {
        "success": False, "error": "The service is temporarily unavailable. Please try again later",
        "code": "SERVICE_UNAVAILABLE", "retry_after": 5, "request_id": response.headers["x-request-id"],
    }


@needs_envoy
def test_live_landing_preflight_needs_no_service(gateway: str) -> None:
    response = httpx.options(
        f"{gateway}/api/analytics/track",
        headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example"


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "x1", path)


@needs_envoy
def test_live_control_character_in_the_path_is_the_familys_400_with_a_request_id(gateway: str) -> None:
    """Refused by path normalization before Envoy generates a request id: the reply gets
    one of its own, in the header and the body, and names the path."""
    for family in envoy_config.FAMILIES:
        path = _concrete(family.routes[0][0])
        cut = len(family.prefix) + 2
        response = httpx.get(gateway + path[:cut] + "%00" + path[cut:])
        reply = family.reply_for(400)
        assert response.status_code == reply.reply_status, (path, response.text)
        request_id = response.headers["x-request-id"]
        assert UUID_RE.match(request_id)
        if family.envelope in ("partner", "landing"):  # the envelopes that carry the id
            assert request_id in response.text
        assert "character that is not allowed" in response.text
        assert "more than once" not in response.text


def test_the_lua_filter_holds_no_error_body_of_its_own() -> None:
    """Its generic fallback is rendered from gateway/replies.py, like every family's."""
    from gateway import edges, replies
    from gateway.common import DEFAULT_LUA, _compact_json

    source = DEFAULT_LUA.read_text(encoding="utf-8")
    assert '"error"' not in source and '\\"error\\"' not in source
    rendered = edges._with_edge_limits(source)
    assert "{{generic_fallback_body}}" not in rendered
    assert f"[==[{_compact_json(replies._plain_internal_error(replies.LUA_SLOTS))}]==]" in rendered
