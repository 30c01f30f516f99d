"""The SessionService servicer: read-only sessions (platform_core/sessions.py), hosted by
the instance service under the partner prefix."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from partnerlytics.instance.v1 import sessions_pb2 as api
from partnerlytics.instance.v1 import sessions_pb2_grpc as api_grpc

from platform_core import context, sessions
from platform_core.config import ConfigError, env_int
from platform_core.errors import NotFound
from platform_core.interceptor import MethodPolicy
from platform_core.params import parse_uuid
from platform_core.server import Deps, ServiceSpec

SESSIONS = api.DESCRIPTOR.services_by_name["SessionService"].full_name


def session_ttl_seconds() -> int:
    """SESSION_TTL_SECONDS (default 3600), 1 to 86400."""
    ttl = env_int("SESSION_TTL_SECONDS", sessions.DEFAULT_TTL_SECONDS)
    if not 0 < ttl <= sessions.MAX_TTL_SECONDS:
        raise ConfigError(f"configuration error: SESSION_TTL_SECONDS must be 1..{sessions.MAX_TTL_SECONDS}")
    return ttl


class SessionServicer(api_grpc.SessionServiceServicer):
    def __init__(self, deps: Deps, ttl_seconds: int) -> None:
        self._deps = deps
        self._ttl = ttl_seconds

    async def CreateSession(self, request, _context):
        ctx = context.current.get()
        now = dt.datetime.now(dt.timezone.utc)
        async with self._deps.sessions() as session:
            row, token = await sessions.create_session(session, ctx.principal, self._ttl, now)
            await session.commit()
        expires = Timestamp()
        expires.FromDatetime(row.expires_at)
        return api.CreateSessionResponse(success=True, data=api.Session(
            id=str(row.id), token=token, scope=sessions.SESSION_SCOPE, expires_at=expires,
            expires_in=self._ttl, livemode=ctx.principal.livemode,
        ))

    async def RevokeSession(self, request, _context):
        ctx = context.current.get()
        session_id = parse_uuid(request.session_id)
        missing = NotFound(message="Session not found", details=f"No session with id {request.session_id!r}.")
        if session_id is None:
            raise missing
        async with self._deps.sessions() as session:
            revoked = await sessions.revoke_session(session, ctx.principal, session_id)
            await session.commit()
        if not revoked:
            raise missing
        # This process forgets the token at once; the others within AUTH_CACHE_SECONDS.
        if ctx.principal.session_id == session_id:
            self._deps.authenticator.forget(_context.invocation_metadata())
        return api.RevokeSessionResponse(success=True, id=str(session_id))


def session_specs(deps: Deps) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            full_name=SESSIONS,
            add_to_server=api_grpc.add_SessionServiceServicer_to_server,
            servicer=SessionServicer(deps, session_ttl_seconds()),
            policies={
                # Creating a session writes: a session cannot mint another one.
                f"/{SESSIONS}/CreateSession": MethodPolicy("analytics:read", writes=True),
                f"/{SESSIONS}/RevokeSession": MethodPolicy("analytics:read"),
            },
        ),
    ]
