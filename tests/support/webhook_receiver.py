"""A webhook receiver for the tests: a real HTTP server on a free port answering each path
from a script, and a signature verifier written from docs/webhooks.md, "Verifying a
delivery", and nothing else (tests/webhooks/)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import http.server
import threading
from collections.abc import Iterator

from google.protobuf import json_format
from partnerlytics.webhooks.v1 import webhooks_pb2 as wpb

# ---------------------------------------------------------------------------------------
# The verifier: written from docs/webhooks.md, "Verifying a delivery", and nothing else.

TOLERANCE_SECONDS = 300


def verify(header: str, body: bytes, secret: str, now: float) -> bool:
    items = [part.split("=", 1) for part in header.split(",")]
    stamps = [value for key, value in items if key == "t"]
    candidates = [value for key, value in items if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode("utf-8"), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# ---------------------------------------------------------------------------------------
# A receiver: a real HTTP server on a free port, answering each path from a script.


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def event(self) -> wpb.Event:
        return json_format.Parse(self.body, wpb.Event())  # unknown fields refused: the body is an Event


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[int]] = {}  # path -> statuses to answer in turn (200 once spent)
        # path -> (arrived, release): the first request to it waits for `release`.
        self.holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                hold = receiver.holds.pop(self.path, None)
                if hold is not None:
                    hold[0].set()
                    hold[1].wait(60)
                script = receiver.scripts.get(self.path, [])
                status = script.pop(0) if script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold_first(self, path: str) -> tuple[threading.Event, threading.Event]:
        self.holds[path] = (threading.Event(), threading.Event())
        return self.holds[path]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver serving until the block ends (held requests released first)."""
    made = Receiver()
    made.thread.start()
    try:
        yield made
    finally:
        for _, release in list(made.holds.values()):
            release.set()
        made.server.shutdown()
        made.server.server_close()
