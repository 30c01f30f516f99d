"""Generated code is exactly what the generator makes from protos/ (never hand-edited)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def _tree(folder: pathlib.Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_is_up_to_date(tmp_path):
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(ROOT / "tools" / "genproto.py"), "--out", str(out)], check=True,
                   capture_output=True)
    fresh, committed = _tree(out), _tree(ROOT / "gen")
    assert sorted(fresh) == sorted(committed), "files differ: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"stale generated files (run `make proto`): {stale}"
