"""Prometheus metrics of a service process: requests, latency, ingestion, and gauges
measured by a database query when they are scraped (docs/observability.md).

The request metrics are updated by the interceptor for every policed RPC; the label
children are looked up once per (method, code, mode) and kept, so a request costs two
dictionary lookups, a counter increment and a histogram observation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from platform_core.distribution import CROSS_ACCOUNT

log = logging.getLogger("platform_core.metrics")

# 1 ms .. 10 s: a cached read answers in a few ms, the route timeout is 15 s and the
# statement timeout 10 s (a query cancelled there lands in the last finite bucket).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "partnerlytics_requests",
    "RPCs answered, by gRPC status code and the key's mode (none: not authenticated).",
    ["service", "method", "code", "mode"],
)
DURATION = Histogram(
    "partnerlytics_request_duration_seconds",
    "Time from the interceptor receiving an RPC to its answer (handler, auth, rate limit).",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
INGESTED = Counter(
    "partnerlytics_ingested_records",
    "Records stored by ingestion, counted after their transaction committed (duplicates excluded).",
    ["service", "kind"],
)
INGEST_DUPLICATES = Counter(
    "partnerlytics_ingest_duplicate_records",
    "Records acknowledged without a new row, after commit: idempotent retries (for the affiliate "
    "catalogue's upserts, updates of a stored record).",
    ["service", "kind"],
)


def split_method(method: str) -> tuple[str, str]:
    """`/partnerlytics.instance.v1.InstanceAnalyticsService/ListInstances` ->
    (`instance`, `InstanceAnalyticsService/ListInstances`)."""
    package, _, name = method.lstrip("/").partition("/")
    parts = package.split(".")
    service = parts[1] if len(parts) > 2 else package
    return service, f"{parts[-1]}/{name}"


class MethodMetrics:
    """The label children of one RPC method, created on first use and kept."""

    __slots__ = ("service", "name", "duration", "_requests")

    def __init__(self, method: str) -> None:
        self.service, self.name = split_method(method)
        self.duration = DURATION.labels(self.service, self.name)
        self._requests: dict[tuple[str, str], object] = {}

    def observe(self, code: str, mode: str, seconds: float) -> None:
        child = self._requests.get((code, mode))
        if child is None:
            child = self._requests[(code, mode)] = REQUESTS.labels(self.service, self.name, code, mode)
        child.inc()
        self.duration.observe(seconds)


_methods: dict[str, MethodMetrics] = {}


def for_method(method: str) -> MethodMetrics:
    """The (cached) metrics of one method; only registered methods reach here, so the
    label sets are bounded by the API."""
    found = _methods.get(method)
    if found is None:
        found = _methods[method] = MethodMetrics(method)
    return found


@dataclass(frozen=True)
class IngestCounter:
    """The ingestion counters of one record kind of one service, labels bound once."""

    service: str
    kind: str

    def committed(self, created: int, duplicates: int) -> None:
        """Called only after the transaction holding the records committed."""
        if created:
            INGESTED.labels(self.service, self.kind).inc(created)
        if duplicates:
            INGEST_DUPLICATES.labels(self.service, self.kind).inc(duplicates)


# --------------------------------------------------------------------------- scrape time


@dataclass(frozen=True)
class GaugeQuery:
    """A gauge family whose samples a query returns when Prometheus scrapes.

    `query` runs on the service's event loop (the engine lives there) and returns
    (label values, value) pairs. Its answer is kept `ttl` seconds, so scrapes from several
    Prometheus servers cost one query; a query that fails or takes longer than
    `timeout` leaves the family without samples for that scrape (alert on `absent()`),
    and `partnerlytics_scrape_query_errors_total` counts it.
    """

    name: str
    documentation: str
    labels: Sequence[str]
    query: Callable[[], Awaitable[list[tuple[Sequence[str], float]]]]


SCRAPE_ERRORS = Counter(
    "partnerlytics_scrape_query_errors",
    "Scrape-time gauge queries that failed or timed out (the gauge had no samples then).",
    ["gauge"],
)


class QueryCollector(Collector):
    """Runs `GaugeQuery`s on `loop` from the metrics HTTP thread, with a short cache."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queries: Sequence[GaugeQuery], *, ttl: float = 5.0, timeout: float = 2.0
    ) -> None:
        self._loop = loop
        self._queries = list(queries)
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[tuple[Sequence[str], float]]]] = {}

    def describe(self) -> list[Metric]:
        # Registration must not run the queries (and has no loop to run them on yet).
        return [GaugeMetricFamily(q.name, q.documentation, labels=q.labels) for q in self._queries]

    def collect(self):
        with self._lock:  # concurrent scrapes share one query
            for query in self._queries:
                family = GaugeMetricFamily(query.name, query.documentation, labels=query.labels)
                for labels, value in self._samples(query) or ():
                    family.add_metric(list(labels), value)
                yield family

    def _samples(self, query: GaugeQuery) -> list[tuple[Sequence[str], float]] | None:
        cached = self._cache.get(query.name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        future = asyncio.run_coroutine_threadsafe(query.query(), self._loop)
        try:
            samples = future.result(self._timeout)
        except Exception:
            future.cancel()
            SCRAPE_ERRORS.labels(query.name).inc()
            log.warning("scrape query failed", extra={"fields": {"gauge": query.name}}, exc_info=True)
            return None
        self._cache[query.name] = (now, samples)
        return samples


@dataclass
class MetricsServer:
    """The process's `/metrics` endpoint (prometheus_client's HTTP server in a thread)."""

    port: int
    _server: object
    _thread: threading.Thread
    _collector: QueryCollector | None
    _registry: CollectorRegistry

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._collector is not None:
            self._registry.unregister(self._collector)


def serve(
    host: str, port: int, queries: Sequence[GaugeQuery] = (), *, ttl: float = 5.0,
    registry: CollectorRegistry = REGISTRY,
) -> MetricsServer:
    """Starts `/metrics` on host:port (0 picks a free port) for the running event loop;
    `queries` are run at scrape time, their answers reused for `ttl` seconds."""
    collector = None
    if queries:
        collector = QueryCollector(asyncio.get_running_loop(), queries, ttl=ttl)
        registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server.server_port, server, thread, collector, registry)


# --------------------------------------------------------------------------- projections

LAG_GAUGE = "partnerlytics_preaggregation_lag_seconds"
LAG_DOC = (
    "Per projection, the largest gap over all scopes (account and mode, voucher, tenant) "
    "between the bucket of the newest raw row and the newest bucket of the projection, "
    "measured by a query at scrape time (0: the projection covers the newest raw data; "
    "+Inf: raw rows with no bucket at all)."
)


def newest_bucket_gap(raw: str, projection: str) -> str:
    """SQL: the largest gap, in seconds, between two bucket columns (epoch seconds) over the
    rows of a subquery; +Inf where raw rows have no projected bucket, 0 for no rows."""
    return (
        f"coalesce(max(CASE WHEN {projection} IS NULL THEN 'Infinity'::float8 "
        f"ELSE greatest(0, {raw} - {projection})::float8 END), 0)"
    )


def query_gauge(engine, name: str, documentation: str, label: str, sql: str) -> GaugeQuery:
    """A gauge from one SQL row: each column is a sample, the column name its `label`.
    The statement reads across accounts on purpose: on Citus a multi-shard statement,
    marked as such first in its transaction (platform_core.distribution.CROSS_ACCOUNT)."""
    statement = text(sql)
    cross_account = text(CROSS_ACCOUNT)

    async def query() -> list[tuple[Sequence[str], float]]:
        async with engine.begin() as conn:
            await conn.execute(cross_account)
            row = (await conn.execute(statement)).one()
        return [((column,), float(value)) for column, value in row._mapping.items()]

    return GaugeQuery(name, documentation, (label,), query)


def projection_lag(engine, sql: str) -> GaugeQuery:
    """The pre-aggregation lag gauge of a service, one column per projection."""
    return query_gauge(engine, LAG_GAUGE, LAG_DOC, "projection", sql)
