"""The partner dashboard in Debian's Chromium (Playwright) against a whole stack with the
demo data: sign in with the demo key, open every view, and every number shown equals the
same field read from the REST API with the key; a screenshot of every view is saved under
docs/img/dashboard/ (committed, shown in the README). The page keeps nothing in storage,
and signing out revokes its session.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import httpx
import pytest
from playwright.sync_api import sync_playwright

from stack.demo import DEMO_KEY
from stack.run import dashboard_url, migrate, seed_demo
from tests.conftest import whole_stack
from tests.landing.test_landing_browser import LAUNCH_ARGS, ensure_chromium
from tests.support.databases import scratch_database

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The committed screenshots are rewritten only when asked (`make dashboard-screenshots`):
# otherwise every `make test` would leave the tree changed. A normal run still takes
# them, into a temp folder, so that the screenshot path stays exercised.
SHOTS = (ROOT / "docs" / "img" / "dashboard" if os.environ.get("DASHBOARD_SCREENSHOTS") == "1"
         else pathlib.Path(tempfile.mkdtemp(prefix="partnerlytics-dashboard-shots-")))
DASHBOARD = ROOT / "dashboard"
VIEWS = ("instances", "campaigns", "affiliate", "vouchers", "landing")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo_stack(database_server, tmp_path_factory):
    """The whole stack on a database of its own, with `make run`'s demo data."""
    with scratch_database(database_server, "dashboard") as urls:
        migrate(urls.owner)
        seed_demo(urls.owner)
        with whole_stack(urls, tmp_path_factory.mktemp("dashboard-stack")) as stack:
            yield stack


def field(body, path: str):
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def shown_number(text: str) -> float:
    digits = re.sub(r"[^0-9.\-]", "", text)
    assert digits, f"no number in {text!r}"
    return float(digits)


def open_view(page, view: str) -> None:
    page.click(f'#tabs a[data-view="{view}"]')
    page.wait_for_selector(f'#view[data-view="{view}"][data-state="ready"]', timeout=15_000)
    page.wait_for_timeout(150)  # the charts draw on the next animation frame


def test_every_view_shows_the_api_numbers(demo_stack):
    SHOTS.mkdir(parents=True, exist_ok=True)
    executable = ensure_chromium()
    url = dashboard_url(demo_stack.gateway_url)
    answers: dict[str, object] = {}
    checked: dict[str, int] = {}
    with httpx.Client(base_url=demo_stack.gateway_url, headers={"authorization": f"Bearer {DEMO_KEY}"},
                      timeout=10) as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            sessions = []
            page.on("response", lambda r: sessions.append(r) if r.url.endswith("/partner/v1/sessions") else None)
            page.goto(url)
            page.fill("#key", DEMO_KEY)
            page.click('#login button[type="submit"]')
            page.wait_for_selector('#view[data-state="ready"]', timeout=15_000)
            assert page.input_value("#key") == ""
            for view in VIEWS:
                open_view(page, view)
                numbers = page.eval_on_selector_all("#view .num[data-api]", "els => els.map(e => "
                                                    "[e.dataset.api, e.dataset.path, e.dataset.scale, e.textContent])")
                assert numbers, f"the {view} view shows no number"
                for source, path, scale, text in numbers:
                    if source not in answers:
                        response = api.get(source)
                        assert response.status_code == 200, (source, response.text)
                        answers[source] = response.json()
                    # A fraction is shown as a percentage (scale 100), e.g. 0.281 as 28.1%.
                    expected = float(field(answers[source], path)) * float(scale)
                    assert math.isclose(shown_number(text), round(expected, 2), abs_tol=0.006), \
                        (view, source, path, text)
                checked[view] = len(numbers)
                assert page.locator("#view .uplot").count() >= (0 if view == "instances" else 1), view
                page.screenshot(path=str(SHOTS / f"{view}.png"), full_page=True)
            # Nothing of the session in the browser's storage; no cookie.
            assert page.evaluate("localStorage.length + sessionStorage.length") == 0
            assert page.evaluate("document.cookie") == ""
            # A phone's width: nothing wider than the screen.
            page.set_viewport_size(PHONE)
            open_view(page, "vouchers")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(SHOTS / "phone-vouchers.png"), full_page=True)
            # Signing out revokes the session.
            token = sessions[0].json()["data"]["token"]
            assert api.get("/partner/v1/instances/analytics",
                           headers={"authorization": f"Bearer {token}"}).status_code == 200
            with page.expect_response(lambda r: "/partner/v1/sessions/" in r.url) as revoked:
                page.click("#logout")
            assert revoked.value.status == 200
            assert api.get("/partner/v1/instances/analytics",
                           headers={"authorization": f"Bearer {token}"}).status_code == 401
            assert page.is_visible("#login")
        finally:
            browser.close()
    assert set(checked) == set(VIEWS)


def test_the_dashboard_files_are_served_with_a_same_origin_policy(demo_stack):
    with httpx.Client(base_url=demo_stack.gateway_url, timeout=10) as http:
        redirect = http.get("/dashboard")
        assert redirect.status_code == 301 and redirect.headers["location"].endswith("/dashboard/")
        page = http.get("/dashboard/", params={"tenants": "1"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        for asset in ("app.js", "uplot.js", "app.css"):
            assert http.get(f"/dashboard/{asset}").status_code == 200
        refused = http.post("/dashboard/")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        assert http.get("/dashboard/nothing").status_code == 404


def test_the_committed_build_is_the_build_of_the_sources(typescript_sdk, tmp_path):
    """gateway/dashboard/ is what `make dashboard` makes of dashboard/src (npm ci as locked)."""
    npm = shutil.which("npm")
    assert npm, "npm (Node 20) is needed to build the dashboard"
    marker = DASHBOARD / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < (DASHBOARD / "package-lock.json").stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DASHBOARD, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    for script in ("check", "build"):
        done = subprocess.run([npm, "run", "--silent", script], cwd=DASHBOARD, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "DASHBOARD_OUT": str(tmp_path)})
        assert done.returncode == 0, done.stdout + done.stderr
    committed = ROOT / "gateway" / "dashboard"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.iterdir())
    for built in tmp_path.iterdir():
        assert built.read_bytes() == (committed / built.name).read_bytes(), f"{built.name}: run make dashboard"
