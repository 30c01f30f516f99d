"""The README's SDK quick starts, run as written (but for the gateway's URL) on the demo data."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import httpx

from stack import demo

README = (pathlib.Path(__file__).resolve().parent.parent.parent / "README.md").read_text()
SECTION = README.split("### With the SDKs", 1)[1].split("\n### ", 1)[0]


def _block(language: str, base_url: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", SECTION, re.S).group(1).replace("http://127.0.0.1:8080", base_url)


async def test_the_python_and_typescript_quick_starts_print_the_apis_figures(gateway, owner_sessions, tmp_path, typescript_sdk):
    await demo.seed(owner_sessions)
    await demo.seed_vouchers(owner_sessions)
    auth = {"Authorization": f"Bearer {demo.DEMO_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.gateway_url, headers=auth) as http:
        purchased = (await http.get("/partner/v1/instances/analytics",
                                    params={"time_frame": "day", "is_purchased": "true"})).json()
        voucher = (await http.get("/v1/analytics/vouchers/v_d3f36144fe465396/performance",
                                  params={"include_details": "true"})).json()

    python = subprocess.run([sys.executable, "-c", _block("python", gateway.gateway_url)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert python.returncode == 0, python.stderr
    lines = python.stdout.splitlines()
    assert len(lines) == purchased["pagination"]["total"] > 0
    assert lines[0].split()[2] == purchased["data"][0]["instance_id"]

    (tmp_path / "node_modules" / "@partnerlytics").mkdir(parents=True)
    (tmp_path / "node_modules" / "@partnerlytics" / "client").symlink_to(typescript_sdk)
    (tmp_path / "quick.mjs").write_text(_block("ts", gateway.gateway_url))
    node = subprocess.run([shutil.which("node") or "node", "quick.mjs"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert node.returncode == 0, node.stderr
    expected = f"{voucher['performance']['total_uses']} {voucher['details']['validations']}"
    assert node.stdout.strip() == expected
