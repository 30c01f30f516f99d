"""A demo landing page that includes the tracker from the gateway's origin, and a tiny
server for it on another origin: `make run` serves it; the browser test loads it."""

from __future__ import annotations

import html
import http.server
import threading
from dataclasses import dataclass

PAGE = """<!doctype html>
<html lang="es">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{name}</title>
  <script async src="{gateway}/api/analytics/tracker.js" data-tenant="{tenant_id}"></script>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
    button {{ font-size: 1rem; margin: .25rem; padding: .5rem 1rem; }}
    .products {{ display: flex; gap: 1rem; }}
    .product {{ border: 1px solid #ccc; padding: 1rem; border-radius: .5rem; }}
  </style>
</head>
<body>
  <h1>{name}</h1>
  <p>Demo landing page: every marked button below is tracked by the gateway's tracker script.</p>
  <section class="hero">
    <button id="whatsapp" data-track="whatsapp" data-track-location="hero">WhatsApp</button>
    <button id="call" data-track="call" data-track-location="hero">Call us</button>
    <button id="currency" data-track="currency">MXN / USD</button>
    <button id="qr" data-track="qr">Show QR code</button>
  </section>
  <section class="products">
    <div class="product"><h2>Tacos</h2><button id="product-tacos" data-track="product" data-product-id="tacos">Order</button></div>
    <div class="product"><h2>Mole</h2><button id="product-mole" data-track="product" data-product-id="mole">Order</button></div>
  </section>
  <p><button id="untracked">Not tracked</button></p>
</body>
</html>
"""


def render_page(gateway_url: str, tenant_id: int, name: str = "Casa Azul") -> str:
    return PAGE.format(
        name=html.escape(name), gateway=html.escape(gateway_url.rstrip("/"), quote=True), tenant_id=int(tenant_id)
    )


@dataclass
class LandingPageServer:
    """Serves one page at `/` (and 404 elsewhere) from a background thread."""

    server: http.server.ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_page(page: str, host: str = "127.0.0.1", port: int = 0) -> LandingPageServer:
    body = page.encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.split("?", 1)[0] != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="landing-page", daemon=True)
    thread.start()
    return LandingPageServer(server, thread)
