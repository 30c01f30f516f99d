"""The affiliate demo data and every affiliate curl of the README work through the gateway."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import shlex

import httpx

from stack import demo, demo_affiliate

README = (pathlib.Path(__file__).resolve().parent.parent.parent / "README.md").read_text()
SECTION = README.split("### Affiliate Analytics", 1)[1].split("\n## ", 1)[0]


def _expand(url: str, today: dt.date) -> str:
    url = re.sub(r"\$\(date -u -d '-(\d+) days' \+%F\)", lambda m: str(today - dt.timedelta(days=int(m[1]))), url)
    return url.replace("$(date -u +%F)", str(today))


async def test_readme_affiliate_curls_answer_with_the_demo_data(gateway, owner_sessions):
    await demo.seed(owner_sessions)
    counts = await demo_affiliate.seed(owner_sessions)
    assert counts == {"affiliate affiliates": 5, "affiliate tracking_codes": 8, "affiliate products": 12,
                      "affiliate events": 6000, "affiliate conversions": 240}
    today = dt.datetime.now(dt.timezone.utc).date()
    urls = [shlex.split(line)[-1] for line in SECTION.splitlines() if line.startswith("curl") and "$API?" in line]
    assert len(urls) == 9
    auth = {"Authorization": f"Bearer {demo.DEMO_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.gateway_url) as http:
        for url in urls:
            response = await http.get(_expand(url, today).replace("$API", "/v1/affiliate/analytics"), headers=auth)
            body = response.json()
            if "metrics=clicks" in url and "section=stats" in url:
                assert response.status_code == 422, body
                continue
            assert response.status_code == 200, (url, body)
            section = body["data"]["section"]
            assert body["data"][section], (url, body)
    stats = (await _get(gateway, "section=stats"))["data"]["stats"]
    assert stats["total_clicks"] > 0 and stats["total_conversions"] > 0 and stats["unique_visitors"] > 0


async def _get(gateway, query: str) -> dict:
    async with httpx.AsyncClient(base_url=gateway.gateway_url) as http:
        response = await http.get(f"/v1/affiliate/analytics?{query}",
                                  headers={"Authorization": f"Bearer {demo.DEMO_KEY}"})
    return response.json()


async def test_the_affiliate_demo_is_deterministic(owner_sessions):
    now = dt.datetime(2026, 1, 15, 12, 30, tzinfo=dt.timezone.utc)
    first, second = demo_affiliate.build(now), demo_affiliate.build(now)
    assert [r.SerializeToString() for r in first["events"]] == [r.SerializeToString() for r in second["events"]]
    assert [r.SerializeToString() for r in first["conversions"]] == [
        r.SerializeToString() for r in second["conversions"]]
