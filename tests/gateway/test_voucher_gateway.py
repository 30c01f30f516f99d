"""The voucher family's gateway config: routes, local replies in the document's error
shape, and a live Envoy with the voucher service down."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest

from gateway import envoy_config
from stack.run import Stack
from tests.gateway.test_gateway_config import _free_port, _mapper_bodies, _render, _routes, _validate

UPSTREAMS = {"instance": [("127.0.0.1", 15551)], "voucher": [("127.0.0.1", 15554)]}
PATHS = [path for path, _ in next(f for f in envoy_config.FAMILIES if f.name == "voucher").routes]


def _voucher_mappers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [body for mapper, body in _mapper_bodies(config)
            if "/v1/analytics/" in json.dumps(mapper["filter"])]


def test_every_documented_path_has_its_415_served_and_405_routes():
    routes = {r["name"]: r for r in _routes(_render(upstreams=UPSTREAMS))}
    for path in PATHS:
        assert f"voucher:{path}:415" in routes and f"voucher:{path}:405" in routes
        assert routes[f"voucher:{path}"]["route"]["cluster"] == "voucher"
    assert routes["voucher:404"]["match"] == {"prefix": "/v1/analytics/"}
    allow = routes["voucher:/v1/analytics/export:405"]["response_headers_to_add"][0]["header"]["value"]
    assert allow == "POST"


def test_local_replies_use_the_voucher_error_shape():
    bodies = _voucher_mappers(_render(upstreams=UPSTREAMS))
    assert [b["error"]["code"] for b in bodies] == [
        "NOT_FOUND", "METHOD_NOT_ALLOWED", "INVALID_REQUEST_BODY", "INVALID_PARAMETER", "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE", "SERVICE_UNAVAILABLE", "GATEWAY_TIMEOUT", "REQUEST_HEADERS_TOO_LARGE", "INTERNAL_ERROR",
    ]
    assert all(set(b) == {"error"} and set(b["error"]) == {"code", "message", "details"} for b in bodies)


def test_the_transcoder_serves_the_voucher_analytics_service():
    config = _render(upstreams=UPSTREAMS)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    transcoder = next(f for f in hcm["http_filters"] if f["name"] == envoy_config.TRANSCODER_FILTER_NAME)
    assert "partnerlytics.voucher.v1.VoucherAnalyticsService" in transcoder["typed_config"]["services"]


@pytest.fixture(scope="module")
def voucher_down(tmp_path_factory) -> Iterator[str]:
    """Envoy with both families, and nothing listening on the voucher service's port."""
    listen, admin, closed = _free_port(), _free_port(), _free_port()
    config = _render(listen_port=listen, admin_port=admin, route_timeout_s=5,
                     upstreams={"instance": [("127.0.0.1", closed)], "voucher": [("127.0.0.1", closed)]})
    stack = Stack(data_dir=tmp_path_factory.mktemp("voucher-gateway"))
    try:
        stack.start_envoy("envoy", config, admin)
        assert _validate(stack.data_dir / "envoy.yaml").returncode == 0
        yield f"http://127.0.0.1:{listen}"
    finally:
        stack.stop()


def test_a_service_that_is_down_is_a_503_in_the_voucher_shape(voucher_down):
    for method, path in (("GET", "/v1/analytics/vouchers/v_0123456789abcdef/trends"),
                         ("POST", "/v1/analytics/export"),
                         ("GET", "/v1/analytics/export/export_0123456789abcdef/download")):
        response = httpx.request(method, voucher_down + path, json={} if method == "POST" else None, timeout=10)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "The service is temporarily unavailable. Please try again later", "details": {}}}


def test_wrong_method_and_unknown_path_in_the_voucher_shape(voucher_down):
    wrong = httpx.put(voucher_down + "/v1/analytics/export/export_0123456789abcdef", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json()["error"] == {"code": "METHOD_NOT_ALLOWED",
                                     "message": "Method PUT is not allowed on this path", "details": {}}
    missing = httpx.get(voucher_down + "/v1/analytics/vouchers/v_0123456789abcdef", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
