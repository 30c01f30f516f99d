"""The landing demo of `make run` and the README's landing examples work through the gateway."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess

import httpx

from stack import demo
from stack.landing_page import render_page, serve_page
from tests.instance.test_demo import README, _readme_curls

# The test database holds tenants of other tests at the low ids; the README's 1 and 2
# are replaced by these (and the README's host by the test gateway's).
IDS = (2**40 + 1, 2**40 + 2)


async def test_landing_demo_is_deterministic_and_replaced(owner_sessions):
    now = dt.datetime(2026, 1, 15, 12, 30, tzinfo=dt.timezone.utc)
    assert demo.build_landing(now) == demo.build_landing(now)
    await demo.seed(owner_sessions)
    first = await demo.seed_landing(owner_sessions, now, IDS)
    assert first == await demo.seed_landing(owner_sessions, now, IDS)
    assert first["landing tenants"] == 2 and first["landing events"] > 1500


async def test_readme_landing_curls_work(gateway, owner_sessions):
    await demo.seed(owner_sessions)
    await demo.seed_landing(owner_sessions, ids=IDS)
    commands = _readme_curls("/api/analytics/")
    assert len(commands) == 4
    answers = []
    for command in commands:  # as a reader would run them, against the test gateway
        command = command.replace("http://127.0.0.1:8080", gateway.gateway_url)
        command = re.sub(r"/api/analytics/1\b", f"/api/analytics/{IDS[0]}", command)
        command = command.replace('"tenant_id": 1,', f'"tenant_id": {IDS[0]},')
        run = subprocess.run(["bash", "-c", command], env={**os.environ, "KEY": demo.DEMO_KEY},
                             capture_output=True, text=True, timeout=30)
        answers.append(json.loads(run.stdout))
    tracked, dashboard, today, refused = answers
    assert tracked == {"success": True}
    assert dashboard["success"] is True and len(dashboard["data"]["last_7_days"]) == 7
    assert dashboard["data"]["visitors_week"] > 50 and dashboard["data"]["whatsapp_clicks"] >= 1
    assert today["success"] is True and today["whatsapp_clicks"] >= 1  # the click tracked just now
    assert refused["code"] == "INVALID_REQUEST" and [f["field"] for f in refused["fields"]] == [
        "tenant_id", "event_type"
    ]


async def test_the_demo_page_includes_the_tracker_with_one_tag(gateway):
    page = render_page(gateway.gateway_url, 7)
    assert page.count("<script") == 1
    assert f'src="{gateway.gateway_url}/api/analytics/tracker.js" data-tenant="7"' in page
    assert all(f'data-track="{kind}"' in page for kind in ("whatsapp", "call", "currency", "qr", "product"))
    server = serve_page(page)
    try:
        async with httpx.AsyncClient() as http:
            got = await http.get(server.url)
            missing = await http.get(server.url + "nope")
        assert got.text == page and missing.status_code == 404
    finally:
        server.stop()
    assert "tracker.js" in README
