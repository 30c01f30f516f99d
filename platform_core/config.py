"""Configuration from environment variables, read once at start-up."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field


class ConfigError(SystemExit):
    """A required setting is missing or malformed; the process stops with its message."""


def env_int(name: str, default: int) -> int:
    """An integer variable, the default when unset or empty; a malformed one stops the process."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"configuration error: {name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    """A number variable, the default when unset or empty; a malformed one stops the process."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"configuration error: {name}={raw!r} is not a number") from None


def require(name: str) -> str:
    """Returns a required variable, or stops the process with a message naming it."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(
            f"configuration error: {name} is not set. "
            f"Set it in the environment (see README.md, 'Configuration')."
        )
    return value


def _limits() -> dict[str, tuple[int, int]]:
    """Rate limits as `RATE_LIMITS=bucket=count/seconds,...` over the documented defaults."""
    limits = dict(DEFAULT_RATE_LIMITS)
    raw = os.environ.get("RATE_LIMITS", "")
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            bucket, spec = item.split("=", 1)
            count, seconds = spec.split("/", 1)
            limits[bucket.strip()] = (int(count), int(seconds))
        except ValueError:
            raise ConfigError(
                f"configuration error: RATE_LIMITS item {item!r} is not bucket=count/seconds"
            ) from None
    return limits


# The documented limits: bucket -> (requests, window in seconds).
DEFAULT_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "instances.list": (100, 3600),
    "instances.details": (50, 3600),
    # Ingestion is not documented; generous enough for batch producers, per account.
    "instances.ingest": (6000, 60),
    "campaigns.analytics": (150, 3600),
    # The campaign registry is gRPC only and undocumented: per account, like ingestion.
    "campaigns.write": (6000, 60),
    "campaigns.list": (600, 60),
    # Voucher analytics: per account per endpoint, as documented (per minute).
    "vouchers.performance": (100, 60),
    "vouchers.trends": (100, 60),
    "vouchers.customers": (50, 60),
    "vouchers.export": (10, 60),
    # Not documented: polling an export and downloading it; generous, per account.
    "vouchers.export_status": (600, 60),
    "vouchers.ingest": (6000, 60),
    # Affiliate analytics: 120 per minute per token (documented); ingestion as above.
    "affiliate.analytics": (120, 60),
    "affiliate.ingest": (6000, 60),
    # Landing analytics: the documented 100 events per minute per tenant, and under it a
    # sub-limit per source (salted IP hash) so that one flooding visitor cannot crowd out
    # the tenant's other visitors. The dashboards and the tenant registry are per account.
    "landing.track": (100, 60),
    "landing.track.source": (20, 60),
    "landing.dashboard": (600, 60),
    "landing.tenants.write": (600, 60),
    "landing.tenants.read": (600, 60),
    # Exports of every family (docs/exports.md): queueing one, and polling, listing and
    # downloading; per account.
    "exports.create": (60, 60),
    "exports.status": (600, 60),
    # The webhook endpoints API (docs/webhooks.md, "Limits"), per account: reading the
    # endpoints and the delivery log, and every call that changes or sends something.
    "webhooks.read": (600, 60),
    "webhooks.write": (60, 60),
}


@dataclass(frozen=True)
class Settings:
    """Every setting a service reads; see README.md for the variables and defaults."""

    database_url: str
    redis_url: str | None
    log_level: str = "INFO"
    grpc_host: str = "127.0.0.1"
    # Each family's gRPC port is its own declaration (services/<family>/family.py: port_env,
    # base_port), read by platform_core/server.py run_service.
    db_pool_size: int = 10
    # Every statement is cancelled after this long (a 504 to the caller), below the
    # gateway's route timeout so that the caller gets the service's answer, not Envoy's.
    db_statement_timeout_ms: int = 10_000
    auth_cache_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
    # Prometheus `/metrics` (METRICS_PORT): None = the service's gRPC port + 1000, 0 = off.
    metrics_port: int | None = None
    # How long a scrape-time gauge's query answer is reused (METRICS_CACHE_SECONDS).
    metrics_cache_seconds: float = 5.0
    rate_limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Deadline of each Redis connect and reply (the rate-limit store); see create_limiter.
    redis_timeout_ms: int = 1000
    # Where the rate limiter keeps its windows (platform_core/ratelimit.py): "redis",
    # "postgres" (shared by every replica on the database) or "memory" (one process only).
    rate_limit_store: str = "memory"
    # The owner role's URL (MIGRATION_DATABASE_URL): migrations, maintenance, admin
    # commands. Services never use it; unset, it is DATABASE_URL (one role for both).
    migration_database_url: str = ""

    def __post_init__(self) -> None:
        if not self.migration_database_url:
            object.__setattr__(self, "migration_database_url", self.database_url)

    def metrics_port_for(self, grpc_port: int) -> int:
        """The `/metrics` port of a process serving gRPC on `grpc_port` (0: none)."""
        return grpc_port + 1000 if self.metrics_port is None else self.metrics_port


def migration_database_url() -> str:
    """The owner role's URL: MIGRATION_DATABASE_URL, else DATABASE_URL; stops when neither is set."""
    return os.environ.get("MIGRATION_DATABASE_URL") or require("DATABASE_URL")


def load_settings() -> Settings:
    return Settings(
        database_url=require("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL") or None,
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        grpc_host=os.environ.get("GRPC_HOST", "127.0.0.1"),
        db_pool_size=env_int("DB_POOL_SIZE", 10),
        db_statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", 10_000),
        auth_cache_seconds=env_float("AUTH_CACHE_SECONDS", 5.0),
        shutdown_grace_seconds=env_float("SHUTDOWN_GRACE_SECONDS", 10.0),
        metrics_port=env_int("METRICS_PORT", 0) if os.environ.get("METRICS_PORT") else None,
        metrics_cache_seconds=env_float("METRICS_CACHE_SECONDS", 5.0),
        rate_limits=_limits(),
        rate_limit_store=rate_limit_store(),
        migration_database_url=os.environ.get("MIGRATION_DATABASE_URL", ""),
        redis_timeout_ms=env_int("REDIS_TIMEOUT_MS", 1000),
    )


RATE_LIMIT_STORES = ("redis", "postgres", "memory")


def rate_limit_store() -> str:
    """RATE_LIMIT_STORE, by default Redis when REDIS_URL is set and PostgreSQL otherwise, so
    that any number of replicas share their limits without extra configuration."""
    redis_url = os.environ.get("REDIS_URL")
    store = os.environ.get("RATE_LIMIT_STORE") or ("redis" if redis_url else "postgres")
    if store not in RATE_LIMIT_STORES:
        raise ConfigError(
            f"configuration error: RATE_LIMIT_STORE={store!r} is not one of {', '.join(RATE_LIMIT_STORES)}"
        )
    if store == "redis" and not redis_url:
        raise ConfigError("configuration error: RATE_LIMIT_STORE=redis needs REDIS_URL")
    return store


@functools.cache
def settings() -> Settings:
    """The process's settings, read from the environment on first use only."""
    return load_settings()
