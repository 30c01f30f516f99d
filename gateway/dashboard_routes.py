"""The partner dashboard's routes: its files (dashboard/, built into gateway/dashboard/ by
`make dashboard`) answered by Envoy as direct responses, with a same-origin content
security policy (docs/dashboard.md)."""

from __future__ import annotations

import pathlib
import re
from typing import Any

from gateway.replies import LUA_SLOTS, _lua_metadata, _plain_not_found, _status_filter
from gateway.routes import MAX_DIRECT_RESPONSE_BYTES, _method_regex

# The partner dashboard (dashboard/, built into gateway/dashboard/ by `make dashboard`):
# path -> (file, content type). Each file is one direct response, so each stays below
# MAX_DIRECT_RESPONSE_BYTES (docs/dashboard.md).
DASHBOARD_DIR = pathlib.Path(__file__).resolve().parent / "dashboard"
DASHBOARD_FILES = {
    "/dashboard/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard/app.js": ("app.js", "application/javascript; charset=utf-8"),
    "/dashboard/uplot.js": ("uplot.js", "application/javascript; charset=utf-8"),
    "/dashboard/app.css": ("app.css", "text/css; charset=utf-8"),
}
# Same origin only: the page talks to this gateway's REST API and nothing else.
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                 "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


def dashboard_routes() -> list[dict[str, Any]]:
    """GET/HEAD of the dashboard's files answered by Envoy; `/dashboard` redirects to
    `/dashboard/`; other methods 405."""
    get = [{"name": ":method", "string_match": {"safe_regex": {"regex": _method_regex(("GET", "HEAD"))}}}]
    not_found = _lua_metadata(404, _plain_not_found(LUA_SLOTS))
    routes: list[dict[str, Any]] = [{"name": "dashboard:redirect", "match": {"path": "/dashboard", "headers": get},
                                     "redirect": {"path_redirect": "/dashboard/"}, "metadata": not_found}]
    for path, (name, content_type) in DASHBOARD_FILES.items():
        body = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        if len(body.encode("utf-8")) > MAX_DIRECT_RESPONSE_BYTES:
            raise ValueError(f"gateway/dashboard/{name} is above {MAX_DIRECT_RESPONSE_BYTES} bytes: split it")
        routes.append({
            "name": f"dashboard:{path}",
            "match": {"path": path, "headers": get},
            "direct_response": {"status": 200, "body": {"inline_string": body}},
            "response_headers_to_add": [
                {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                for key, value in (
                    ("content-type", content_type),
                    ("cache-control", "no-cache"),
                    ("x-content-type-options", "nosniff"),
                    ("content-security-policy", DASHBOARD_CSP),
                    ("referrer-policy", "no-referrer"),
                    ("x-frame-options", "DENY"),
                )
            ],
            "metadata": not_found,
        })
        routes.append({
            "name": f"dashboard:{path}:405", "match": {"path": path}, "direct_response": {"status": 405},
            "response_headers_to_add": [
                {"header": {"key": "allow", "value": "GET, HEAD"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
            "metadata": not_found,
        })
    return routes




def dashboard_mappers() -> list[dict[str, Any]]:
    """Local reply mappers that keep each file's body and content type (the top-level body
    format would wrap it in JSON); the page's address carries a query string."""
    return [{
        "filter": {"and_filter": {"filters": [
            {"header_filter": {"header": {"name": ":path", "string_match": {
                "safe_regex": {"regex": "^" + re.escape(path) + r"(\?.*)?$"}}}}},
            _status_filter(200),
        ]}},
        "body_format_override": {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
                                 "content_type": content_type},
    } for path, (_, content_type) in DASHBOARD_FILES.items()]
