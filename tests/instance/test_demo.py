"""The demo data of `make run` and the README's examples work through the gateway."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import subprocess

import httpx

from stack import demo

README = (pathlib.Path(__file__).resolve().parent.parent.parent / "README.md").read_text()


async def test_readme_examples_answer_with_demo_data(gateway, owner_sessions):
    counts = await demo.seed(owner_sessions)
    assert counts == {"campaigns": 5, "instances": 3000, "events": 10598, "orders": 808, "rewards": 808}
    assert demo.DEMO_KEY in README
    ids = re.findall(r'"instance_ids": \[([^\]]*)\]', README)[0]
    instance_ids = [i.strip(' "') for i in ids.split(",")]
    auth = {"Authorization": f"Bearer {demo.DEMO_KEY}"}
    today = dt.datetime.now(dt.timezone.utc).date()
    async with httpx.AsyncClient(base_url=gateway.gateway_url) as http:
        day = await http.get("/partner/v1/instances/analytics?is_purchased=true&time_frame=day&page=1&limit=20", headers=auth)
        month = await http.get(
            "/partner/v1/instances/analytics",
            params={"time_frame": "custom", "start_date": str(today - dt.timedelta(days=30)), "end_date": str(today), "page": 2},
            headers=auth,
        )
        details = await http.post("/partner/v1/instances/analytics?events=first", json={"instance_ids": instance_ids},
                                  headers=auth)
    assert (day.status_code, month.status_code, details.status_code) == (200, 200, 200)
    assert month.json()["pagination"]["total"] == 3000
    assert len(month.json()["data"]) == 20
    assert [d["instance_id"] for d in details.json()["data"]] == instance_ids
    assert all(len(d["events"]) == 1 for d in details.json()["data"])


async def test_reseeding_is_deterministic_and_replaces_the_demo_data(owner_sessions):
    now = dt.datetime(2026, 1, 15, 12, 30, tzinfo=dt.timezone.utc)
    first, second = demo.build(now), demo.build(now)
    assert [r.SerializeToString() for r in first["orders"]] == [r.SerializeToString() for r in second["orders"]]
    assert await demo.seed(owner_sessions) == await demo.seed(owner_sessions)


def _readme_curls(fragment: str) -> list[str]:
    """The README's curl commands (continuations joined) whose URL contains `fragment`."""
    block = "\n".join(re.findall(r"```sh\n(.*?)```", README, re.S)).replace("\\\n", " ")
    return [line for line in block.splitlines() if line.startswith("curl") and fragment in line]


async def test_every_demo_campaign_has_realistic_figures_and_the_readme_curls_work(gateway, owner_sessions):
    await demo.seed(owner_sessions)
    campaign_ids = [demo.demo_id("campaign", i) for i in range(len(demo.CAMPAIGNS))]
    commands = _readme_curls(f"/api/partner/v1/campaigns/{campaign_ids[0]}/")
    assert len(commands) >= 2
    for command in commands:  # run exactly as a reader would, against the test gateway
        run = subprocess.run(
            ["bash", "-c", command.replace("http://127.0.0.1:8080", gateway.gateway_url)],
            env={**os.environ, "KEY": demo.DEMO_KEY}, capture_output=True, text=True, timeout=30,
        )
        body = json.loads(run.stdout)
        assert body["success"] is True and body["data"]["summary"]["total_instances"] > 0, command
    auth = {"Authorization": f"Bearer {demo.DEMO_KEY}"}
    summaries = []
    async with httpx.AsyncClient(base_url=gateway.gateway_url) as http:
        for campaign_id in campaign_ids:
            answer = await http.get(f"/api/partner/v1/campaigns/{campaign_id}/analytics?time_frame=per_month",
                                    headers=auth)
            assert answer.status_code == 200
            summaries.append(answer.json()["data"]["summary"])
    assert sum(s["total_instances"] for s in summaries) == 3000
    assert all(s["total_instances"] > 300 and 0.1 < s["conversion_rate"] < 0.5 and s["total_revenue"] > 1000
               for s in summaries), summaries
