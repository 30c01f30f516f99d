"""Landing Analytics over gRPC and below it: tenants, salts with a controlled clock,
visitor hashes, bots, the group-committing writer and the public policy."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import zoneinfo

import grpc
import psycopg
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import text

from partnerlytics.landing.v1 import landing_analytics_pb2 as api
from partnerlytics.landing.v1 import landing_analytics_pb2_grpc as api_grpc
from partnerlytics.landing.v1 import tenants_pb2 as pb
from partnerlytics.landing.v1 import tenants_pb2_grpc as pb_grpc
from platform_core.distribution import CROSS_ACCOUNT
from platform_core.interceptor import MethodPolicy
from services.landing import salts as salts_mod
from services.landing import tracking
from services.landing.salts import SaltStore, visitor_hash

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


def _details(error: grpc.aio.AioRpcError) -> list:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return list(status_pb2.Status.FromString(value).details)
    return []


async def create_tenant(channel, key: str, name: str = "Casa Azul", time_zone: str = "America/Mexico_City"):
    stub = pb_grpc.LandingTenantServiceStub(channel)
    response = await stub.CreateTenant(
        pb.CreateTenantRequest(name=name, time_zone=time_zone), metadata=(("authorization", f"Bearer {key}"),)
    )
    return response.tenant


def track_request(tenant_id, event_type="pageview", metadata=None) -> api.TrackEventRequest:
    request = api.TrackEventRequest()
    if tenant_id is not None:
        request.tenant_id.CopyFrom(struct_pb2.Value(number_value=tenant_id))
    if event_type is not None:
        request.event_type.CopyFrom(struct_pb2.Value(string_value=event_type))
    if metadata is not None:
        request.metadata.struct_value.update(metadata)
    return request


# ------------------------------------------------------------------------------- tenants


async def test_create_tenant_stores_name_and_zone(landing_channel, make_tenant):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key, " Casa Azul ", "Asia/Kathmandu")
    assert tenant.id > 0 and tenant.name == "Casa Azul" and tenant.time_zone == "Asia/Kathmandu"
    stub = pb_grpc.LandingTenantServiceStub(landing_channel)
    got = await stub.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=account.md())
    assert got.tenant == tenant


async def test_time_zone_defaults_to_utc(landing_channel, make_tenant):
    account = await make_tenant()
    assert (await create_tenant(landing_channel, account.test_key, time_zone="")).time_zone == "UTC"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "UTC+3", "x" * 65])
async def test_unknown_time_zone_is_invalid_argument(landing_channel, make_tenant, zone):
    account = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_tenant(landing_channel, account.test_key, time_zone=zone)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = [d for d in _details(caught.value) if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
    request = error_details_pb2.BadRequest()
    bad[0].Unpack(request)
    assert [v.field for v in request.field_violations] == ["time_zone"]


async def test_empty_name_is_invalid_argument(landing_channel, make_tenant):
    account = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_tenant(landing_channel, account.test_key, name="  ")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_creating_a_tenant_needs_the_write_scope(landing_channel, make_tenant):
    account = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_tenant(landing_channel, account.read_only_key)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_accounts_tenant_is_not_found(landing_channel, make_tenant):
    owner, other = await make_tenant(), await make_tenant()
    tenant = await create_tenant(landing_channel, owner.test_key)
    stub = pb_grpc.LandingTenantServiceStub(landing_channel)
    for md in (other.md(), owner.md(owner.live_key)):  # another account; the other mode
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=md)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# ------------------------------------------------------------------------------- salts


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def _salt_rows(deps, zone: str) -> dict[dt.date, bytes]:
    async with deps.engine.connect() as conn:
        rows = await conn.execute(text("SELECT day, salt FROM landing_salts WHERE time_zone = :z"), {"z": zone})
        return {r.day: r.salt for r in rows}


async def test_salt_rotates_with_the_local_day_and_is_deleted_after_48_hours(deps):
    zone = "Pacific/Kiritimati"  # UTC+14: its days are far from UTC's
    tz = zoneinfo.ZoneInfo(zone)
    # Far in the past so that no other test's salt of this zone interferes.
    start = dt.datetime(2001, 3, 10, 9, 0, tzinfo=tz)
    clock = FakeClock(start)
    store = SaltStore(deps.engine, clock)
    first = await store.salt(zone)
    assert len(first) == 32
    clock.now = start.replace(hour=23, minute=59)  # same local day: same salt
    assert await store.salt(zone) == first
    assert await SaltStore(deps.engine, clock).salt(zone) == first  # every replica agrees
    clock.now = start + dt.timedelta(hours=15)  # 00:00 the next local day: a new salt
    second = await store.salt(zone)
    assert second != first
    assert set(await _salt_rows(deps, zone)) == {dt.date(2001, 3, 10), dt.date(2001, 3, 11)}
    # 47 h 59 min after the first day began: still there; at 48 h it goes.
    day_began = dt.datetime(2001, 3, 10, tzinfo=tz)
    assert await store.sweep(day_began + dt.timedelta(hours=47, minutes=59)) == 0
    assert await store.sweep(day_began + dt.timedelta(hours=48)) == 1
    assert set(await _salt_rows(deps, zone)) == {dt.date(2001, 3, 11)}
    # Creating a later day's salt sweeps too: the second day's salt is gone 48 h after it began.
    clock.now = dt.datetime(2001, 3, 13, 0, 1, tzinfo=tz)
    third = await store.salt(zone)
    assert set(await _salt_rows(deps, zone)) == {dt.date(2001, 3, 13)}
    assert len({first, second, third}) == 3


async def test_salts_of_two_zones_are_independent(deps):
    clock = FakeClock(dt.datetime(2001, 6, 1, 12, tzinfo=dt.timezone.utc))
    store = SaltStore(deps.engine, clock)
    assert await store.salt("Europe/Lisbon") != await store.salt("Asia/Tokyo")


def test_visitor_hash_is_the_first_45_hex_of_salted_sha256():
    salt = bytes(range(32))
    expected = hashlib.sha256(salt + (7).to_bytes(8, "big") + ipaddress.ip_address("203.0.113.9").packed).hexdigest()
    assert visitor_hash(salt, 7, "203.0.113.9") == expected[:45]
    assert len(visitor_hash(salt, 7, "2001:db8::1")) == 45
    # The same address written as IPv4-mapped IPv6 is the same visitor; other tenants differ.
    assert visitor_hash(salt, 7, "::ffff:203.0.113.9") == visitor_hash(salt, 7, "203.0.113.9")
    assert visitor_hash(salt, 8, "203.0.113.9") != visitor_hash(salt, 7, "203.0.113.9")


def test_local_midnight_follows_daylight_saving_time():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    summer = salts_mod.local_midnight(dt.date(2026, 7, 1), berlin)
    winter = salts_mod.local_midnight(dt.date(2026, 1, 1), berlin)
    assert (summer.hour, winter.hour) == (22, 23)


# ------------------------------------------------------------------------------- tracking


@pytest.mark.parametrize(
    "user_agent, bot",
    [
        (CHROME, False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1",
         False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
         True),
        ("curl/8.5.0", True),
        ("", True),
    ],
)
def test_known_bots_and_empty_user_agents_are_not_visitors(user_agent, bot):
    assert tracking.is_bot(user_agent) is bot


def test_a_public_method_cannot_have_an_account_bucket():
    with pytest.raises(ValueError):
        MethodPolicy(None, "landing.dashboard")


async def test_direct_grpc_caller_without_gateway_metadata_uses_its_peer_address(landing_channel, make_tenant, deps):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    stub = api_grpc.LandingAnalyticsServiceStub(landing_channel)
    response = await stub.TrackEvent(
        track_request(tenant.id, "click_call"), metadata=(("x-landing-user-agent", CHROME),)
    )
    assert response.success is True
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        stored = (
            await conn.execute(text("SELECT visitor_hash FROM landing_events WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar_one()
    salt = await SaltStore(deps.engine).salt("America/Mexico_City")
    assert stored == visitor_hash(salt, tenant.id, "127.0.0.1")


async def test_an_event_without_user_agent_is_acknowledged_but_not_stored(landing_channel, make_tenant, deps):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    stub = api_grpc.LandingAnalyticsServiceStub(landing_channel)
    assert (await stub.TrackEvent(track_request(tenant.id))).success is True
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        count = (
            await conn.execute(text("SELECT count(*) FROM landing_events WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar_one()
    assert count == 0


async def test_invalid_body_names_every_field_in_bad_request_details(landing_channel):
    stub = api_grpc.LandingAnalyticsServiceStub(landing_channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.TrackEvent(track_request(1.5, "pageviews"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    next(d for d in _details(caught.value) if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)).Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["tenant_id", "event_type"]


class CountingWriter(tracking.EventWriter):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.batches: list[int] = []

    async def _insert(self, rows) -> None:
        self.batches.append(len(rows))
        await super()._insert(rows)


def _row(tenant_id: int, i: int) -> tracking.EventRow:
    return tracking.EventRow(
        tenant_id, "UTC", dt.datetime.now(dt.timezone.utc), api.EVENT_TYPE_PRODUCT_CLICK, "f" * 45, None, CHROME, "",
        {"product_id": f"p{i}"},
    )


async def test_concurrent_events_are_committed_together_and_each_acknowledged(landing_channel, make_tenant, deps):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    writer = CountingWriter(deps.engine)
    n = 50
    await asyncio.gather(*(writer.write(_row(tenant.id, i)) for i in range(n)))
    await writer.close()
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        products = (
            await conn.execute(
                text("SELECT metadata->>'product_id' FROM landing_events WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalars().all()
    assert sorted(products) == sorted(f"p{i}" for i in range(n))  # every acknowledged event is there
    assert sum(writer.batches) == n and len(writer.batches) < n


async def test_a_failed_transaction_fails_every_event_in_it_and_the_writer_goes_on(landing_channel, make_tenant, deps):
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    writer = CountingWriter(deps.engine)
    results = await asyncio.gather(
        writer.write(_row(tenant.id, 1)), writer.write(_row(2**53 - 7, 2)), return_exceptions=True
    )  # no such tenant: a foreign-key violation in the shared transaction
    assert all(isinstance(r, Exception) for r in results)
    await writer.write(_row(tenant.id, 3))  # the next transaction commits
    await writer.close()
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        products = (
            await conn.execute(
                text("SELECT metadata->>'product_id' FROM landing_events WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalars().all()
    assert products == ["p3"]


async def _stored_products(deps, tenant_id: int) -> list[str]:
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        return sorted((await conn.execute(
            text("SELECT metadata->>'product_id' FROM landing_events WHERE tenant_id = :t"), {"t": tenant_id}
        )).scalars().all())


async def test_limits_riding_with_the_group_commit_store_only_what_they_admit(landing_channel, make_tenant, deps):
    """With the PostgreSQL store the checks are in the batch's transaction: of one batch,
    the events the source's limit refuses are not stored, a bot's is counted and not stored."""
    import uuid

    from platform_core.ratelimit import PostgresLimiter

    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    limiter = PostgresLimiter(deps.engine)
    writer = tracking.EventWriter(deps.engine, limiter=limiter)
    source, whole = f"src-{uuid.uuid4()}", f"tenant-{uuid.uuid4()}"
    chain = ((source, 2, 60), (whole, 100, 60))
    runs = await asyncio.gather(*(writer.write_limited(_row(tenant.id, i), chain) for i in range(4)),
                                writer.write_limited(None, ((f"bot-{uuid.uuid4()}", 2, 60), (whole, 100, 60))))
    assert [[d.allowed for d in run] for run in runs] == [[True, True], [True, True], [False], [False], [True, True]]
    assert [run[-1].remaining for run in runs] == [99, 98, 0, 0, 97]
    assert await _stored_products(deps, tenant.id) == ["p0", "p1"]
    await writer.close()
    await limiter.close()


async def test_a_failed_batch_rolls_back_its_limit_hits_and_the_writer_goes_on(landing_channel, make_tenant, deps):
    import uuid

    from platform_core.ratelimit import PostgresLimiter

    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    limiter = PostgresLimiter(deps.engine)
    writer = tracking.EventWriter(deps.engine, limiter=limiter)
    chain = ((f"src-{uuid.uuid4()}", 1, 60), (f"tenant-{uuid.uuid4()}", 100, 60))
    # No such tenant: the events' statement fails, the batch with it (PostgreSQL refuses the
    # missing account as an integrity error, Citus as a NULL distribution column).
    with pytest.raises((psycopg.IntegrityError, psycopg.errors.NullValueNotAllowed)):
        await writer.write_limited(_row(2**53 - 7, 1), chain)
    # The failed batch's hit was not counted: the limit of 1 still admits this one.
    assert [d.allowed for d in await writer.write_limited(_row(tenant.id, 2), chain)] == [True, True]
    assert [d.allowed for d in await writer.write_limited(_row(tenant.id, 3), chain)] == [False]
    assert await _stored_products(deps, tenant.id) == ["p2"]
    await writer.close()
    await limiter.close()


async def test_daily_rollups_equal_a_recount_of_the_raw_events(landing_channel, make_tenant, deps):
    """Concurrent events of a few visitors (several shared transactions): the day's row
    in landing_daily_stats is exactly what the raw rows say."""
    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key, time_zone="Pacific/Kiritimati")
    stub = api_grpc.LandingAnalyticsServiceStub(landing_channel)
    kinds = ["pageview", "click_whatsapp", "click_call", "click_toggle_currency", "qr_scan", "product_click"]
    calls = []
    for i in range(60):
        kind = kinds[i % len(kinds)] if i % 7 else "time_on_page"
        metadata = {"seconds": i} if kind == "time_on_page" else None
        md = (("x-landing-user-agent", CHROME), ("x-landing-client-ip", f"198.51.100.{i % 5}"))
        calls.append(stub.TrackEvent(track_request(tenant.id, kind, metadata), metadata=md))
    await asyncio.gather(*calls)
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        raw = (await conn.execute(
            text("SELECT event_type, visitor_hash, duration_ms, occurred_at FROM landing_events WHERE tenant_id = :t"),
            {"t": tenant.id},
        )).all()
        stats = (await conn.execute(
            text("SELECT * FROM landing_daily_stats WHERE tenant_id = :t"), {"t": tenant.id}
        )).mappings().all()
    assert len(raw) == 60
    zone = zoneinfo.ZoneInfo("Pacific/Kiritimati")
    names = {n: name.removeprefix("EVENT_TYPE_").lower() for name, n in api.EventType.items() if n}
    recount = {}
    for day in {r.occurred_at.astimezone(zone).date() for r in raw}:
        rows = [r for r in raw if r.occurred_at.astimezone(zone).date() == day]
        figures = {name: sum(1 for r in rows if names[r.event_type] == name) for name in names.values()}
        figures.update(visitors=len({r.visitor_hash for r in rows}), duration_ms=sum(r.duration_ms or 0 for r in rows))
        recount[day] = figures
    assert {row["day"]: {k: v for k, v in row.items() if k not in ("account_id", "tenant_id", "day")} for row in stats} == recount
    assert sum(f["visitors"] for f in recount.values()) >= 5


async def test_visitor_rows_of_past_days_are_pruned_and_the_figures_stay(landing_channel, make_tenant, deps):
    from services.landing.store import prune_daily_visitors, store_events

    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key, time_zone="UTC")
    now = dt.datetime.now(dt.timezone.utc)
    old, recent = now - dt.timedelta(days=3), now - dt.timedelta(days=1)
    rows = [tracking.EventRow(tenant.id, "UTC", at, api.EVENT_TYPE_PAGEVIEW, h * 45, None, CHROME, "", None)
            for at, h in ((old, "a"), (old, "b"), (recent, "a"))]
    async with deps.engine.begin() as conn:
        await store_events(conn, rows)
        assert await prune_daily_visitors(conn, now) >= 2
    async with deps.engine.connect() as conn:
        await conn.execute(text(CROSS_ACCOUNT))  # by tenant alone: every shard on Citus
        days = (await conn.execute(
            text("SELECT day FROM landing_daily_visitors WHERE tenant_id = :t"), {"t": tenant.id}
        )).scalars().all()
        stats = dict((await conn.execute(
            text("SELECT day, visitors FROM landing_daily_stats WHERE tenant_id = :t"), {"t": tenant.id}
        )).all())
    assert days == [recent.date()]
    assert stats == {old.date(): 2, recent.date(): 1}


def _envelope(error: grpc.aio.AioRpcError) -> tuple[str, dict]:
    trailers = dict(error.trailing_metadata() or ())
    return trailers["x-envelope-status"], json.loads(trailers["x-envelope"])


@contextlib.asynccontextmanager
async def landing_server_with(database_url: str, **settings):
    """An in-process landing server with its own settings (limits, database)."""
    from platform_core.server import Deps, create_server
    from services.landing.envelope import landing_envelope
    from services.landing.servicer import service_specs
    from tests.conftest import make_settings

    deps = Deps.from_settings(make_settings(database_url, **settings))
    running = await create_server("127.0.0.1:0", deps, service_specs(deps), landing_envelope)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield channel
    finally:
        await running.stop(0)
        await deps.engine.dispose()


async def test_dashboards_past_their_limit_are_429_in_the_family_shape(database_url, landing_channel, make_tenant):
    from platform_core.config import DEFAULT_RATE_LIMITS

    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    limits = {**DEFAULT_RATE_LIMITS, "landing.dashboard": (2, 60)}
    async with landing_server_with(database_url, rate_limits=limits) as channel:
        stub = api_grpc.LandingAnalyticsServiceStub(channel)
        for _ in range(2):
            await stub.GetTodayAnalytics(api.GetTodayAnalyticsRequest(tenant_id=str(tenant.id)), metadata=account.md())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetAnalytics(api.GetAnalyticsRequest(tenant_id=str(tenant.id)), metadata=account.md())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status, body = _envelope(caught.value)
    trailers = dict(caught.value.trailing_metadata())
    assert status == "429" and trailers["x-ratelimit-limit"] == "2" and trailers["x-ratelimit-remaining"] == "0"
    assert body == {"success": False, "error": "Rate limit exceeded. Please try again later", "code": "RATE_LIMITED",
                    "retry_after": int(trailers["retry-after"]), "request_id": body["request_id"]}


async def test_database_down_is_503_in_the_family_shape():
    from stack.run import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with landing_server_with(dead) as channel:
        stub = api_grpc.LandingAnalyticsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.TrackEvent(track_request(5), metadata=(("x-landing-user-agent", CHROME),))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    status, body = _envelope(caught.value)
    assert status == "503"
    assert body == {"success": False, "error": "The service is temporarily unavailable. Please try again later",
                    "code": "SERVICE_UNAVAILABLE", "retry_after": 5, "request_id": body["request_id"]}


async def test_tenant_and_source_limits_hold_across_replicas_sharing_redis(landing_channel, make_tenant, deps):
    """Two trackers (two replicas) with Redis limiters on one store (fakeredis): the
    per-source sub-limit and the per-tenant limit count the events of both."""
    import fakeredis

    from platform_core.errors import RateLimited
    from platform_core.ratelimit import RedisLimiter
    from services.landing.salts import SaltStore
    from services.landing.tenants import TenantDirectory

    account = await make_tenant()
    tenant = await create_tenant(landing_channel, account.test_key)
    server = fakeredis.FakeServer()
    replicas = [
        tracking.Tracker(
            tenants=TenantDirectory(deps.reader), salts=SaltStore(deps.engine),
            limiter=RedisLimiter(fakeredis.FakeAsyncRedis(server=server)), writer=tracking.EventWriter(deps.engine),
            tenant_limit=(6, 60), source_limit=(3, 60),
        )
        for _ in range(2)
    ]
    event = tracking.TrackRequest(tenant.id, api.EVENT_TYPE_PAGEVIEW, None, None)

    def client(ip: str) -> tracking.Client:
        return tracking.Client(ip, CHROME, "")

    for i in range(3):  # one source, alternating replicas: the 4th is refused
        await replicas[i % 2].track(event, client("203.0.113.1"))
    with pytest.raises(RateLimited) as source:
        await replicas[1].track(event, client("203.0.113.1"))
    assert source.value.headers["x-ratelimit-limit"] == "3"
    for i in range(3):  # other sources fill the tenant's 6
        await replicas[i % 2].track(event, client(f"203.0.113.{10 + i}"))
    with pytest.raises(RateLimited) as whole:
        await replicas[0].track(event, client("203.0.113.99"))
    assert whole.value.headers["x-ratelimit-limit"] == "6"
    for replica in replicas:
        await replica._writer.close()
