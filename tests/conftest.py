"""Shared fixtures: a real PostgreSQL, a real gRPC server, the real gateway.

PostgreSQL is the embedded one (pgserver) unless TEST_DATABASE_URL or DATABASE_URL
names a server, on which a fresh database is created for the run. Every test works in
accounts of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from sqlalchemy import text

from platform_core import accounts, db
from platform_core.config import DEFAULT_RATE_LIMITS, Settings
from platform_core.errors import campaign_envelope, partner_envelope
from platform_core.ratelimit import MemoryLimiter
from platform_core.roles import DatabaseUrls
from platform_core.server import Deps, create_server
from services.campaign.servicer import service_specs as campaign_specs
from services.instance.servicer import service_specs
from services.landing.envelope import landing_envelope
from services.landing.servicer import LandingDeps
from services.landing.servicer import service_specs as landing_specs
from stack.run import SERVICES, Stack, free_port, migrate
from tests.support.databases import scratch_database


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Each run gets a temp folder of its own.

    pytest's default base (/tmp/pytest-of-<user>/pytest-N) keeps only the newest three
    runs and deletes older ones when a new run starts, so two runs at once on one machine
    delete each other's databases mid-run. `--basetemp` given on the command line wins.
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="partnerlytics-tests-")
        config._partnerlytics_basetemp = config.option.basetemp


def pytest_unconfigure(config):
    basetemp = getattr(config, "_partnerlytics_basetemp", None)
    if basetemp:
        shutil.rmtree(basetemp, ignore_errors=True)


# Every gRPC call of a test has a deadline: a hung service fails the test with
# DEADLINE_EXCEEDED instead of hanging the run. Calls that pass `timeout=` keep theirs.
DEFAULT_CALL_TIMEOUT_S = 60.0


class DefaultDeadline(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    async def _with_deadline(self, continuation, details, request):
        if details.timeout is None:
            details = details._replace(timeout=DEFAULT_CALL_TIMEOUT_S)
        return await continuation(details, request)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await self._with_deadline(continuation, client_call_details, request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await self._with_deadline(continuation, client_call_details, request)


def deadline_channel(port: int) -> grpc.aio.Channel:
    """A channel to a test server on loopback whose calls all have a deadline."""
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=[DefaultDeadline()])


@pytest.fixture(scope="session")
def database_server(tmp_path_factory) -> str:
    """A superuser URL of the server the tests use (its `postgres` database)."""
    server_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if server_url:
        yield server_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return
    from platform_core.embedded_pg import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    yield pg.admin_url
    pg.stop()


@pytest.fixture
def owned_pg(tmp_path):
    """A PostgreSQL of this test only (pgserver's binaries, own data folder), migrated, so
    that a fault test can stop it with `pg_ctl stop -m immediate` and start it again:
    (the server, its owner URL)."""
    from platform_core.embedded_pg import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.ensure_database("faults")
    migrate(url)
    yield pg, url
    pg.stop()


@pytest.fixture(scope="session")
def database_urls(database_server) -> DatabaseUrls:
    """The run's database with both roles, migrated by the owner role."""
    with scratch_database(database_server, "test") as urls:
        migrate(urls.owner)
        yield urls


@pytest.fixture(scope="session")
def database_url(database_urls) -> str:
    """The app role's URL: every service and in-process server of the suite uses it."""
    return database_urls.app


@pytest.fixture(scope="session")
def owner_database_url(database_urls) -> str:
    """The owner role's URL (migrations, admin commands, erasure)."""
    return database_urls.owner


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
    await deps.audit.close()
    await deps.engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def owner_sessions(owner_database_url):
    """Sessions as the owner role, which `make run` seeds the demo data with (it resets sequences)."""
    engine = db.create_engine(owner_database_url, pool_size=2)
    yield db.sessionmaker(engine)
    await engine.dispose()


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
    async with deadline_channel(campaign_server.port) as channel:
        yield channel


@pytest_asyncio.fixture(scope="session")
async def channel(grpc_server):
    async with deadline_channel(grpc_server.port) as channel:
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
    async with deadline_channel(landing_server.port) as channel:
        yield channel


def _test_stack(urls: DatabaseUrls, data, replicas: int, **env: str) -> Stack:
    """Services as the app role; the maintenance job (when started) as the owner."""
    return Stack(
        data_dir=data,
        gateway_port=free_port(),
        admin_port=free_port(),
        stats_port=free_port(),
        service_ports={service.name: [free_port() for _ in range(replicas)] for service in SERVICES},
        database_url=urls.app,
        migration_database_url=urls.owner,
        # INFO: the services' access lines (one JSON line per request) are checked.
        # WEBHOOK_WORKERS=0: the webhook tests deliver with workers of their own
        # (tests/webhooks/test_webhooks.py); a stack's in-process workers on the same database would
        # race them for the deliveries.
        extra_env={"AUTH_CACHE_SECONDS": "0", "LOG_LEVEL": "INFO", "VOUCHER_EXPORT_POLL_SECONDS": "0.2", "EXPORTS_POLL_SECONDS": "0.2",
                   "METRICS_CACHE_SECONDS": "0", "WEBHOOK_WORKERS": "0", **env},
        log_dir=data / "logs",
        # The tests act as the one trusted proxy in front of the gateway: X-Forwarded-For
        # names the client (the landing tests simulate visitors from many addresses).
        xff_trusted_hops=1,
    )


@contextlib.contextmanager
def whole_stack(database: DatabaseUrls | str, data: pathlib.Path, **extra_env: str) -> Iterator[Stack]:
    """Every service in its own process behind a real Envoy, on free ports. A plain URL
    (a database the test owns, one role for both) serves as the owner's URL too."""
    urls = database if isinstance(database, DatabaseUrls) else DatabaseUrls(superuser=database, owner=database, app=database)
    stack = _test_stack(urls, data, 1, **extra_env)
    try:
        stack.start_services()
        stack.start_gateway()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def gateway(database_urls, tmp_path_factory):
    """The real stack: every service in its own process behind a real Envoy. Its rate-limit
    windows are in PostgreSQL (the default without Redis; also when REDIS_URL is set, so that
    `fuzz_accounts` can start a module with fresh windows; the replicated stack tests Redis)."""
    with whole_stack(database_urls, tmp_path_factory.mktemp("stack"), RATE_LIMIT_STORE="postgres") as stack:
        yield stack


# The rate-limit stores the replicated stack is tested with: PostgreSQL (the default
# without Redis) always, Redis too when REDIS_URL names a server.
REPLICA_LIMIT_STORES = ["postgres", *(["redis"] if os.environ.get("REDIS_URL") else [])]
# A small limit that the replicated stack's tests reach (tests/platform/test_replicas.py).
REPLICA_LIST_LIMIT = 8


@pytest.fixture(scope="session")
def replicas_database_urls(database_server):
    """A migrated database of its own for the replicated stack: the `gateway` stack's
    export workers would otherwise take its export jobs from the shared queue."""
    with scratch_database(database_server, "replicas") as urls:
        migrate(urls.owner)
        yield urls


@pytest.fixture(scope="session")
def replicas_database_url(replicas_database_urls):
    """Its app role's URL."""
    return replicas_database_urls.app


@pytest.fixture(scope="session", params=REPLICA_LIMIT_STORES)
def gateway_replicas(request, replicas_database_urls, tmp_path_factory):
    """The real stack with two replicas of every service behind one Envoy (round robin),
    rate limits in `request.param`, and the voucher exports done by two standalone
    workers (the in-service ones are off), as in docker-compose.yml."""
    stack = _test_stack(
        replicas_database_urls, tmp_path_factory.mktemp(f"replicas-{request.param}"), 2,
        RATE_LIMIT_STORE=request.param, RATE_LIMITS=f"instances.list={REPLICA_LIST_LIMIT}/3600",
        VOUCHER_EXPORT_WORKERS="0", LOG_LEVEL="INFO",
    )
    try:
        stack.start_services()
        stack.start_export_workers(2)
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
    async with deadline_channel(running.port) as channel:
        yield channel
    await running.stop(1)


@pytest_asyncio.fixture(scope="module")
async def affiliate_channel(deps):
    """The affiliate service in process on a free port."""
    from services.affiliate.errors import affiliate_envelope
    from services.affiliate.servicer import service_specs as affiliate_specs

    running = await create_server("127.0.0.1:0", deps, affiliate_specs(deps), affiliate_envelope)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield channel
    await running.stop(1)


@pytest_asyncio.fixture(scope="module")
async def fuzz_accounts(gateway, owner_sessions):
    """Account A (the demo data) and a small account B with every id collected (tests/support/fuzzing.py).

    Per module: other modules re-seed the demo account (its landing tenants, vouchers and
    exports would be gone). Seeded as the owner role, as `make run` does (it resets sequences)."""
    from tests.support import fuzzing

    async def fresh_windows() -> None:
        async with owner_sessions() as session, session.begin():
            await session.execute(text("DELETE FROM rate_limit_windows"))

    # The fuzzing uses the demo key heavily (e.g. exports, 10 a minute): its module starts
    # with fresh rate-limit windows and leaves fresh ones to the modules after it.
    await fresh_windows()
    a = await fuzzing.seed_account_a(owner_sessions, gateway.gateway_url)
    b = await fuzzing.seed_account_b(owner_sessions, gateway.gateway_url)
    yield a, b
    await fresh_windows()


@dataclass
class SdkStack:
    """The SDK tests' stack; `new_account` gives each test module an account of its own."""

    stack: Stack
    database_url: str

    @property
    def base_url(self) -> str:
        return self.stack.gateway_url

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.stack.service_ports[service][0]}"

    def new_account(self, name: str = "SDK partner") -> tuple[str, str]:
        """A new account's test-mode keys: one with every scope, one with `analytics:read` only."""
        import asyncio
        import concurrent.futures

        async def create() -> tuple[str, str]:
            engine = db.create_engine(self.database_url, pool_size=1)
            try:
                async with db.sessionmaker(engine)() as session:
                    account = await accounts.create_account(session, name)
                    _, key = await accounts.create_key(session, account.id, "test")
                    _, read_only = await accounts.create_key(session, account.id, "test", ["analytics:read"])
                    await session.commit()
                return key, read_only
            finally:
                await engine.dispose()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # outside the tests' event loop
            return pool.submit(asyncio.run, create()).result()


# The bucket the SDK tests exceed to see a 429 with a short `Retry-After` (1 s windows).
SDK_SMALL_LIMIT = ("vouchers.customers", 2, 1)


@pytest.fixture(scope="session")
def sdk_stack(database_server, tmp_path_factory) -> Iterator[SdkStack]:
    """The whole stack on a database of its own (its export workers serve only it), with
    one small rate limit (SDK_SMALL_LIMIT), for the Python and TypeScript SDKs' tests."""
    bucket, count, seconds = SDK_SMALL_LIMIT
    with scratch_database(database_server, "sdk") as urls:
        migrate(urls.owner)
        with whole_stack(urls, tmp_path_factory.mktemp("sdk-stack"), RATE_LIMIT_STORE="postgres",
                         RATE_LIMITS=f"{bucket}={count}/{seconds}") as stack:
            yield SdkStack(stack, urls.app)


# The TypeScript SDK; npm installs its pinned devDependencies (package-lock.json) into its
# node_modules the first time (`npm ci`), as tools/buf does.
TS_SDK = pathlib.Path(__file__).resolve().parent.parent / "clients" / "typescript"


def npm(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    npm_bin = shutil.which("npm")
    assert npm_bin, "npm (Node 20) is needed for the TypeScript SDK's tests"
    return subprocess.run([npm_bin, *args], cwd=TS_SDK, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def typescript_sdk() -> pathlib.Path:
    """node_modules as locked (npm ci when package-lock.json is newer), then tsc."""
    marker = TS_SDK / "node_modules" / ".package-lock.json"
    lock = TS_SDK / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        done = npm("ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stderr
    done = npm("run", "build")
    assert done.returncode == 0, done.stdout + done.stderr
    return TS_SDK
