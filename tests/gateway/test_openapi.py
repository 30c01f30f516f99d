"""docs/openapi.json: generated from the protos, complete, and served by the gateway."""

from __future__ import annotations

import json
import pathlib
import re

import httpx

from gateway import envoy_config
from tools import genopenapi

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SPEC_FILE = ROOT / "docs" / "openapi.json"


def _spec() -> dict:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def _operations(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def test_committed_document_is_what_the_protos_generate():
    regenerated = genopenapi.render(genopenapi.DESCRIPTOR.read_bytes())
    assert SPEC_FILE.read_text(encoding="utf-8") == regenerated, "docs/openapi.json is stale: run `make proto`"


def _gateway_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the rendered Envoy config that serves something."""
    config = envoy_config.render(
        listen_host="127.0.0.1", listen_port=8080, admin_host="127.0.0.1", admin_port=9901,
        descriptor_path=str(envoy_config.DEFAULT_DESCRIPTOR),
        upstreams={f.cluster: [("127.0.0.1", 1)] for f in envoy_config.FAMILIES},
        lua_path=str(envoy_config.DEFAULT_LUA),
    )
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    served = set()
    for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        match = route["match"]
        path = match.get("path") or match.get("path_match_policy", {}).get("typed_config", {}).get("path_template")
        forwards = "route" in route and not route["name"].endswith(":preflight")
        serves_file = route.get("direct_response", {}).get("status") == 200
        # The dashboard's page and files are not API operations (docs/dashboard.md).
        if path is None or not (forwards or serves_file) or route["name"].startswith("dashboard:"):
            continue
        methods = next(h["string_match"]["safe_regex"]["regex"] for h in match["headers"] if h["name"] == ":method")
        for method in re.fullmatch(r"\^\((.*)\)\$", methods).group(1).split("|"):
            if method != "HEAD":
                served.add((method, path))
    return served


def test_every_gateway_route_is_an_operation_of_the_document():
    routes = _gateway_routes()
    assert len(routes) == 35  # 26, and the 9 webhook endpoint operations
    assert routes == _operations(_spec())


def test_every_http_annotation_of_a_transcoded_service_is_documented():
    protos = genopenapi.Protos(genopenapi.DESCRIPTOR.read_bytes())
    transcoded = {f".{s}" for f in envoy_config.FAMILIES for s in f.grpc_services}
    annotated = set()
    for name, service in protos.services():
        for method in service.method:
            rule = method.options.Extensions[genopenapi.annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb:
                assert name in transcoded, f"{name}/{method.name} has an HTTP route the gateway does not serve"
                annotated.add((verb.upper(), getattr(rule, verb)))
    assert annotated and annotated <= _operations(_spec())


def test_each_family_documents_its_own_error_envelope_and_public_paths_need_no_key():
    spec = _spec()
    track = spec["paths"]["/api/analytics/track"]["post"]
    assert track["security"] == []
    assert track["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("LandingError")
    campaign = spec["paths"]["/api/partner/v1/campaigns/{campaign_id}/analytics"]["get"]
    assert "security" not in campaign and spec["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "404", "422", "429", "502", "503", "504"} <= set(campaign["responses"])
    ingest = spec["paths"]["/v1/affiliate/events:batch"]["post"]
    assert ingest["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "affiliate.v1.ErrorEnvelope")
    download = spec["paths"]["/v1/analytics/export/{export_id}/download"]["get"]
    assert {"409", "410"} <= set(download["responses"])
    assert "text/csv" in download["responses"]["200"]["content"]


def test_the_gateway_serves_the_document(gateway):
    response = httpx.get(f"{gateway.gateway_url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == SPEC_FILE.read_bytes()
