"""A read-only method's handler runs alongside its rate-limit check, and the answer is the
one of checking first (platform_core/interceptor.py `_alongside`, docs/architecture.md,
"A read runs alongside its check").

In process: a grpc.aio server with the platform's interceptor, a principal from a stub
authenticator, and a limiter whose checks wait until the test lets them go, so that the
order of the handler and the check is observed, not timed.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from platform_core.accounts import Principal
from platform_core.auth import Authenticator
from platform_core.errors import NotFound, partner_envelope
from platform_core.interceptor import MethodPolicy, PlatformInterceptor
from platform_core.ratelimit import Decision

SERVICE = "test.Alongside"
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


class _Auth:
    async def identify(self, authorization):
        return Principal(account_id=ACCOUNT, key_id=uuid.uuid4(), mode="test",
                         scopes=frozenset({"analytics:read", "ingest:write"}))

    authorize = staticmethod(Authenticator.authorize)


class _GatedLimiter:
    """Each check waits for `release`; `allowed` and `fail` decide its outcome."""

    round_trip = True

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.allowed = True
        self.fail: Exception | None = None

    async def hit(self, key, limit, window_seconds):
        self.started.append(key)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return Decision(allowed=self.allowed, limit=limit, remaining=limit - 1 if self.allowed else 0,
                        reset_epoch=2_000_000_000, retry_after=0 if self.allowed else 7)

    async def hit_chain(self, checks):  # pragma: no cover - not used by the interceptor
        return [await self.hit(*c) for c in checks]


async def _serve(limiter, handler_log: list[str], *, raise_not_found: bool = False):
    async def read(request, context):
        handler_log.append("read started" + (" before the check ended" if not limiter.release.is_set() else ""))
        if raise_not_found:
            raise NotFound(message="no such thing")
        return b"answer"

    async def write(request, context):
        handler_log.append("write ran" + (" before the check ended" if not limiter.release.is_set() else ""))
        return b"written"

    policies = {f"/{SERVICE}/Read": MethodPolicy("analytics:read", "reads"),
                f"/{SERVICE}/Write": MethodPolicy("ingest:write", "writes")}
    interceptor = PlatformInterceptor(policies=policies, authenticator=_Auth(), limiter=limiter,
                                      rate_limits={"reads": (10, 60), "writes": (10, 60)},
                                      envelope=partner_envelope, policed_prefixes=(f"/{SERVICE}/",))
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        "Read": grpc.unary_unary_rpc_method_handler(read),
        "Write": grpc.unary_unary_rpc_method_handler(write),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


async def _call(channel, method: str):
    call = channel.unary_unary(f"/{SERVICE}/{method}")(b"", metadata=(("authorization", "Bearer x"),))
    try:
        return await call, dict(await call.initial_metadata()), None
    except grpc.aio.AioRpcError as exc:
        return None, dict(exc.trailing_metadata() or ()), exc.code()


async def _run(limiter, method: str, log: list[str], **kw):
    server, channel = await _serve(limiter, log, **kw)
    try:
        pending = asyncio.ensure_future(_call(channel, method))
        for _ in range(200):  # the check has started, and the handler had its chance to run
            await asyncio.sleep(0.005)
            if limiter.started and (log or method == "Write"):
                break
        seen_before_release = list(log)
        limiter.release.set()
        result = await pending
        limiter.release.clear()
        return seen_before_release, result
    finally:
        await channel.close()
        await server.stop(None)


def test_a_read_runs_while_its_check_waits_and_answers_once_admitted():
    async def main():
        limiter, log = _GatedLimiter(), []
        before, (answer, headers, code) = await _run(limiter, "Read", log)
        assert before == ["read started before the check ended"]
        assert code is None and answer == b"answer"
        assert headers["x-ratelimit-limit"] == "10" and headers["x-ratelimit-remaining"] == "9"
    asyncio.run(main())


def test_a_refusal_wins_over_the_reads_answer_and_the_next_call_is_checked_first():
    async def main():
        limiter, log = _GatedLimiter(), []
        limiter.allowed = False
        server, channel = await _serve(limiter, log)
        try:
            first = asyncio.ensure_future(_call(channel, "Read"))
            while not log:
                await asyncio.sleep(0.005)
            limiter.release.set()
            answer, trailers, code = await first
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and answer is None
            assert trailers["retry-after"] == "7" and trailers["x-ratelimit-remaining"] == "0"
            assert log == ["read started before the check ended"]  # ran, and its answer was discarded

            # The key is now known refused: the check comes first and the read does not run.
            limiter.release.clear()
            second = asyncio.ensure_future(_call(channel, "Read"))
            while len(limiter.started) < 2:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            assert log == ["read started before the check ended"]
            limiter.release.set()
            _answer, _trailers, code = await second
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert len(log) == 1

            # Admitted again: that call still checks first, the one after runs alongside.
            limiter.allowed = True
            answer, _headers, code = await _call(channel, "Read")
            assert code is None and answer == b"answer" and log[-1] == "read started"
            limiter.release.clear()
            third = asyncio.ensure_future(_call(channel, "Read"))
            while len(log) < 3:
                await asyncio.sleep(0.005)
            assert log[-1] == "read started before the check ended"
            limiter.release.set()
            answer, _headers, code = await third
            assert code is None and answer == b"answer"
        finally:
            await channel.close()
            await server.stop(None)
    asyncio.run(main())


def test_a_store_failure_wins_over_the_reads_error():
    async def main():
        limiter, log = _GatedLimiter(), []
        limiter.fail = ConnectionError("limiter store down")
        _before, (answer, trailers, code) = await _run(limiter, "Read", log, raise_not_found=True)
        assert log == ["read started before the check ended"]
        assert code == grpc.StatusCode.UNAVAILABLE and answer is None
    asyncio.run(main())


def test_the_reads_own_error_leaves_with_the_limit_headers_once_admitted():
    async def main():
        limiter, log = _GatedLimiter(), []
        _before, (answer, trailers, code) = await _run(limiter, "Read", log, raise_not_found=True)
        assert code == grpc.StatusCode.NOT_FOUND and answer is None
        assert trailers["x-ratelimit-remaining"] == "9"
    asyncio.run(main())


@pytest.mark.parametrize("allowed", [True, False])
def test_a_write_waits_for_its_check(allowed):
    async def main():
        limiter, log = _GatedLimiter(), []
        limiter.allowed = allowed
        before, (answer, _meta, code) = await _run(limiter, "Write", log)
        assert before == []  # nothing ran while the check waited
        if allowed:
            assert answer == b"written" and log == ["write ran"]
        else:
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and log == []
    asyncio.run(main())


def test_a_limiter_without_a_round_trip_keeps_the_plain_order():
    async def main():
        limiter, log = _GatedLimiter(), []
        limiter.round_trip = False
        before, (answer, _meta, code) = await _run(limiter, "Read", log)
        assert before == [] and answer == b"answer" and log == ["read started"]
    asyncio.run(main())
