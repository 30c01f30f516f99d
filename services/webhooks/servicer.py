"""The WebhookService servicer: an account's endpoints (docs/webhooks.md, "Endpoints")."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from partnerlytics.webhooks.v1 import webhooks_pb2 as pb
from partnerlytics.webhooks.v1 import webhooks_pb2_grpc as pb_grpc
from sqlalchemy import delete, select, text

from platform_core import context
from platform_core.errors import FieldViolation, NotFound, invalid
from platform_core.interceptor import MethodPolicy
from platform_core.server import Deps, ServiceSpec
from services.webhooks import outbox, urls
from services.webhooks.config import WebhookSettings
from services.webhooks.models import WebhookEndpoint, new_endpoint_id

SERVICE = pb.DESCRIPTOR.services_by_name["WebhookService"].full_name
SCOPE = "webhooks:write"
# The types an endpoint can subscribe to (webhook.test always reaches the endpoint it names).
SUBSCRIBABLE = tuple(t for t in outbox.EVENT_TYPES if t != "webhook.test")
DEFAULT_PREVIOUS_HOURS = 24
MAX_PREVIOUS_HOURS = 168


class WebhookEndpointNotFound(NotFound):
    """An unknown endpoint id, or another account's or mode's (the same answer, on purpose:
    the body names no id, so the two cannot be told apart)."""

    reason = "WEBHOOK_ENDPOINT_NOT_FOUND"


def _unknown_event():
    """An event id the account and mode do not have: a bad field of the body (the path's
    endpoint exists), not a missing resource."""
    return invalid([FieldViolation("event_id", "event_id names an unknown event of this account and mode",
                                   "unknown_event")])


# The RPCs that change nothing (the others refuse a read-only session, whatever its scopes).
READS = ("ListWebhookEndpoints", "GetWebhookEndpoint", "ListWebhookDeliveries")
# Their rate-limit buckets, per account (platform_core/config.py DEFAULT_RATE_LIMITS).
READ_BUCKET = "webhooks.read"
WRITE_BUCKET = "webhooks.write"


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def _message(row: WebhookEndpoint) -> pb.WebhookEndpoint:
    return pb.WebhookEndpoint(
        id=row.id, url=row.url, description=row.description, event_types=row.event_types, enabled=row.enabled,
        disabled_reason=row.disabled_reason, created_at=outbox.timestamp(row.created_at), livemode=row.livemode)


class WebhookServicer(pb_grpc.WebhookServiceServicer):
    def __init__(self, deps: Deps, settings: WebhookSettings) -> None:
        self._sessions = deps.sessions
        self._settings = settings

    async def _url(self, url: str) -> str:
        try:
            await urls.check(url, self._settings.allow_private_urls)
        except urls.RefusedUrl as refused:
            raise invalid([FieldViolation("url", str(refused), "invalid_url")]) from None
        return url

    @staticmethod
    def _types(types) -> list[str]:
        unknown = [t for t in types if t not in SUBSCRIBABLE]
        if unknown:
            raise invalid([FieldViolation("event_types", f"unknown event type {unknown[0]!r}; known: "
                                          + ", ".join(SUBSCRIBABLE), "invalid_event_type")])
        return list(dict.fromkeys(types))

    @staticmethod
    def _description(text: str) -> str:
        if len(text) > 200 or "\x00" in text:
            raise invalid([FieldViolation("description", "description must be at most 200 characters",
                                          "too_long")])
        return text

    async def _find(self, session, endpoint_id: str, *, lock: bool = True) -> WebhookEndpoint:
        """The caller's endpoint, locked for the change that follows unless `lock` is false."""
        who = context.principal()
        row = None
        # An id that cannot be one is not looked up (PostgreSQL refuses a NUL in text).
        if endpoint_id and len(endpoint_id) <= 19 and "\x00" not in endpoint_id:
            row = await session.get(WebhookEndpoint, (who.account_id, who.livemode, endpoint_id),
                                    with_for_update=lock)
        if row is None:
            raise WebhookEndpointNotFound(message="Webhook endpoint not found")
        return row

    async def CreateWebhookEndpoint(self, request, _context):
        who = context.principal()
        url = await self._url(request.url)
        row = WebhookEndpoint(
            account_id=who.account_id, livemode=who.livemode, id=new_endpoint_id(), url=url,
            description=self._description(request.description), event_types=self._types(request.event_types),
            secret=new_secret(), enabled=True, disabled_reason="", created_at=dt.datetime.now(dt.timezone.utc))
        async with self._sessions() as session:
            session.add(row)
            await session.commit()
        return pb.CreateWebhookEndpointResponse(endpoint=_message(row), secret=row.secret)

    async def ListWebhookEndpoints(self, request, _context):
        who = context.principal()
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.account_id == who.account_id,
                                              WebhookEndpoint.livemode == who.livemode)
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))).all()
        return pb.ListWebhookEndpointsResponse(endpoints=[_message(r) for r in rows])

    async def GetWebhookEndpoint(self, request, _context):
        async with self._sessions() as session:
            row = await self._find(session, request.endpoint_id, lock=False)
        return pb.GetWebhookEndpointResponse(endpoint=_message(row))

    async def UpdateWebhookEndpoint(self, request, _context):
        url = await self._url(request.url) if request.HasField("url") else None
        # Unknown types are refused even when they would not replace the list.
        types = self._types(request.event_types)
        types = types if request.replace_event_types else None
        description = self._description(request.description) if request.HasField("description") else None
        async with self._sessions() as session:
            row = await self._find(session, request.endpoint_id)
            if url is not None:
                row.url = url
            if types is not None:
                row.event_types = types
            if description is not None:
                row.description = description
            if request.HasField("enabled"):
                row.enabled = request.enabled
                row.disabled_reason = "" if request.enabled else "by_account"
            await session.commit()
            return pb.UpdateWebhookEndpointResponse(endpoint=_message(row))

    async def DeleteWebhookEndpoint(self, request, _context):
        who = context.principal()
        async with self._sessions() as session:
            await self._find(session, request.endpoint_id)
            await session.execute(delete(WebhookEndpoint).where(
                WebhookEndpoint.account_id == who.account_id, WebhookEndpoint.livemode == who.livemode,
                WebhookEndpoint.id == request.endpoint_id))
            await session.commit()
        return pb.DeleteWebhookEndpointResponse()

    async def RotateWebhookEndpointSecret(self, request, _context):
        hours = request.previous_secret_hours or DEFAULT_PREVIOUS_HOURS
        if not 0 < hours <= MAX_PREVIOUS_HOURS:
            raise invalid([FieldViolation("previous_secret_hours", f"previous_secret_hours must be 0 to "
                                          f"{MAX_PREVIOUS_HOURS}", "out_of_range")])
        async with self._sessions() as session:
            row = await self._find(session, request.endpoint_id)
            row.previous_secret = row.secret
            row.previous_secret_expires_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)
            row.secret = new_secret()
            await session.commit()
            return pb.RotateWebhookEndpointSecretResponse(endpoint=_message(row), secret=row.secret)

    async def SendTestWebhookEvent(self, request, _context):
        async with self._sessions() as session:
            row = await self._find(session, request.endpoint_id)
            if not row.enabled:
                raise invalid([FieldViolation("endpoint_id", "the endpoint is disabled", "disabled")])
            [event_id] = await outbox.emit(session, context.principal(),
                                           [("webhook.test", pb.TestPing(endpoint_id=row.id))], only_endpoint=row.id)
            await session.commit()
        return pb.SendTestWebhookEventResponse(event_id=event_id)


    async def ListWebhookDeliveries(self, request, _context):
        who = context.principal()
        limit = request.limit or DEFAULT_LOG_LIMIT
        if not 0 < limit <= MAX_LOG_LIMIT:
            raise invalid([FieldViolation("limit", f"limit must be 0 to {MAX_LOG_LIMIT}", "out_of_range")])
        before = request.before.ToDatetime(tzinfo=dt.timezone.utc) if request.HasField("before") else None
        async with self._sessions() as session:
            await self._find(session, request.endpoint_id)
            rows = (await session.execute(_LOG, {"a": who.account_id, "l": who.livemode, "e": request.endpoint_id,
                                                 "before": before, "n": limit})).all()
        return pb.ListWebhookDeliveriesResponse(deliveries=[_delivery(r) for r in rows])

    async def ReplayWebhookEvents(self, request, _context):
        who = context.principal()
        ranged = bool(request.start) and bool(request.end)
        if not request.event_id and not ranged:
            raise invalid([FieldViolation("event_id", "event_id, or start and end, must be given", "required")])
        start = _moment("start", request.start) if ranged and not request.event_id else None
        end = _moment("end", request.end) if ranged and not request.event_id else None
        if start is not None and not start < end:
            raise invalid([FieldViolation("end", "end must be after start", "invalid_range")])
        if "\x00" in request.event_id or len(request.event_id) > MAX_EVENT_ID:
            raise _unknown_event()  # no such id can exist
        params = {"a": who.account_id, "l": who.livemode, "e": request.endpoint_id, "id": request.event_id or None,
                  "start": start, "end": end, "n": MAX_REPLAY}
        async with self._sessions() as session:
            row = await self._find(session, request.endpoint_id)
            if not row.enabled:
                raise invalid([FieldViolation("endpoint_id", "the endpoint is disabled", "disabled")])
            queued = (await session.execute(_REPLAY, params)).rowcount
            if request.event_id and not (await session.execute(_EVENT_EXISTS, params)).first():
                raise _unknown_event()
            await session.commit()
        return pb.ReplayWebhookEventsResponse(queued=queued)


# An RFC 3339 date-time (docs/openapi.json's pattern for the replay's range: years 0001-9999).
MOMENT = re.compile(r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
                    r":[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII)
MAX_EVENT_ID = 64


def _moment(field: str, value: str) -> dt.datetime:
    try:
        if MOMENT.fullmatch(value):
            return dt.datetime.fromisoformat(value)  # digits past the microsecond are dropped
    except ValueError:  # e.g. 2026-02-30
        pass
    raise invalid([FieldViolation(field, f"{field} must be an RFC 3339 date-time, e.g. 2026-12-03T00:00:00Z",
                                  "invalid_date")])


DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 1000
MAX_REPLAY = 10_000
_LOG = text("""
    SELECT d.event_id, ev.type, d.status, d.attempts, d.response_code, d.latency_ms, d.last_error, d.created_at,
           d.last_attempt_at, d.next_attempt_at
    FROM webhook_deliveries d JOIN webhook_events ev
        ON ev.account_id = d.account_id AND ev.livemode = d.livemode AND ev.id = d.event_id
    WHERE d.account_id = :a AND d.livemode = :l AND d.endpoint_id = :e
      AND (CAST(:before AS timestamptz) IS NULL OR d.created_at < :before)
    ORDER BY d.created_at DESC, d.event_id DESC LIMIT :n
""")
# The events again as pending deliveries to the endpoint (a finished delivery row starts
# over: a new start for its 3-day window; a pending one is left alone). The new times are
# the inserted row's (EXCLUDED), not now() again: Citus refuses a function that is not
# IMMUTABLE in the DO UPDATE SET of a distributed table.
_REPLAY = text("""
    INSERT INTO webhook_deliveries (account_id, livemode, endpoint_id, event_id, next_attempt_at, created_at)
    SELECT ev.account_id, ev.livemode, :e, ev.id, now(), now() FROM webhook_events ev
    WHERE ev.account_id = :a AND ev.livemode = :l
      AND (CAST(:id AS text) IS NULL OR ev.id = :id)
      AND (CAST(:id AS text) IS NOT NULL OR (ev.created_at >= :start AND ev.created_at < :end))
    ORDER BY ev.created_at LIMIT :n
    ON CONFLICT (account_id, livemode, endpoint_id, event_id) DO UPDATE
        SET status = 'pending', next_attempt_at = EXCLUDED.next_attempt_at, created_at = EXCLUDED.created_at,
            leased_until = NULL, last_error = ''
        WHERE webhook_deliveries.status <> 'pending'
""")
_EVENT_EXISTS = text("SELECT 1 FROM webhook_events WHERE account_id = :a AND livemode = :l AND id = :id")


def _delivery(row) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        event_id=row.event_id, event_type=row.type, status=row.status, attempts=row.attempts,
        response_code=row.response_code or 0, latency_ms=row.latency_ms or 0, last_error=row.last_error,
        created_at=outbox.timestamp(row.created_at), next_attempt_at=outbox.timestamp(row.next_attempt_at))
    if row.last_attempt_at is not None:
        message.last_attempt_at.CopyFrom(outbox.timestamp(row.last_attempt_at))
    return message


def service_specs(deps: Deps, settings: WebhookSettings) -> list[ServiceSpec]:
    return [ServiceSpec(
        full_name=SERVICE,
        add_to_server=pb_grpc.add_WebhookServiceServicer_to_server,
        servicer=WebhookServicer(deps, settings),
        policies={f"/{SERVICE}/{m.name}": MethodPolicy(SCOPE, READ_BUCKET if m.name in READS else WRITE_BUCKET,
                                                       writes=m.name not in READS)
                  for m in pb.DESCRIPTOR.services_by_name["WebhookService"].methods},
    )]
