"""gRPC server bootstrap shared by every service: interceptor, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from platform_core import db, metrics
from platform_core.audit import AuditWriter
from platform_core.auth import Authenticator
from platform_core.config import Settings
from platform_core.errors import EnvelopeBuilder
from platform_core.family import ServiceFamily
from platform_core.interceptor import MethodPolicy, PlatformInterceptor
from platform_core.ratelimit import Limiter, create_limiter
from platform_core.reads import Reads

log = logging.getLogger("platform_core.server")

# Large enough for a 5,000-record ingestion batch.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_METADATA_BYTES = 128 * 1024


@dataclass
class Deps:
    """What a service's servicers need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    limiter: Limiter
    authenticator: Authenticator

    # The hot read path (platform_core/reads.py): `async with deps.reader() as conn`.
    reader: Reads
    # The audit log's batched writer (platform_core/audit.py); None: calls are not audited.
    audit: AuditWriter | None = None
    # Writable single-statement connections (db.writer): the PostgreSQL limiter's and the
    # audit writer's; closed on shutdown after both.
    writer: Reads | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, limiter: Limiter | None = None) -> "Deps":
        engine = db.create_engine(
            settings.database_url, pool_size=settings.db_pool_size,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        sessions = db.sessionmaker(engine)
        reader = db.reader(engine, pool_size=settings.db_pool_size,
                           statement_timeout_ms=settings.db_statement_timeout_ms)
        writer = db.writer(engine, pool_size=min(settings.db_pool_size, db.WRITER_POOL_SIZE),
                           statement_timeout_ms=settings.db_statement_timeout_ms)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            limiter=limiter or create_limiter(
                settings.rate_limit_store, redis_url=settings.redis_url, engine=engine,
                redis_timeout_s=settings.redis_timeout_ms / 1000, connections=writer,
            ),
            authenticator=Authenticator(reader, settings.auth_cache_seconds),
            reader=reader,
            audit=AuditWriter(engine, connections=writer),
            writer=writer,
        )


@dataclass
class ServiceSpec:
    """One gRPC service of a domain: its full name, how to add it, and its access policies."""

    full_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    policies: dict[str, MethodPolicy] = field(default_factory=dict)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: list[str]
    audit: AuditWriter | None = None

    async def stop(self, grace: float) -> None:
        """Reports NOT_SERVING first so that balancers drain, then lets in-flight calls end,
        then writes the audit rows still queued."""
        await self.health.enter_graceful_shutdown()  # every service NOT_SERVING, and it stays so
        await self.server.stop(grace)
        if self.audit is not None:
            await self.audit.close()


# gRPC server reflection as `grpc.reflection.v1` (newer grpcurl, Postman) and as
# `grpc.reflection.v1alpha` (older clients). grpcio-reflection ships only v1alpha; the v1
# proto is the same messages with the same field numbers under another package, so the
# v1alpha servicer answers v1 calls byte for byte (docs/architecture.md, "gRPC").
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    names = [*service_names, REFLECTION_V1, reflection.SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    for service in (REFLECTION_V1, reflection.SERVICE_NAME):
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),))


async def create_server(
    address: str, deps: Deps, specs: list[ServiceSpec], envelope: EnvelopeBuilder
) -> RunningServer:
    """Builds and starts a server on `address` (port 0 picks a free port)."""
    policies = {method: policy for spec in specs for method, policy in spec.policies.items()}
    interceptor = PlatformInterceptor(
        policies=policies,
        authenticator=deps.authenticator,
        limiter=deps.limiter,
        rate_limits=deps.settings.rate_limits,
        envelope=envelope,
        policed_prefixes=tuple(f"/{spec.full_name}/" for spec in specs),
        audit=deps.audit,
    )
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Above Envoy's request-header limit (60 KiB): a long URL or header the
            # gateway accepted reaches the service and gets a validation answer, instead
            # of gRPC's 8 KiB default resetting the call (a 500 through the gateway).
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    for spec in specs:
        spec.add_to_server(spec.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [spec.full_name for spec in specs]
    _enable_reflection([*names, health.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    await server.start()
    for name in [*names, ""]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server=server, port=port, health=health_servicer, service_names=names, audit=deps.audit)


async def serve_forever(running: RunningServer, deps: Deps, gauges: Sequence[metrics.GaugeQuery] = ()) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully. Serves Prometheus
    `/metrics` (with `gauges` measured at scrape time) on METRICS_PORT meanwhile."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics_port = deps.settings.metrics_port_for(running.port)
    exporter = None
    if metrics_port:
        exporter = metrics.serve(deps.settings.grpc_host, metrics_port, gauges, ttl=deps.settings.metrics_cache_seconds)
    log.info("serving", extra={"fields": {"port": running.port, "services": running.service_names,
                                          "metrics_port": exporter.port if exporter else None}})
    await stop.wait()
    log.info("shutting down", extra={"fields": {"grace_seconds": deps.settings.shutdown_grace_seconds}})
    await running.stop(deps.settings.shutdown_grace_seconds)
    if exporter is not None:
        exporter.stop()
    await deps.reader.close()
    if deps.writer is not None:
        await deps.writer.close()
    await deps.engine.dispose()
    log.info("stopped")


def grpc_port(family: ServiceFamily) -> int:
    """The family's gRPC port: its `port_env`, by default its `base_port` (a malformed
    value stops the process with a message naming the variable)."""
    from platform_core.config import env_int

    return env_int(family.port_env, family.base_port)


def run_service(family: ServiceFamily) -> None:
    """A family's `python -m services.<family>` entry point: settings from the
    environment, JSON logs, the server on `GRPC_HOST` and the family's port (its
    `port_env`, by default its `base_port`), until SIGTERM or SIGINT."""
    from platform_core import logs
    from platform_core.config import settings

    async def main() -> None:
        config = settings()
        port = grpc_port(family)
        logs.configure(config.log_level)
        deps = Deps.from_settings(config)
        async with family.serve(deps) as specs:
            running = await create_server(f"{config.grpc_host}:{port}", deps, specs, family.envelope)
            await serve_forever(running, deps, family.gauges(deps))

    asyncio.run(main())
