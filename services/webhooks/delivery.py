"""The delivery worker: claims due deliveries, posts them signed, records the outcome
(docs/webhooks.md, "Delivery").

Any number of workers, in the webhooks service (WEBHOOK_WORKERS asyncio tasks) and in
`python -m services.webhooks.worker` processes, share the `webhook_deliveries` queue.
A claim is two steps so that each statement stays in one account under Citus
(docs/scaling.md): the oldest due deliveries of any account are read without a lock, then
one is leased in its account, under `FOR UPDATE SKIP LOCKED` of its endpoint's row and
only when no other delivery of that endpoint is in flight: one attempt at a time per
endpoint, so a slow receiver holds one worker at most and never another account's events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass

import httpx
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from platform_core.distribution import CROSS_ACCOUNT
from services.webhooks import urls
from services.webhooks.config import WebhookSettings

log = logging.getLogger("services.webhooks.delivery")

ATTEMPTS = Counter("partnerlytics_webhook_attempts", "Webhook delivery attempts, by outcome "
                   "(succeeded, retry, failed).", ["outcome"])

SIGNATURE_HEADER = "Partnerlytics-Signature"
USER_AGENT = "Partnerlytics-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256, keyed by the secret's UTF-8 bytes, of `<timestamp>.<body>`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex>[,v1=<hex of the previous secret>]`."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets_)])


def retry_delay(attempts: int, settings: WebhookSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: base * 2^(attempts-1), capped, times 0.5 to 1."""
    ceiling = min(settings.retry_max_delay_seconds, settings.retry_base_seconds * 2 ** min(attempts - 1, 40))
    return ceiling * (0.5 + rng.random() / 2)


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


@dataclass(frozen=True)
class Claimed:
    account_id: object
    livemode: bool
    endpoint_id: str
    event_id: str
    attempts: int
    url: str
    secrets: list[str]
    body: str
    # The delivery's start (the event's time, or its replay's): the retry window counts from it.
    started_at: dt.datetime


CLAIM_CANDIDATES = 16
_CROSS_ACCOUNT = text(CROSS_ACCOUNT)
_DUE = "d.status = 'pending' AND d.next_attempt_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now())"
_CANDIDATES = text(f"""
    SELECT d.account_id, d.livemode, d.endpoint_id FROM webhook_deliveries d
    WHERE {_DUE} GROUP BY 1, 2, 3 ORDER BY min(d.next_attempt_at) LIMIT :n
""")
_LOCK_ENDPOINT = text("""
    SELECT url, secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous
    FROM webhook_endpoints WHERE account_id = :a AND livemode = :l AND id = :e AND enabled
    FOR UPDATE SKIP LOCKED
""")
_IN_FLIGHT = text("""
    SELECT 1 FROM webhook_deliveries WHERE account_id = :a AND livemode = :l AND endpoint_id = :e
    AND status = 'pending' AND leased_until >= now() LIMIT 1
""")
_LEASE = text(f"""
    WITH next AS (
        SELECT d.event_id FROM webhook_deliveries d
        WHERE d.account_id = :a AND d.livemode = :l AND d.endpoint_id = :e AND {_DUE}
        ORDER BY d.next_attempt_at, d.created_at LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => :lease), attempts = d.attempts + 1
    FROM next, webhook_events ev
    WHERE d.account_id = :a AND d.livemode = :l AND d.endpoint_id = :e AND d.event_id = next.event_id
      AND ev.account_id = :a AND ev.livemode = :l AND ev.id = next.event_id
    RETURNING d.event_id, d.attempts, ev.body, d.created_at
""")
_RECORD = text("""
    UPDATE webhook_deliveries SET status = :status, leased_until = NULL, last_attempt_at = :at,
        response_code = :code, latency_ms = :ms, last_error = :error, next_attempt_at = :next
    WHERE account_id = :a AND livemode = :l AND endpoint_id = :e AND event_id = :ev
""")
_DISABLE = text("""
    UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'gone'
    WHERE account_id = :a AND livemode = :l AND id = :e
""")


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded, pending (retry), failed
    code: int | None
    latency_ms: int | None
    error: str
    next_attempt_in: float = 0.0
    disable: bool = False


class DeliveryWorker:
    """Claims one due delivery at a time and posts it."""

    def __init__(self, engine: AsyncEngine, settings: WebhookSettings, *, client: httpx.AsyncClient | None = None,
                 rng: random.Random | None = None) -> None:
        self._engine = engine
        self._settings = settings
        self._client = client
        self._rng = rng or random.Random()

    async def claim(self) -> Claimed | None:
        async with self._engine.begin() as conn:
            # The one read across accounts (a multi-shard statement on Citus, marked as such).
            await conn.execute(_CROSS_ACCOUNT)
            candidates = (await conn.execute(_CANDIDATES, {"n": CLAIM_CANDIDATES})).all()
        for account_id, livemode, endpoint_id in candidates:
            params = {"a": account_id, "l": livemode, "e": endpoint_id}
            async with self._engine.begin() as conn:
                endpoint = (await conn.execute(_LOCK_ENDPOINT, params)).first()
                if endpoint is None or (await conn.execute(_IN_FLIGHT, params)).first() is not None:
                    continue
                row = (await conn.execute(_LEASE, {**params, "lease": self._settings.lease_seconds})).first()
            if row is not None:
                secrets_ = [endpoint.secret] + ([endpoint.previous] if endpoint.previous else [])
                return Claimed(account_id, livemode, endpoint_id, row.event_id, row.attempts, endpoint.url,
                               secrets_, row.body, row.created_at)
        return None

    async def attempt(self, job: Claimed) -> Outcome:
        """Posts once; the outcome says what happens next."""
        try:
            await urls.check(job.url, self._settings.allow_private_urls)
        except urls.RefusedUrl as refused:
            return self._retry(job, None, None, str(refused)[:200], None)
        body = job.body.encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(job.secrets, stamp, body), "Partnerlytics-Event-Id": job.event_id,
        }
        started = time.monotonic()
        try:
            response = await self._http().post(job.url, content=body, headers=headers,
                                               timeout=self._settings.timeout_seconds, follow_redirects=False)
        except httpx.TimeoutException:
            return self._retry(job, None, _ms(started), "timeout", None)
        except httpx.HTTPError as error:
            return self._retry(job, None, _ms(started), f"connection: {type(error).__name__}", None)
        latency = _ms(started)
        code = response.status_code
        if 200 <= code < 300:
            return Outcome("succeeded", code, latency, "")
        if code == 410:
            return Outcome("failed", code, latency, "gone: endpoint disabled", disable=True)
        if code == 429 or code >= 500:
            return self._retry(job, code, latency, f"http {code}", retry_after(response.headers.get("retry-after"),
                                                                               time.time()))
        return Outcome("failed", code, latency, f"http {code}")

    def _retry(self, job: Claimed, code, latency, error: str, after: float | None) -> Outcome:
        delay = retry_delay(job.attempts, self._settings, self._rng)
        if after is not None:
            delay = max(delay, after)
        deadline = job.started_at.timestamp() + self._settings.retry_window_seconds
        if time.time() + delay > deadline:
            return Outcome("failed", code, latency, f"{error}; gave up after {job.attempts} attempts"[:200])
        return Outcome("pending", code, latency, error, next_attempt_in=delay)

    async def record(self, job: Claimed, outcome: Outcome) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        params = {"a": job.account_id, "l": job.livemode, "e": job.endpoint_id, "ev": job.event_id}
        async with self._engine.begin() as conn:
            await conn.execute(_RECORD, {
                **params, "status": outcome.status, "at": now, "code": outcome.code, "ms": outcome.latency_ms,
                "error": outcome.error, "next": now + dt.timedelta(seconds=outcome.next_attempt_in)})
            if outcome.disable:
                await conn.execute(_DISABLE, params)
        ATTEMPTS.labels("retry" if outcome.status == "pending" else outcome.status).inc()
        log.info("webhook delivery", extra={"fields": {
            "endpoint": job.endpoint_id, "event": job.event_id, "attempt": job.attempts, "status": outcome.status,
            "code": outcome.code, "latency_ms": outcome.latency_ms}})

    async def run_once(self) -> bool:
        """Claims and delivers one; False when nothing was due."""
        job = await self.claim()
        if job is None:
            return False
        await self.record(job, await self.attempt(job))
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # the database may be down for a while: try again after a pause
                log.warning("webhook delivery failed", exc_info=True)
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), self._settings.poll_seconds)
                except TimeoutError:
                    pass

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
