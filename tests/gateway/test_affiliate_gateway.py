"""The affiliate family in the rendered gateway, and a live Envoy with no affiliate
service behind it: every reply Envoy makes itself uses the family's envelope."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from gateway import envoy_config
from platform_core.errors import Internal, RateLimited, Unavailable
from services.affiliate.errors import affiliate_envelope
from stack.run import DESCRIPTOR, ROOT, Stack, free_port

ENVOY = str(pathlib.Path(sys.executable).parent / "envoy")
PATH = "/v1/affiliate/analytics"
EVENTS = "/v1/affiliate/events:batch"


def _render(**upstreams: int) -> dict[str, Any]:
    """The gateway with the given upstream ports (closed ports for every other family)."""
    ports = {f.cluster: free_port() for f in envoy_config.FAMILIES} | upstreams
    return envoy_config.render(
        listen_host="127.0.0.1", listen_port=free_port(), admin_host="127.0.0.1", admin_port=free_port(),
        descriptor_path=str(DESCRIPTOR), upstreams={name: [("127.0.0.1", port)] for name, port in ports.items()},
        lua_path=str(ROOT / "gateway" / "partner.lua"), route_timeout_s=5,
    )


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["route_config"]["virtual_hosts"][0]["routes"]


def test_every_affiliate_route_falls_back_to_the_family_envelope():
    routes = [r for r in _routes(_render(instance=1, affiliate=2)) if r["name"].startswith("affiliate:")]
    served = [r for r in routes if "route" in r]
    assert {r["route"]["cluster"] for r in served} == {"affiliate"}
    assert len(served) == 6  # the GET and five ingestion routes
    for route in served:
        entry = route["metadata"]["filter_metadata"]["envoy.filters.http.lua"]
        assert (entry["fallback_status"], json.loads(entry["fallback_body"])) == (
            "500", {"success": False, "error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}})


def test_service_envelopes_for_statuses_the_service_maps():
    moment = dt.datetime.now(dt.timezone.utc)
    assert json.loads(affiliate_envelope(Internal(message="boom"), "r", moment)) == {
        "success": False, "error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}}
    assert json.loads(affiliate_envelope(Unavailable(message="down"), "r", moment))["error"]["code"] == \
        "SERVICE_UNAVAILABLE"
    assert json.loads(affiliate_envelope(RateLimited(message="x"), "r", moment))["error"] == {
        "code": "RATE_LIMIT_EXCEEDED", "message": "Too Many Requests"}


def test_the_full_config_is_valid_envoy_config(tmp_path: pathlib.Path):
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(_render(instance=1, affiliate=2), sort_keys=False))
    result = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "warn"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def bare_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Envoy whose upstreams are closed ports: what callers see when the service is down."""
    config = _render(instance=free_port(), affiliate=free_port())
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    admin = config["admin"]["address"]["socket_address"]["port_value"]
    stack = Stack(data_dir=tmp_path_factory.mktemp("affiliate-gateway"))
    try:
        stack.start_envoy("envoy", config, admin)
        yield f"http://127.0.0.1:{listener}"
    finally:
        stack.stop()


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["success", "error"] and body["success"] is False
    for name in response.headers:
        assert not name.startswith(("grpc-", "x-envelope", "x-gateway-")), name
    return body["error"]


def test_service_down_is_503(bare_gateway):
    assert _error(httpx.get(f"{bare_gateway}{PATH}?section=stats"), 503) == {
        "code": "SERVICE_UNAVAILABLE", "message": "Service temporarily unavailable. Please try again later"}


def test_unknown_path_is_404(bare_gateway):
    assert _error(httpx.get(f"{bare_gateway}/v1/affiliate/analytics/extra"), 404) == {
        "code": "NOT_FOUND", "message": "Not Found"}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_wrong_method_is_405_with_allow(bare_gateway, method):
    response = httpx.request(method, f"{bare_gateway}{PATH}")
    assert _error(response, 405) == {"code": "METHOD_NOT_ALLOWED",
                                     "message": f"Method {method} is not allowed on this path"}
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(("payload", "details"), [
    (b"{bad json", {"body": ["The request body must be a valid JSON object with the documented fields."]}),
    (b"[1,2]", {"body": ["The request body must be a valid JSON object with the documented fields."]}),
    # A number for the repeated `events`: refused by the gateway's strict reading, by name.
    (b'{"events": 3}', {"events": ["events must be an array"]}),
])
def test_a_body_that_cannot_be_transcoded_is_422(bare_gateway, payload, details):
    response = httpx.post(f"{bare_gateway}{EVENTS}", content=payload, headers={"content-type": "application/json"})
    assert _error(response, 422) == {"code": "VALIDATION_ERROR", "message": "Validation failed", "details": details}


def test_a_body_too_large_is_413(gateway):
    # Against the live stack: with no upstream listening, Envoy may answer the refused
    # connection (503) before the body reaches the limit, depending on timing.
    payload = json.dumps({"events": [{"page_url": "x" * 1000}] * 300}).encode()
    assert len(payload) > envoy_config.MAX_REQUEST_BODY_BYTES
    response = httpx.post(f"{gateway.gateway_url}{EVENTS}", content=payload,
                          headers={"content-type": "application/json"}, timeout=30)
    assert _error(response, 413)["code"] == "PAYLOAD_TOO_LARGE"


def test_grpc_content_type_is_415(bare_gateway):
    response = httpx.post(f"{bare_gateway}{EVENTS}", content=b"\x00\x00\x00\x00\x00",
                          headers={"content-type": "application/grpc"})
    assert _error(response, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"
