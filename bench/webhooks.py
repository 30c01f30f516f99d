"""Webhook delivery throughput, and whether one account's dead receiver delays another's:
`python -m bench.webhooks` (about a minute; docs/webhooks.md, "Measured").

On an embedded PostgreSQL (or a fresh database on the DATABASE_URL server, a superuser's,
as for the tests), WORKERS in-process delivery workers post to a local HTTP receiver
(ThreadingHTTPServer in this process). Per round, account B's N events are delivered:

- `alone`: nothing else queued;
- `next_to_dead`: account A's endpoint also has N events queued, and every request to it
  hangs past the worker's timeout (the receiver holds it), retried with short delays.

Rounds alternate so that both see the same machine load; the figures are medians.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import pathlib
import statistics
import tempfile
import threading
import time
import uuid

import psycopg
from partnerlytics.webhooks.v1 import webhooks_pb2 as wpb
from sqlalchemy import text

from platform_core import accounts, db
from platform_core.roles import prepare_database
from services.webhooks import outbox
from services.webhooks.config import WebhookSettings
from services.webhooks.delivery import DeliveryWorker
from stack.run import migrate

N, WORKERS, ROUNDS = 300, 4, 3
SETTINGS = WebhookSettings(workers=WORKERS, timeout_seconds=0.5, retry_base_seconds=0.05,
                           retry_max_delay_seconds=0.2, poll_seconds=0.01, allow_private_urls=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/dead":
            time.sleep(2 * SETTINGS.timeout_seconds)  # past the timeout: the worker gives up first
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


async def _endpoint(sessions, url: str) -> accounts.Principal:
    async with sessions() as session:
        account = await accounts.create_account(session, "bench-webhooks")
        who = accounts.Principal(account_id=account.id, key_id=uuid.uuid4(), mode="test", scopes=frozenset())
        await session.execute(text(
            "INSERT INTO webhook_endpoints (account_id, livemode, id, url, secret) VALUES (:a, false, :id, :u, :s)"),
            {"a": account.id, "id": "we_" + uuid.uuid4().hex[:16], "u": url, "s": "whsec_" + "0" * 64})
        await session.commit()
    return who


async def _queue(sessions, who: accounts.Principal) -> None:
    async with sessions() as session:
        await outbox.emit(session, who, [("webhook.test", wpb.TestPing(endpoint_id="bench"))] * N)
        await session.commit()


async def _pending(engine, who) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE account_id = :a "
                                        "AND status = 'pending'"), {"a": who.account_id})).scalar_one()


async def _round(engine, sessions, base: str, with_dead: bool) -> float:
    """Seconds until account B's N deliveries all succeeded."""
    b = await _endpoint(sessions, base + "/ok")
    if with_dead:
        await _queue(sessions, await _endpoint(sessions, base + "/dead"))
    stop = asyncio.Event()
    workers = [DeliveryWorker(engine, SETTINGS) for _ in range(WORKERS)]
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    await asyncio.sleep(0.5)  # the dead endpoint's first attempt is in flight
    started = time.perf_counter()
    await _queue(sessions, b)
    while await _pending(engine, b):
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    for w in workers:
        await w.close()
    async with engine.begin() as conn:  # the dead endpoint's leftovers leave the queue
        await conn.execute(text("UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending'"))
    return elapsed


async def _measure(url: str) -> dict[str, float]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    engine = db.create_engine(url, pool_size=WORKERS + 2)
    sessions = db.sessionmaker(engine)
    times: dict[str, list[float]] = {"alone": [], "next_to_dead": []}
    try:
        await _round(engine, sessions, base, False)  # warm-up
        for _ in range(ROUNDS):
            times["alone"].append(await _round(engine, sessions, base, False))
            times["next_to_dead"].append(await _round(engine, sessions, base, True))
    finally:
        await engine.dispose()
        server.shutdown()
    alone, dead = statistics.median(times["alone"]), statistics.median(times["next_to_dead"])
    return {
        "deliveries_per_s_alone": N / alone, "deliveries_per_s_next_to_dead": N / dead,
        "slowdown_next_to_dead": dead / alone,
        "spread_alone": (max(times["alone"]) - min(times["alone"])) / alone,
        "spread_next_to_dead": (max(times["next_to_dead"]) - min(times["next_to_dead"])) / dead,
    }


def main() -> None:
    server_url = os.environ.get("DATABASE_URL")
    pg = None
    if not server_url:
        from platform_core.embedded_pg import EmbeddedPostgres

        pg = EmbeddedPostgres(pathlib.Path(tempfile.mkdtemp(prefix="bench-webhooks-")) / "pg")
        server_url = pg.admin_url
    name = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    try:
        urls = prepare_database(server_url, name)
        migrate(urls.owner)
        results = asyncio.run(_measure(urls.app))
    finally:
        if pg is not None:
            pg.stop()
        else:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"N={N} workers={WORKERS} rounds={ROUNDS}")
    for key, value in results.items():
        print(f"{key}: {value:.3f}")


if __name__ == "__main__":
    main()
