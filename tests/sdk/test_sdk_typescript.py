"""The TypeScript SDK (clients/typescript) in `make test`: its generated types are fresh,
it builds with tsc, and its `node --test` suite passes against a live stack.

npm installs the pinned devDependencies (package-lock.json) into
clients/typescript/node_modules the first time (`npm ci`), as tools/buf does."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess

from tests.conftest import SDK_SMALL_LIMIT, TS_SDK, npm
from tests.support.sdk_seed import seed

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def test_node_version():
    node = shutil.which("node")
    assert node, "node is needed for the TypeScript SDK's tests"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.lstrip("v").split(".")[0]) >= 20, version


def test_the_build_runs_in_browsers(typescript_sdk):
    """dist/index.js is one ES module of web APIs only (fetch, URL, crypto.randomUUID): no
    import (the generated types are erased), no Node global."""
    code = (TS_SDK / "dist" / "index.js").read_text()
    assert not re.search(r"^\s*(import|export \*)\b|\brequire\(|\bprocess\.|\bBuffer\b|node:", code, re.MULTILINE)
    assert "globalThis.fetch" in code and "crypto.randomUUID" in code


def test_generated_types_are_fresh(typescript_sdk):
    """src/schema.ts is openapi-typescript's output of docs/openapi.json (`make sdk`)."""
    done = npm("run", "check:generated")
    assert done.returncode == 0, done.stdout + done.stderr


def test_node_test_suite_against_a_live_stack(typescript_sdk, sdk_stack):
    seeded = seed(sdk_stack)
    env = {**os.environ, "PARTNERLYTICS_BASE_URL": sdk_stack.base_url,
           "PARTNERLYTICS_SEED": json.dumps(dataclasses.asdict(seeded)),
           "PARTNERLYTICS_OPENAPI": str(ROOT / "docs" / "openapi.json"),
           "PARTNERLYTICS_SMALL_LIMIT": json.dumps(SDK_SMALL_LIMIT)}
    done = npm("test", env=env, timeout=180)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    tests = len(re.findall(r"^test\(", (TS_SDK / "test" / "sdk.test.mjs").read_text(), re.MULTILINE))
    assert f"# pass {tests}\n" in done.stdout and "# fail 0\n" in done.stdout, done.stdout[-3000:]
