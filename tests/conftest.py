"""Shared fixtures: a real PostgreSQL, a real gRPC server, the real gateway.

PostgreSQL is the embedded one (pgserver) unless TEST_DATABASE_URL or DATABASE_URL
names a server, on which a fresh database is created for the run. Every test works in
accounts of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass

import grpc
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from platform_core import accounts
from platform_core.config import DEFAULT_RATE_LIMITS, Settings
from platform_core.errors import campaign_envelope, partner_envelope
from platform_core.ratelimit import MemoryLimiter
from platform_core.server import Deps, create_server
from services.campaign.servicer import service_specs as campaign_specs
from services.instance.servicer import service_specs
from services.landing.envelope import landing_envelope
from services.landing.servicer import LandingDeps
from services.landing.servicer import service_specs as landing_specs
from stack.run import SERVICES, Stack, free_port, migrate


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A fresh, migrated database for this test run."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    server_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    pg = None
    if server_url:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(server_url.replace("postgresql+psycopg://", "postgresql://")).set(database=name)
        url = url.render_as_string(hide_password=False)
    else:
        from platform_core.embedded_pg import EmbeddedPostgres

        pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
        url = pg.ensure_database(name)
    migrate(url)
    yield url
    if pg is not None:
        pg.stop()
    else:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url, redis_url=None, auth_cache_seconds=0.0, rate_limits=dict(DEFAULT_RATE_LIMITS)
    )
    values.update(overrides)
    return Settings(**values)


@pytest_asyncio.fixture(scope="session")
async def deps(database_url):
    deps = Deps.from_settings(make_settings(database_url), limiter=MemoryLimiter())
    yield deps
    await deps.engine.dispose()


@dataclass
class Tenant:
    """A fresh account with a key per mode, and a key without scopes."""

    account_id: uuid.UUID
    test_key: str
    live_key: str
    read_only_key: str
    write_only_key: str

    def md(self, key: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key or self.test_key}"),)


@pytest_asyncio.fixture
async def make_tenant(deps):
    async def make(name: str = "tenant") -> Tenant:
        async with deps.sessions() as session:
            account = await accounts.create_account(session, name)
            _, test_key = await accounts.create_key(session, account.id, "test")
            _, live_key = await accounts.create_key(session, account.id, "live")
            _, read_only = await accounts.create_key(session, account.id, "test", ["analytics:read"])
            _, write_only = await accounts.create_key(session, account.id, "test", ["ingest:write"])
            await session.commit()
        return Tenant(account.id, test_key, live_key, read_only, write_only)

    return make


@pytest_asyncio.fixture(scope="session")
async def grpc_server(deps):
    running = await create_server("127.0.0.1:0", deps, service_specs(deps), partner_envelope)
    yield running
    await running.stop(1)


@pytest_asyncio.fixture(scope="session")
async def campaign_server(deps):
    running = await create_server("127.0.0.1:0", deps, campaign_specs(deps), campaign_envelope)
    yield running
    await running.stop(1)


@pytest_asyncio.fixture(scope="session")
async def campaign_channel(campaign_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{campaign_server.port}") as channel:
        yield channel


@pytest_asyncio.fixture(scope="session")
async def channel(grpc_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        yield channel


@pytest_asyncio.fixture(scope="session")
async def landing(deps):
    """The landing domain's dependencies of the in-process server (real clock)."""
    landing = LandingDeps.build(deps)
    yield landing
    await landing.writer.close()


@pytest_asyncio.fixture(scope="session")
async def landing_server(deps, landing):
    running = await create_server("127.0.0.1:0", deps, landing_specs(deps, landing), landing_envelope)
    yield running
    await running.stop(1)


@pytest_asyncio.fixture(scope="session")
async def landing_channel(landing_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{landing_server.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def gateway(database_url, tmp_path_factory):
    """The real stack: the instance service in its own process behind a real Envoy."""
    data = tmp_path_factory.mktemp("stack")
    stack = Stack(
        data_dir=data,
        gateway_port=free_port(),
        admin_port=free_port(),
        service_ports={service.name: [free_port()] for service in SERVICES},
        database_url=database_url,
        extra_env={"AUTH_CACHE_SECONDS": "0", "LOG_LEVEL": "WARNING", "VOUCHER_EXPORT_POLL_SECONDS": "0.2"},
        log_dir=data / "logs",
        # The tests act as the one trusted proxy in front of the gateway: X-Forwarded-For
        # names the client (the landing tests simulate visitors from many addresses).
        xff_trusted_hops=1,
    )
    try:
        stack.start_services()
        stack.start_gateway()
        yield stack
    finally:
        stack.stop()


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


@pytest_asyncio.fixture(scope="session")
async def voucher_settings(tmp_path_factory):
    from services.voucher.config import VoucherSettings

    return VoucherSettings(export_dir=tmp_path_factory.mktemp("exports"), public_base_url="http://gateway.test")


@pytest_asyncio.fixture(scope="session")
async def voucher_channel(deps, voucher_settings):
    """The voucher service in process on a free port, without export workers."""
    from services.voucher.errors import voucher_envelope
    from services.voucher.servicer import service_specs as voucher_specs

    running = await create_server("127.0.0.1:0", deps, voucher_specs(deps, voucher_settings), voucher_envelope)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield channel
    await running.stop(1)


@pytest_asyncio.fixture(scope="module")
async def fuzz_accounts(gateway, deps):
    """Account A (the demo data) and a small account B with every id collected (tests/fuzzing.py).

    Per module: other modules re-seed the demo account (its landing tenants, vouchers and
    exports would be gone)."""
    from tests import fuzzing

    a = await fuzzing.seed_account_a(deps.sessions, gateway.gateway_url)
    b = await fuzzing.seed_account_b(deps.sessions, gateway.gateway_url)
    return a, b
