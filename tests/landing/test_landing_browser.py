"""A real headless Chromium (Debian's `chromium`, driven by Playwright) loads a demo
landing page from one origin that includes the tracker from the gateway's origin,
clicks the marked buttons, and the dashboards then show exactly those events.

The test installs Chromium with apt-get when /usr/bin/chromium is missing and fails
(never skips) when it cannot. Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import time

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import async_playwright
from sqlalchemy import text

from partnerlytics.landing.v1 import landing_analytics_pb2 as api
from stack.landing_page import render_page, serve_page
from tests.support.system_packages import ensure_debian_program
from tests.landing.test_landing_grpc import create_tenant

CHROMIUM = pathlib.Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
EVENT_NAMES = {n: name.removeprefix("EVENT_TYPE_").lower() for name, n in api.EventType.items() if n}


def ensure_chromium() -> pathlib.Path:
    """Debian's chromium, installed with apt-get if missing; a loud failure otherwise."""
    return ensure_debian_program(CHROMIUM, "chromium")


@pytest_asyncio.fixture(scope="module")
async def browser():
    executable = ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def visitor_user_agent(headless_user_agent: str) -> str:
    """What the same Chromium sends when a person runs it (headless browsers are bots)."""
    return headless_user_agent.replace("HeadlessChrome/", "Chrome/")


async def stored_event_types(deps, tenant_id: int) -> collections.Counter:
    async with deps.engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_type FROM landing_events WHERE tenant_id = :t"), {"t": tenant_id})
        return collections.Counter(EVENT_NAMES[r.event_type] for r in rows)


async def wait_for_events(deps, tenant_id: int, expected: collections.Counter, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = await stored_event_types(deps, tenant_id)
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


async def test_a_real_browser_tracks_a_landing_page_and_the_dashboards_show_it(
    browser, gateway, landing_channel, make_tenant, deps
):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key, time_zone="Asia/Kathmandu")
    page_server = serve_page(render_page(gateway.gateway_url, tenant.id))
    try:
        headless_ua = await _default_user_agent(browser)
        context = await browser.new_context(user_agent=visitor_user_agent(headless_ua))
        page = await context.new_page()
        tracked: list[tuple[str, int, str | None]] = []  # (method, status, access-control-allow-origin)
        page.on("response", lambda r: tracked.append(
            (r.request.method, r.status, r.headers.get("access-control-allow-origin"))
        ) if r.url.endswith("/track") else None)
        await page.goto(page_server.url)
        assert page_server.url.split("/")[2] != gateway.gateway_url.split("/")[2]  # two origins
        # The script is the gateway's, loaded with one tag; wait until it has run.
        await page.wait_for_function("window.__partnerlyticsTracker === true")
        for button in ("#whatsapp", "#call", "#currency", "#qr", "#product-tacos", "#product-mole", "#untracked"):
            await page.click(button)
        expected = collections.Counter({
            "pageview": 1, "click_whatsapp": 1, "click_call": 1, "click_toggle_currency": 1, "qr_scan": 1,
            "product_click": 2,
        })
        assert await wait_for_events(deps, tenant.id, expected) == expected
        deadline = time.monotonic() + 10
        while len(tracked) < 7 and time.monotonic() < deadline:  # the browser saw every answer
            await asyncio.sleep(0.05)
        # Leaving the page sends the time on page (keepalive: it outlives the page).
        await page.close(run_before_unload=True)
        expected["time_on_page"] = 1
        assert await wait_for_events(deps, tenant.id, expected) == expected

        # Every send was a cross-origin CORS request the gateway accepted (Envoy allows the
        # page's origin by name only when the browser sent it).
        assert len(tracked) >= 7
        assert set(tracked) == {("POST", 200, page_server.url.rstrip("/"))}
        await context.close()
    finally:
        page_server.stop()

    headers = {"authorization": f"Bearer {account.test_key}"}
    async with httpx.AsyncClient(base_url=gateway.gateway_url, headers=headers, timeout=10) as http:
        data = (await http.get(f"/api/analytics/{tenant.id}")).json()["data"]
        today = (await http.get(f"/api/analytics/{tenant.id}/today")).json()
    assert {k: v for k, v in data.items() if k not in ("last_7_days", "avg_time_on_page")} == {
        "visitors_today": 1, "visitors_week": 1, "whatsapp_clicks": 1, "call_clicks": 1, "currency_toggles": 1,
        "qr_scans": 1,
    }
    assert data["last_7_days"][-1]["visitors"] == 1
    assert [d["visitors"] for d in data["last_7_days"][:-1]] == [0] * 6
    assert 0 <= data["avg_time_on_page"] <= 120
    assert today == {"success": True, "visitors_today": 1, "whatsapp_clicks": 1, "qr_scans": 1, "products_viewed": 2}


async def test_a_headless_browser_is_a_bot_and_is_not_counted(browser, gateway, landing_channel, make_tenant, deps):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key, time_zone="UTC")
    page_server = serve_page(render_page(gateway.gateway_url, tenant.id))
    try:
        context = await browser.new_context()  # Chromium's own "HeadlessChrome" user agent
        page = await context.new_page()
        answered = []
        page.on("response", lambda r: answered.append(r.status) if r.url.endswith("/track") else None)
        await page.goto(page_server.url)
        await page.wait_for_function("window.__partnerlyticsTracker === true")
        await page.click("#whatsapp")
        deadline = time.monotonic() + 10
        while len(answered) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert answered == [200, 200]  # the pageview and the click were sent and acknowledged
        await context.close()
    finally:
        page_server.stop()
    assert await stored_event_types(deps, tenant.id) == collections.Counter()


async def _default_user_agent(browser) -> str:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        return await page.evaluate("navigator.userAgent")
    finally:
        await context.close()
