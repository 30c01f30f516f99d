"""Adding a family touches its proto, its package and one registry line
(docs/architecture.md, "Adding a family"): a throwaway family from tests/data/seventh_family
(a proto, a servicer, a `family.py`) compiled with grpc_tools into a temporary folder and
named in PARTNERLYTICS_EXTRA_FAMILIES, without touching any file of the tree, is listed in
the generated OpenAPI, served with gRPC health and reflection by the platform's entry point,
and routed by the real gateway (rendered by its CLI) over HTTP with the family's envelope."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import grpc
import grpc_tools
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

from services import registry
from stack.run import ROOT, Stack, free_port

FIXTURE = pathlib.Path(__file__).parent.parent / "data" / "seventh_family"
SERVICE = "throwaway.v1.ThrowawayService"
ROUTE = "/throwaway/v1/things/{thing_id}/figure"
MODULE = "throwaway_family.family"


def _compile(out: pathlib.Path) -> pathlib.Path:
    """The throwaway proto's Python modules into `out`, and one descriptor set of every
    proto of the tree plus it (what the gateway's transcoder loads); returns the set."""
    includes = [ROOT / "protos", FIXTURE / "protos", pathlib.Path(grpc_tools.__file__).parent / "_proto",
                pathlib.Path(sysconfig.get_paths()["purelib"])]
    tree = sorted(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto"))
    descriptor = out / "with-throwaway.pb"
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in includes), f"--python_out={out}", f"--grpc_python_out={out}",
            "throwaway/v1/throwaway.proto"]
    assert protoc.main(args) == 0
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in includes), "--include_imports", "--include_source_info",
            f"--descriptor_set_out={descriptor}", *tree, "throwaway/v1/throwaway.proto"]
    assert protoc.main(args) == 0
    return descriptor


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory) -> pathlib.Path:
    """The family's package and its compiled proto in a temporary folder (PYTHONPATH)."""
    root = tmp_path_factory.mktemp("seventh")
    shutil.copytree(FIXTURE / "throwaway_family", root / "throwaway_family")
    _compile(root)
    return root


def _env(root: pathlib.Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT), str(ROOT / "gen")]),
            registry.EXTRA_FAMILIES_ENV: MODULE, **extra}


def test_the_registry_adds_a_family_named_in_the_environment(family_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(family_dir))
    assert "throwaway" not in [f.name for f in registry.families()]
    monkeypatch.setenv(registry.EXTRA_FAMILIES_ENV, MODULE)
    names = [f.name for f in registry.families()]
    assert names == [f.name for f in registry.FAMILIES] + ["throwaway"]
    assert registry.family("throwaway").http.grpc_services == (SERVICE,)
    monkeypatch.setenv(registry.EXTRA_FAMILIES_ENV, "services.instance.family")
    with pytest.raises(ValueError, match="share a name"):
        registry.families()
    monkeypatch.setenv(registry.EXTRA_FAMILIES_ENV, "services.instance.models")
    with pytest.raises(TypeError, match="no FAMILY"):
        registry.families()


def test_the_family_is_in_the_generated_openapi(family_dir):
    out = family_dir / "openapi.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "genopenapi.py"), "--descriptor",
                    str(family_dir / "with-throwaway.pb"), "--out", str(out)], env=_env(family_dir), check=True)
    spec = json.loads(out.read_text())
    operation = spec["paths"][ROUTE]["get"]
    assert operation["tags"] == ["throwaway"]
    assert operation["x-grpc-method"] == f"{SERVICE}/GetFigure"
    assert operation["parameters"][0]["name"] == "thing_id"
    assert {"name": "throwaway"} in spec["tags"]
    # The tree's own document is the families' of the tree only.
    assert ROUTE not in json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]


@pytest.fixture(scope="module")
def throwaway_stack(family_dir, database_url):
    """The throwaway service by its own entry point, and Envoy on the config the gateway
    CLI renders with the family added (every other family's cluster a closed port)."""
    port = free_port()
    stack = Stack(data_dir=family_dir / "stack", gateway_port=free_port(), admin_port=free_port(),
                  service_ports={"throwaway": [port]}, metrics_ports={"throwaway": [0]},
                  database_url=database_url,
                  extra_env={**_env(family_dir), "RATE_LIMIT_STORE": "memory", "GRPC_HOST": "127.0.0.1"})
    config = family_dir / "envoy.yaml"
    closed = {f"{f.name.upper()}_GRPC_ADDRS": f"127.0.0.1:{free_port()}" for f in registry.FAMILIES}
    subprocess.run(
        [sys.executable, "-m", "gateway.envoy_config", "--out", str(config),
         "--descriptor", str(family_dir / "with-throwaway.pb"), "--listen-port", str(stack.gateway_port),
         "--admin-port", str(stack.admin_port), "--stats-port", "0"],
        env=_env(family_dir, THROWAWAY_GRPC_ADDRS=f"127.0.0.1:{port}", **closed), check=True, cwd=ROOT,
    )
    try:
        sys.path.insert(0, str(family_dir))
        from throwaway_family.family import FAMILY

        stack.start_service(FAMILY)
        stack.start_envoy("envoy", yaml.safe_load(config.read_text()), stack.admin_port)
        yield stack
    finally:
        sys.path.remove(str(family_dir))
        stack.stop()


def test_the_service_has_health_and_reflection(throwaway_stack):
    with grpc.insecure_channel(f"127.0.0.1:{throwaway_stack.service_ports['throwaway'][0]}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
        ]), timeout=5))
    assert SERVICE in {s.name for s in answers[0].list_services_response.service}
    assert answers[1].file_descriptor_response.file_descriptor_proto  # the proto, served


def test_the_gateway_routes_the_family_over_http(throwaway_stack):
    url = throwaway_stack.gateway_url
    response = httpx.get(f"{url}/throwaway/v1/things/abcd/figure")
    assert response.status_code == 200, response.text
    assert response.json() == {"thing_id": "abcd", "value": 4}
    # The service's error, in the envelope it declared (the partner style), with its status.
    missing = httpx.get(f"{url}/throwaway/v1/things/missing/figure")
    assert missing.status_code == 404
    body = missing.json()
    assert (body["success"], body["error"], body["message"]) == (False, "Not Found", "No such thing")
    assert body["meta"]["requestId"] == missing.headers["x-request-id"]
    # The replies the gateway makes itself under the family's prefix: its 405 and 404.
    refused = httpx.post(f"{url}/throwaway/v1/things/abcd/figure", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
    assert refused.json()["error"] == "Method Not Allowed"
    unknown = httpx.get(f"{url}/throwaway/v1/nothing")
    assert unknown.status_code == 404 and unknown.json()["success"] is False
