"""Generates Python modules, typed stubs and the Envoy descriptor set from protos/.

This is the only way generated code is produced: `make proto` runs it into gen/, and
tests/platform/test_generated.py runs it into a temporary folder and fails if gen/ differs.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import sysconfig

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DESCRIPTOR_NAME = "partnerlytics.pb"


def _include_dirs() -> list[str]:
    """Well-known types come with grpc_tools; google/api/*.proto with googleapis-common-protos."""
    grpc_include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    return [str(PROTOS), str(grpc_include), str(site)]


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def generate(out: pathlib.Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bindir = pathlib.Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        *(f"-I{d}" for d in _include_dirs()),
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_grpc_out={out}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out / DESCRIPTOR_NAME}",
        *proto_files(),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    # Regular packages (not namespace ones), so that type checkers and tools find them.
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        if folder != out:
            (folder / "__init__.py").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "gen"), help="output folder (replaced)")
    generate(pathlib.Path(parser.parse_args().out))


if __name__ == "__main__":
    main()
