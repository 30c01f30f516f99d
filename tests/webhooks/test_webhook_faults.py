"""Webhook delivery under faults (docs/reliability.md, "Webhooks under faults"): the
receiver down for a while, slow beyond the worker's timeout, answering 500 then 200, the
delivery worker SIGKILLed mid-send, and PostgreSQL stopped hard while producers write.

Each scenario writes voucher redemptions through the voucher service's write path
(`services/voucher/ingest.py` `create_redemptions`, which emits `voucher.redeemed` in its
transaction), some of them deliberately rolled back at the commit, while real delivery
workers post to a real local HTTP receiver. Afterwards it counts and checks: every
committed event delivered at least once, no event for a rolled-back write, every
duplicate a repeat of the same event id with the same bytes. `make chaos` runs them at
FAULTS_SCALE (CHAOS_SCALE) and writes the counts into docs/reliability.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import http.server
import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from sqlalchemy import text

from platform_core import accounts, db
from platform_core.errors import DomainError
from platform_core.paging import timestamp_of
from services.voucher import ingest as voucher_ingest
from services.webhooks.config import WebhookSettings
from services.webhooks.models import WebhookEndpoint, new_endpoint_id
from services.webhooks.servicer import new_secret
from services.webhooks.worker import run_workers
from stack.run import ROOT
from tests.support.faults import SCALE, free_port, record

# Short delays so that the short versions take seconds: a retry after 50 to 250 ms, a
# request deadline of 2 s (0.5 s against the slow receiver), a dead worker's lease free
# after 1 s.
SETTINGS = WebhookSettings(workers=0, timeout_seconds=2.0, retry_base_seconds=0.05, retry_max_delay_seconds=0.25,
                           lease_seconds=1.0, poll_seconds=0.02, allow_private_urls=True)
SHORT_TIMEOUT = dataclasses.replace(SETTINGS, timeout_seconds=0.5)
WORKERS = 2
BATCH = 4
ROLLBACK_EVERY = 4  # every 4th batch of a producer is rolled back at its commit
# A producer's pause between batches: about 15 committed events/s from two, about what the workers
# deliver to one endpoint (one attempt at a time), so the queue drains soon after.
PACE_SECONDS = 0.4
DELIVERY_DEADLINE = 60.0 * SCALE


# ---------------------------------------------------------------------------------------
# The receiver: a real HTTP server on a port that can be closed and opened again.


@dataclasses.dataclass
class Received:
    event_id: str  # the Partnerlytics-Event-Id header
    body: bytes


class Receiver:
    """Records every POST when it arrives (what a receiver that acts on arrival sees),
    then answers from its script: `slow` requests wait `slow_seconds` first, `statuses`
    are answered in turn (200 once spent), `hold` makes the next request wait for a
    release."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self.slow = 0
        self.slow_seconds = 0.0
        self.hold: tuple[threading.Event, threading.Event] | None = None
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._releases: list[threading.Event] = []

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.headers.get("Partnerlytics-Event-Id", ""), body))
                    hold, receiver.hold = receiver.hold, None
                    slow = receiver.slow > 0
                    receiver.slow -= slow
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if hold is not None:
                    hold[0].set()
                    hold[1].wait(60)
                if slow:
                    time.sleep(receiver.slow_seconds)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the worker gave up on a slow answer: its socket is gone

        self._server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Closes the port: connections are refused until `start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold_next(self) -> tuple[threading.Event, threading.Event]:
        with self._lock:
            self.hold = (threading.Event(), threading.Event())
            self._releases.append(self.hold[1])
            return self.hold

    def close(self) -> None:
        for release in self._releases:
            release.set()
        self.stop()


@pytest.fixture
def receiver():
    made = Receiver()
    made.start()
    yield made
    made.close()


# ---------------------------------------------------------------------------------------
# The producers: voucher redemptions through the service's write path.


class Crash(Exception):
    """The process dies where the commit would be: the write is rolled back."""


CUSTOMER = "cus_webhook_faults"


@dataclasses.dataclass
class Writes:
    """Producers of redemptions of one voucher. A batch is retried with the same ids until
    it is acknowledged (what a correct client of the idempotent API does); every
    ROLLBACK_EVERY-th batch instead goes through the whole write path and is rolled back
    at the commit, and its ids are never used again."""

    sessions: object
    who: accounts.Principal
    voucher_id: str
    acknowledged: list[str] = dataclasses.field(default_factory=list)
    rolled_back: list[str] = dataclasses.field(default_factory=list)
    failures: dict[str, int] = dataclasses.field(default_factory=dict)
    _serial: itertools.count = dataclasses.field(default_factory=itertools.count)
    _stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = dataclasses.field(default_factory=list)

    def _batch(self) -> list[vpb.RedemptionRecord]:
        moment = timestamp_of(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5))
        return [vpb.RedemptionRecord(id=f"red_{uuid.uuid4().hex[:16]}", voucher_id=self.voucher_id,
                                     customer_id=CUSTOMER, order_total=5000, discount=500, redeemed_at=moment)
                for _ in range(BATCH)]

    async def _write(self, batch: list[vpb.RedemptionRecord], roll_back: bool) -> None:
        async with self.sessions() as session:
            if roll_back:
                async def crash():
                    raise Crash

                session.commit = crash
            await voucher_ingest.create_redemptions(session, self.who, batch, "redemptions")

    async def one(self) -> None:
        """Writes one batch: acknowledged, or rolled back on purpose."""
        batch = self._batch()
        ids = [r.id for r in batch]
        if next(self._serial) % ROLLBACK_EVERY == ROLLBACK_EVERY - 1:
            with contextlib.suppress(Exception):  # Crash, or the database being down: never committed
                await self._write(batch, roll_back=True)
            self.rolled_back.extend(ids)
            return
        while True:  # the same ids until acknowledged, even when asked to stop
            try:
                await self._write(batch, roll_back=False)
                break
            except DomainError:
                raise  # the write itself is wrong: a bug of the test, not a fault
            except Exception as exc:  # noqa: BLE001 - every failure is retried, and counted
                self.failures[type(exc).__name__] = self.failures.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.05)
        self.acknowledged.extend(ids)

    def start(self, count: int) -> None:
        async def run():
            while not self._stop.is_set():
                await self.one()
                await asyncio.sleep(PACE_SECONDS)

        self._tasks = [asyncio.create_task(run()) for _ in range(count)]

    async def wait_acknowledged(self, more_than: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) <= more_than:
            assert time.monotonic() < deadline, f"producers stuck at {len(self.acknowledged)}: {self.failures}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout=120)


@dataclasses.dataclass
class Account:
    who: accounts.Principal
    endpoint_id: str
    writes: Writes


async def account(sessions, endpoint_url: str) -> Account:
    """A new account with one endpoint taking every type and one voucher."""
    async with sessions() as session:
        created = await accounts.create_account(session, "webhook-faults")
        endpoint_id = new_endpoint_id()
        session.add(WebhookEndpoint(account_id=created.id, livemode=False, id=endpoint_id, url=endpoint_url,
                                    description="", event_types=[], secret=new_secret(), enabled=True,
                                    disabled_reason="", created_at=dt.datetime.now(dt.timezone.utc)))
        await session.commit()
    who = accounts.Principal(account_id=created.id, mode="test", key_id=uuid.uuid4(),
                             scopes=frozenset(accounts.SCOPES))
    voucher = f"v_{uuid.uuid4().hex[:16]}"
    async with sessions() as session:
        await voucher_ingest.create_vouchers(session, who, [vpb.VoucherRecord(
            id=voucher, code=voucher.upper(), currency="USD",
            created_at=timestamp_of(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)))], "vouchers")
    async with sessions() as session:
        await voucher_ingest.create_customers(session, who, [vpb.CustomerRecord(
            id=CUSTOMER, segment="retail", region="eu")], "customers")
    return Account(who, endpoint_id, Writes(sessions, who, voucher))


@contextlib.asynccontextmanager
async def delivery_workers(engine, settings: WebhookSettings = SETTINGS, count: int = WORKERS):
    """`count` in-process delivery workers (the service's), until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(engine, settings, count, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def deliveries(engine, who) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT status, count(*) FROM webhook_deliveries WHERE account_id = :a "
                                        "GROUP BY status"), {"a": who.account_id})).all()
    return {status: n for status, n in rows}


async def wait_delivered(engine, who, receiver: Receiver) -> None:
    """Until no delivery of the account is pending (bounded: a delivery that never
    succeeds fails the test with the queue's state)."""
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while (state := await deliveries(engine, who)).get("pending"):
        assert time.monotonic() < deadline, (
            f"deliveries still pending after {DELIVERY_DEADLINE:.0f} s: {state}, {len(receiver.received)} received")
        await asyncio.sleep(0.1)
    assert set(state) <= {"succeeded"}, state


@dataclasses.dataclass
class Counts:
    committed: int  # events in webhook_events (every committed write's)
    delivered: int  # distinct event ids the receiver got
    received: int  # every request the receiver got
    duplicates: int  # received - delivered: all retries of an event already received
    rolled_back_writes: int
    rolled_back_events: int  # events of rolled-back writes, stored or received: must be 0
    acknowledged_writes: int


async def count_and_check(engine, acct: Account, receiver: Receiver) -> Counts:
    """The figures of a scenario, and the guarantees on them."""
    async with engine.connect() as conn:
        events = {row.id: row.body for row in await conn.execute(
            text("SELECT id, body FROM webhook_events WHERE account_id = :a"), {"a": acct.who.account_id})}
        stored = {row.id for row in await conn.execute(
            text("SELECT id FROM voucher_redemptions WHERE account_id = :a"), {"a": acct.who.account_id})}
    redemption_of = {event_id: json.loads(body)["data"]["voucherRedemption"]["id"] for event_id, body in events.items()}
    acknowledged, rolled_back = set(acct.writes.acknowledged), set(acct.writes.rolled_back)
    # One event per stored write, and only for stored writes.
    assert sorted(redemption_of.values()) == sorted(stored), "events and committed writes differ"
    # Producers retry every unacknowledged batch until it is acknowledged: so what is
    # stored is exactly what was acknowledged (a batch committed whose answer was lost is
    # acknowledged on its retry, as duplicates, and emits nothing the second time).
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged writes not stored"
    assert stored <= acknowledged, f"{len(stored - acknowledged)} stored writes never acknowledged"
    assert not rolled_back & stored, "a rolled-back write was stored"
    rolled_back_events = {e for e, r in redemption_of.items() if r in rolled_back}
    # Delivered: every committed event, and nothing else.
    first: dict[str, bytes] = {}
    for got in receiver.received:
        assert json.loads(got.body)["id"] == got.event_id, "the header and the body name different events"
        assert got.event_id in events, f"received {got.event_id}, which no committed write emitted"
        assert got.body == events[got.event_id].encode(), "a delivery's bytes differ from the event's"
        # A duplicate is a retry of the same event id: the same bytes as its first delivery.
        assert first.setdefault(got.event_id, got.body) == got.body
    missing = set(events) - set(first)
    assert not missing, f"{len(missing)} of {len(events)} committed events never delivered"
    received_rolled_back = {got.event_id for got in receiver.received} & rolled_back_events
    return Counts(committed=len(events), delivered=len(first), received=len(receiver.received),
                  duplicates=len(receiver.received) - len(first), rolled_back_writes=len(rolled_back),
                  rolled_back_events=len(rolled_back_events | received_rolled_back),
                  acknowledged_writes=len(acknowledged))


def report(scenario: str, counts: Counts, **figures) -> None:
    record(scenario, family="webhooks", **dataclasses.asdict(counts), **figures)


async def _pending_with_error(engine, who, like: str) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(text(
            "SELECT count(*) FROM webhook_deliveries WHERE account_id = :a AND status = 'pending' "
            "AND last_error LIKE :like"), {"a": who.account_id, "like": like})).scalar_one())


async def _wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------
# The receiver's faults, with in-process workers on the shared test database


async def test_a_receiver_down_for_a_while_gets_every_committed_event_once_it_is_up(deps, receiver):
    acct = await account(deps.sessions, receiver.url())
    async with delivery_workers(deps.engine):
        acct.writes.start(2 * SCALE)
        await acct.writes.wait_acknowledged(more_than=2 * BATCH)
        receiver.stop()  # the port is closed: connections are refused
        await _wait_for(lambda: _pending_with_error(deps.engine, acct.who, "connection:%"),
                        "a refused delivery waiting for its retry")
        await asyncio.sleep(1.0 * SCALE)  # down for a while; producers keep writing
        during = len(acct.writes.acknowledged)
        receiver.start()
        await acct.writes.wait_acknowledged(more_than=during + 2 * BATCH)
        await acct.writes.stop()
        await wait_delivered(deps.engine, acct.who, receiver)
    counts = await count_and_check(deps.engine, acct, receiver)
    assert counts.rolled_back_events == 0 and counts.rolled_back_writes > 0
    report("receiver down, then up", counts, outage_s=1.0 * SCALE)


async def test_a_receiver_slower_than_the_timeout_gets_every_event_duplicates_only_as_the_same_id(deps, receiver):
    receiver.slow = 3 * SCALE  # the first requests answer after 3 timeouts, then at once
    receiver.slow_seconds = 3 * SHORT_TIMEOUT.timeout_seconds
    acct = await account(deps.sessions, receiver.url())
    async with delivery_workers(deps.engine, SHORT_TIMEOUT):
        acct.writes.start(2 * SCALE)
        await acct.writes.wait_acknowledged(more_than=4 * BATCH * SCALE)
        await acct.writes.stop()
        await wait_delivered(deps.engine, acct.who, receiver)
    counts = await count_and_check(deps.engine, acct, receiver)
    assert receiver.slow == 0, "fewer requests than slow answers"
    # Each timed-out request was received, and its event sent again: a duplicate.
    assert counts.duplicates >= 3 * SCALE
    assert counts.rolled_back_events == 0 and counts.rolled_back_writes > 0
    report("receiver slower than the timeout", counts, slow_answers=3 * SCALE)


async def test_a_receiver_answering_500_then_200_gets_every_event_duplicates_only_as_the_same_id(deps, receiver):
    receiver.statuses = [500] * (3 * SCALE) + [503] * SCALE
    acct = await account(deps.sessions, receiver.url())
    async with delivery_workers(deps.engine):
        acct.writes.start(2 * SCALE)
        await acct.writes.wait_acknowledged(more_than=4 * BATCH * SCALE)
        await acct.writes.stop()
        await wait_delivered(deps.engine, acct.who, receiver)
    counts = await count_and_check(deps.engine, acct, receiver)
    assert receiver.statuses == []
    assert counts.duplicates >= 4 * SCALE  # one more attempt per 5xx (and per timeout, if any)
    assert counts.rolled_back_events == 0 and counts.rolled_back_writes > 0
    report("receiver answering 500/503, then 200", counts, error_answers=4 * SCALE)


# ---------------------------------------------------------------------------------------
# The worker SIGKILLed mid-send: `python -m services.webhooks.worker` processes


def spawn_worker(database_url: str, log: pathlib.Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "WEBHOOK_ALLOW_PRIVATE_URLS": "1", "WEBHOOK_WORKERS": "1",
           "WEBHOOK_LEASE_SECONDS": str(SETTINGS.lease_seconds), "WEBHOOK_POLL_SECONDS": "0.05",
           "WEBHOOK_RETRY_BASE_SECONDS": str(SETTINGS.retry_base_seconds),
           "WEBHOOK_RETRY_MAX_DELAY_SECONDS": str(SETTINGS.retry_max_delay_seconds),
           "WEBHOOK_TIMEOUT_SECONDS": str(SETTINGS.timeout_seconds), "LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen"), str(ROOT / "clients" / "python")])}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.webhooks.worker"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _end(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


async def test_a_worker_sigkilled_mid_send_leaves_every_event_to_the_next_one(deps, receiver, database_url, tmp_path):
    acct = await account(deps.sessions, receiver.url())
    for _ in range(4 * SCALE):  # written first: the kills below need queued deliveries
        await acct.writes.one()
    log = tmp_path / "worker.log"
    kills = SCALE + 1
    for _ in range(kills):
        arrived, release = receiver.hold_next()
        worker = spawn_worker(database_url, log)
        try:
            assert await asyncio.to_thread(arrived.wait, 60), f"no request arrived: {log.read_text()}"
        finally:
            _end(worker, signal.SIGKILL)  # mid-send: the receiver has the request, no answer was read
        release.set()
    worker = spawn_worker(database_url, log)
    try:
        await wait_delivered(deps.engine, acct.who, receiver)
    finally:
        _end(worker, signal.SIGTERM)
    assert worker.returncode == 0, log.read_text()
    counts = await count_and_check(deps.engine, acct, receiver)
    assert counts.duplicates >= kills  # each killed send once more, after its lease ran out
    assert counts.rolled_back_events == 0 and counts.rolled_back_writes > 0
    report("delivery worker SIGKILLed mid-send", counts, kills=kills)


# ---------------------------------------------------------------------------------------
# PostgreSQL stopped hard while producers write and workers deliver


async def test_postgres_stopped_hard_delivers_every_acknowledged_write_and_nothing_rolled_back(owned_pg, receiver):
    pg, url = owned_pg
    engine = db.create_engine(url, pool_size=4 + 2 * SCALE)
    sessions = db.sessionmaker(engine)
    try:
        acct = await account(sessions, receiver.url())
        async with delivery_workers(engine):
            acct.writes.start(2 * SCALE)
            await acct.writes.wait_acknowledged(more_than=4 * BATCH)
            await asyncio.to_thread(pg.stop_immediately)
            stopped_at = time.monotonic()
            await asyncio.sleep(1.0 * SCALE)  # producers and workers fail and retry meanwhile
            during = len(acct.writes.acknowledged)
            await asyncio.to_thread(pg.start)
            await acct.writes.wait_acknowledged(more_than=during + 4 * BATCH)
            recovered_s = time.monotonic() - stopped_at
            await acct.writes.stop()
            await wait_delivered(engine, acct.who, receiver)
        counts = await count_and_check(engine, acct, receiver)
    finally:
        await engine.dispose()
    assert acct.writes.failures, "the stop did not interrupt the producers"
    assert counts.rolled_back_events == 0 and counts.rolled_back_writes > 0
    report("PostgreSQL stopped hard during writes", counts, outage_s=1.0 * SCALE,
           producer_failures=sum(acct.writes.failures.values()), recovered_s=round(recovered_s, 2))
