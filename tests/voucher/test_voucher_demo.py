"""The voucher demo data and the README's voucher commands, run as written against the gateway."""

from __future__ import annotations

import csv
import pathlib
import re
import subprocess

from stack import demo

README = (pathlib.Path(__file__).resolve().parent.parent.parent / "README.md").read_text()


def _voucher_block() -> str:
    section = README.split("### Voucher analytics", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


async def test_readme_voucher_commands_work_on_the_demo_data(gateway, owner_sessions, tmp_path):
    await demo.seed(owner_sessions)
    counts = await demo.seed_vouchers(owner_sessions)
    assert counts == {"vouchers": 3, "customers": 200, "validations": 1818, "redemptions": 1309}
    assert [demo.voucher_id(n) for n in range(3)] == re.findall(r"= `(v_[0-9a-f]{16})`", README)
    script = "set -eu\n" + _voucher_block().replace("http://127.0.0.1:8080", gateway.gateway_url)
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert '"voucher_id":"v_d3f36144fe465396","code":"SUMMER2024"' in out
    assert '"interval":"week"' in out and '"customer_insights"' in out
    assert '"status":"completed"' in out and '"record_count":60' in out
    assert out.rstrip().endswith('"details":{"max_days":90,"requested_days":120}}}')
    (path,) = tmp_path.glob("export_*.csv")
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["voucher_id", "code", "date", "uses", "discount", "orders", "conversion_rate"]
    assert len(rows) == 61 and {r[1] for r in rows[1:]} == {"SUMMER2024", "WELCOME10"}
