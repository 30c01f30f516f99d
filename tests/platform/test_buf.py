"""buf lint and buf breaking on protos/ (docs/architecture.md, "Proto lint and breaking changes").

buf is the pinned `@bufbuild/buf` of tools/buf, installed with `npm ci` the first time; a
machine that cannot install it fails here. The checks read a descriptor set built from
protos/ for the test, as `make proto` builds gen/partnerlytics.pb.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
BUF_DIR = ROOT / "tools" / "buf"
BUF = BUF_DIR / "node_modules" / ".bin" / "buf"
BASELINE = ROOT / "protos" / "baseline.binpb"
IGNORE = re.compile(r"^\s*// buf:lint:ignore (?P<rule>[A-Z0-9_]+)(?P<why>.*)$")


@pytest.fixture(scope="module")
def buf() -> pathlib.Path:
    """tools/buf's buf, installed as locked (`npm ci`) when missing or older than the lock."""
    lock = BUF_DIR / "package-lock.json"
    if not BUF.exists() or BUF.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm, "npm is needed to install buf (tools/buf: npm ci)"
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BUF_DIR, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and BUF.exists(), f"npm ci in tools/buf failed:\n{done.stdout}{done.stderr}"
        BUF.touch()
    return BUF


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory) -> bytes:
    """The descriptor set of protos/ with source info, as `make proto` builds it."""
    out = tmp_path_factory.mktemp("gen")
    subprocess.run([sys.executable, str(ROOT / "tools" / "genproto.py"), "--out", str(out)], check=True,
                   capture_output=True)
    return (out / "partnerlytics.pb").read_bytes()


def _buf(buf: pathlib.Path, command: str, image: bytes, *args: str, config: str = "buf.yaml"):
    return subprocess.run([str(buf), command, "-#format=binpb", "--config", config, "--path", "partnerlytics",
                           *args], cwd=BUF_DIR, input=image, capture_output=True, timeout=120)


def _findings(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]


def test_lint_is_clean(buf, descriptor_set):
    done = _buf(buf, "lint", descriptor_set)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), (done.stdout + done.stderr).decode()


def test_no_breaking_change_since_the_last_release(buf, descriptor_set):
    done = _buf(buf, "breaking", descriptor_set, "--against", str(BASELINE))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), (done.stdout + done.stderr).decode()


def test_breaking_reports_a_deleted_field(buf, descriptor_set):
    """The check can fail: the released `Meta.requestId` removed is reported."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    envelope = next(f for f in fds.file if f.name == "partnerlytics/partner/v1/envelope.proto")
    meta = next(m for m in envelope.message_type if m.name == "Meta")
    del meta.field[[f.name for f in meta.field].index("requestId")]
    done = _buf(buf, "breaking", fds.SerializeToString(), "--against", str(BASELINE), "--error-format", "json")
    assert done.returncode != 0
    assert {(f["path"], f["type"]) for f in _findings(done)} == {
        ("partnerlytics/partner/v1/envelope.proto", "FIELD_NO_DELETE")}


def test_every_lint_ignore_says_why_and_is_needed(buf, descriptor_set, tmp_path):
    """Each `buf:lint:ignore` gives its reason, and silences exactly one finding: linted
    with comment ignores disallowed, the findings are the ignored elements, no more."""
    ignored = set()
    for path in sorted((ROOT / "protos").rglob("*.proto")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if "buf:lint:ignore" in line:
                match = IGNORE.match(line)
                assert match and re.fullmatch(r": \S.*", match["why"]), f"{path}:{number}: no reason given"
                # The comments are the last lines of the element's leading comment (one a rule).
                element = number + 1
                while "buf:lint:ignore" in lines[element - 1]:
                    element += 1
                ignored.add((str(path.relative_to(ROOT / "protos")), element, match["rule"]))
    assert ignored, "no buf:lint:ignore found: is the pattern stale?"
    config = (BUF_DIR / "buf.yaml").read_text()
    assert "disallow_comment_ignores: false" in config
    strict = tmp_path / "buf.yaml"
    strict.write_text(config.replace("disallow_comment_ignores: false", "disallow_comment_ignores: true"))
    done = _buf(buf, "lint", descriptor_set, "--error-format", "json", config=str(strict))
    assert {(f["path"], f["start_line"], f["type"]) for f in _findings(done)} == ignored
