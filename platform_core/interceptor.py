"""The one server interceptor: request id, authentication, rate limiting, error mapping,
request metrics, logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import grpc
import psycopg
import psycopg.errors
import redis.exceptions
import sqlalchemy.exc

from platform_core import context, metrics
from platform_core.audit import AuditWriter, audited
from platform_core.auth import Authenticator
from platform_core.errors import (
    DeadlineExceeded,
    DomainError,
    EnvelopeBuilder,
    Internal,
    RateLimited,
    Unavailable,
    error_trailers,
)
from platform_core.ratelimit import Check, Decision, Limiter

log = logging.getLogger("platform_core.rpc")

# At most this many limit keys remembered as refused (platform_core/interceptor.py _alongside).
_REFUSED_KEYS = 4096


def _consume(task: asyncio.Future) -> None:
    """Reads a finished background check's outcome, so that its error is not reported as lost."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class MethodPolicy:
    """What a method needs: a key scope, and the rate-limit bucket it counts against.

    The bucket is per account unless `per_key`, then per key (the affiliate family's
    documented "per token" limit). `scope=None` marks a public method (no key; e.g. the landing track endpoint): it has
    no principal, so it cannot have a per-account bucket and limits itself.
    """

    scope: str | None
    bucket: str | None = None
    per_key: bool = False
    # A method that writes (None: one that needs `ingest:write`) refuses read-only sessions;
    # one that does not must have no side effects: its handler runs alongside its rate-limit
    # check and its answer is discarded when the check refuses (PlatformInterceptor._alongside).
    writes: bool | None = None

    def __post_init__(self) -> None:
        if self.writes is None:
            object.__setattr__(self, "writes", self.scope == "ingest:write")
        if self.scope is None and self.bucket is not None:
            raise ValueError("a public method has no account to count a bucket against")


class PlatformInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary method that has a policy; infrastructure services pass through.

    Order per call: request id; authentication (a failure spends no quota); rate limit;
    the handler; then success metadata or the error trailers. A method of a policed
    service that lacks a policy is refused (fail closed).
    """

    def __init__(
        self,
        *,
        policies: dict[str, MethodPolicy],
        authenticator: Authenticator,
        limiter: Limiter,
        rate_limits: dict[str, tuple[int, int]],
        envelope: EnvelopeBuilder,
        policed_prefixes: tuple[str, ...],
        audit: AuditWriter | None = None,
    ) -> None:
        self._policies = policies
        self._auth = authenticator
        self._limiter = limiter
        self._limits = rate_limits
        self._envelope = envelope
        self._prefixes = policed_prefixes
        self._audit = audit
        self._wrapped: dict[str, tuple[object, object]] = {}
        self._refused: dict[str, float] = {}  # limit key -> until when (monotonic) it is checked first

    async def _admit(
        self, ctx: context.RequestContext, metadata: dict[str, str], method: str, policy: MethodPolicy | None
    ) -> dict[str, str]:
        """Authentication (a failure spends no quota), then the rate limit; returns the
        rate-limit headers, which a 429 raised here carries itself."""
        check = await self._authenticate(ctx, metadata, method, policy)
        return {} if check is None else self._admitted(check, await self._limiter.hit(*check))

    async def _authenticate(self, ctx: context.RequestContext, metadata: dict[str, str], method: str,
                            policy: MethodPolicy | None) -> Check | None:
        """Checks the call's key and scope; returns its rate-limit check (key, limit,
        window), None for a method without a bucket."""
        if policy is None:
            raise Internal(message=f"no access policy for {method}")
        if policy.scope is not None:
            ctx.principal = await self._auth.identify(metadata.get("authorization"))
            self._auth.authorize(ctx.principal, policy.scope, bool(policy.writes))
        if policy.bucket is None:
            return None
        limit, window = self._limits[policy.bucket]
        holder = f"key:{ctx.principal.key_id}" if policy.per_key else ctx.principal.account_id
        return f"{holder}:{policy.bucket}", limit, window

    async def _alongside(self, call: "_Call", method: str, policy: MethodPolicy, inner, request,
                         servicer_context: grpc.aio.ServicerContext):
        """A read-only method's handler run while its rate-limit check waits on the store.

        The answer is the same as checking first: a refusal (429) or a store failure (503)
        wins over whatever the handler returned or raised, which is then discarded. What
        it saves is the limiter's round trip on the answer's latency; what it spends is a
        read for a request that is refused. A key once refused is checked first again (the
        handler runs only once admitted) until a check admits it, so a client that keeps
        calling over its limit costs one discarded read per refusal and process, not one
        per request."""
        check = await self._authenticate(call.ctx, call.metadata, method, policy)
        assert check is not None, "only a method with a bucket runs alongside its check (_wrap)"
        if check[0] in self._refused:
            call.headers = self._admitted(check, await self._limiter.hit(*check))
            return await inner(request, servicer_context)
        limit_check = asyncio.ensure_future(self._limiter.hit(*check))
        try:
            response = await inner(request, servicer_context)
        except Exception:
            call.headers = self._admitted(check, await limit_check)
            raise
        except BaseException:  # cancelled: the check still counts, its outcome unread
            limit_check.add_done_callback(_consume)
            raise
        call.headers = self._admitted(check, await limit_check)
        return response

    def _admitted(self, check: Check, decision: Decision) -> dict[str, str]:
        if not decision.allowed:
            if len(self._refused) >= _REFUSED_KEYS:  # bounded: forget what has expired, else all
                now = time.monotonic()
                self._refused = {k: t for k, t in self._refused.items() if t > now}
                if len(self._refused) >= _REFUSED_KEYS:
                    self._refused.clear()
            self._refused[check[0]] = time.monotonic() + max(decision.retry_after, 1)
            raise RateLimited(
                message="Rate limit exceeded. Please try again later",
                retry_after_seconds=decision.retry_after,
                headers=decision.headers(),
            )
        if self._refused:
            self._refused.pop(check[0], None)
        return decision.headers()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefixes):
            return handler
        # The wrapped handler is built once per method and kept (grpc.aio asks on every call).
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method, self._policies.get(method))
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler, method: str, policy: MethodPolicy | None):
        if handler.unary_stream is not None:
            return self._server_streaming(handler, method, policy)
        if handler.unary_unary is None:  # pragma: no cover - no policed RPC streams requests
            raise RuntimeError(f"{method} is neither unary nor server-streaming")
        inner = handler.unary_unary

        if policy is not None and policy.bucket is not None and not policy.writes and self._limiter.round_trip:

            async def behavior(request, servicer_context: grpc.aio.ServicerContext):
                async with _Scope(self, servicer_context, method) as call:
                    response = await self._alongside(call, method, policy, inner, request, servicer_context)
                    await call.send_headers(servicer_context)
                    return response
        else:

            async def behavior(request, servicer_context: grpc.aio.ServicerContext):
                async with _Scope(self, servicer_context, method) as call:
                    call.headers = await self._admit(call.ctx, call.metadata, method, policy)
                    response = await inner(request, servicer_context)
                    await call.send_headers(servicer_context)
                    return response

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _server_streaming(self, handler, method: str, policy: MethodPolicy | None):
        """The same steps for a server-streaming method (e.g. a file download).

        Everything that can fail for the caller (auth, limits, the handler's checks up to
        its first message) happens before anything is sent, so errors still leave as a
        trailers-only response with the envelope. Initial metadata carries the request id,
        the rate-limit headers and the handler's `ctx.response_headers`.
        """
        inner = handler.unary_stream

        async def behavior(request, servicer_context: grpc.aio.ServicerContext):
            async with _Scope(self, servicer_context, method) as call:
                call.headers = await self._admit(call.ctx, call.metadata, method, policy)
                messages = inner(request, servicer_context).__aiter__()
                try:
                    first = await messages.__anext__()
                except StopAsyncIteration:
                    first = None
                await call.send_headers(servicer_context)
                if first is not None:
                    yield first
                    async for message in messages:
                        yield message

        return grpc.unary_stream_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _record(self, ctx: context.RequestContext, grpc_code: str, http_status: int) -> None:
        """The call's audit row (platform_core/audit.py): queued in memory, written in batches."""
        policy = self._policies.get(ctx.method)
        if self._audit is None or not audited(policy is not None and policy.scope is not None, http_status):
            return
        principal = ctx.principal
        self._audit.record(
            at=ctx.received_at, account_id=principal.account_id if principal else None,
            key_id=principal.key_id if principal else None, endpoint=ctx.method, status=http_status,
            grpc_code=grpc_code, request_id=ctx.request_id,
        )


class _Scope:
    """`async with _Scope(interceptor, servicer_context, method) as call`: one call's
    request context and log line, and the one mapping of every failure to the status,
    envelope and headers it leaves with (a class rather than a generator-based context
    manager: this runs on every call)."""

    __slots__ = ("_interceptor", "_servicer_context", "_method", "_call", "_token", "_started")

    def __init__(self, interceptor: PlatformInterceptor, servicer_context: grpc.aio.ServicerContext,
                 method: str) -> None:
        self._interceptor = interceptor
        self._servicer_context = servicer_context
        self._method = method

    async def __aenter__(self) -> "_Call":
        metadata = {k: v for k, v in self._servicer_context.invocation_metadata() or () if isinstance(v, str)}
        ctx = context.RequestContext(
            request_id=context.request_id_from(metadata.get("x-request-id")),
            method=self._method,
            received_at=dt.datetime.now(dt.timezone.utc),
        )
        self._token = context.current.set(ctx)
        self._started = time.perf_counter()
        self._call = _Call(ctx, metadata)
        return self._call

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        call, ctx = self._call, self._call.ctx
        status, http_status = "OK", 200
        try:
            if isinstance(exc, Exception):  # every failure leaves through the one mapping
                error = _as_domain_error(exc)
                error.headers = {**call.headers, **error.headers, "x-request-id": ctx.request_id}
                status, http_status = error.grpc_code.name, error.http_status
                trailers = error_trailers(error, ctx.request_id, ctx.received_at, self._interceptor._envelope)
                await self._servicer_context.abort(error.grpc_code, error.message, trailing_metadata=trailers)
            elif isinstance(exc, asyncio.CancelledError):  # the caller went away (or the server is stopping)
                status, http_status = "CANCELLED", 499
        finally:
            seconds = time.perf_counter() - self._started
            metrics.for_method(self._method).observe(status, ctx.principal.mode if ctx.principal else "none", seconds)
            # The access line: request id, method, account and mode come from the context.
            log.info("rpc", extra={"fields": {"status": status, "http_status": http_status,
                                              "ms": round(seconds * 1000, 2)}})
            self._interceptor._record(ctx, status, http_status)
            context.current.reset(self._token)
        return False


@dataclass
class _Call:
    """What the interceptor keeps about a call in flight."""

    ctx: context.RequestContext
    metadata: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # the rate limit's, once admitted

    async def send_headers(self, servicer_context: grpc.aio.ServicerContext) -> None:
        await servicer_context.send_initial_metadata(
            (("x-request-id", self.ctx.request_id), *self.headers.items(), *self.ctx.response_headers.items())
        )


def _as_domain_error(exc: Exception) -> DomainError:
    if isinstance(exc, DomainError):
        return exc
    # The statement timeout (DB_STATEMENT_TIMEOUT_MS) fired: the database is overloaded or
    # the query is too expensive. Safe to retry later; 504 as the documents list it.
    if isinstance(getattr(exc, "orig", exc), psycopg.errors.QueryCanceled):
        log.warning("database statement timed out: %s", exc)
        return DeadlineExceeded(
            message="Request timeout. Please try again.",
            details="The database did not answer within the statement timeout.",
        )
    # A dependency that cannot be reached is a 503 (safe to retry), never a 500. When the
    # rate-limit store is down the request is refused too (fail closed, docs/architecture.md).
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, psycopg.OperationalError,
                        sqlalchemy.exc.TimeoutError,  # no pooled connection within DB_POOL_TIMEOUT_S
                        redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)):
        log.warning("dependency unavailable: %s", exc)
        return Unavailable(
            message="The service is temporarily unavailable. Please try again later",
            details="A backing store (database or rate-limit store) cannot be reached.",
            headers={"retry-after": str(Unavailable.retry_after_seconds)},
        )
    log.exception("unexpected error")
    return Internal(message="An unexpected error occurred. Please try again later")
