"""Timing loops (bounded in count and in time), percentiles, and CPU accounting."""

from __future__ import annotations

import asyncio
import math
import pathlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import psutil


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_ms:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def summary(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    if not s:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "n": len(s),
        "p50": round(statistics.median(s), 3),
        "p95": round(percentile(s, 95), 3),
        "p99": round(percentile(s, 99), 3),
        "mean": round(statistics.fmean(s), 3),
    }


def run_series(call: Callable[[], Any], n: int, warmup: int, max_seconds: float) -> list[float]:
    """Latencies in ms of up to `n` sequential calls after `warmup` calls, within `max_seconds`."""
    deadline = time.monotonic() + max_seconds
    for _ in range(warmup):
        if time.monotonic() > deadline:
            break
        call()
    out: list[float] = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter_ns()
        call()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


async def arun_series(call: Callable[[], Awaitable[Any]], n: int, warmup: int, max_seconds: float) -> list[float]:
    deadline = time.monotonic() + max_seconds
    for _ in range(warmup):
        if time.monotonic() > deadline:
            break
        await call()
    out: list[float] = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


async def arun_concurrent(
    call: Callable[[], Awaitable[Any]], n: int, workers: int, warmup: int, max_seconds: float
) -> tuple[list[float], float]:
    """(latencies in ms, wall seconds) of `n` calls shared by `workers` concurrent tasks."""
    for _ in range(warmup):
        await call()
    deadline = time.monotonic() + max_seconds
    remaining = [n]
    out: list[float] = []

    async def worker() -> None:
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            t0 = time.perf_counter_ns()
            await call()
            out.append((time.perf_counter_ns() - t0) / 1e6)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return out, time.perf_counter() - t0


@dataclass
class CpuMeter:
    """CPU seconds (user + system) used by named groups of processes between two snapshots.

    `groups` maps a name to a function returning the pids of the group now (PostgreSQL's
    backends come and go, so its group is the postmaster and all its children).
    """

    groups: dict[str, Callable[[], list[int]]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids():
                try:
                    t = psutil.Process(pid).cpu_times()
                    total += t.user + t.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            out[name] = total
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: round(after[k] - before[k], 4) for k in before}

    @staticmethod
    def per_call_us(before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]:
        if calls <= 0:
            return {}
        return {k: round((after[k] - before[k]) / calls * 1e6, 1) for k in before}


def aggregate_us(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """CPU µs per call over all rounds: sum of CPU seconds / sum of calls (the clock-tick
    resolution of process CPU times, 10 ms, is too coarse for one round of fast calls)."""
    calls = sum(r["calls"] for r in rounds)
    if not rounds or not calls:
        return {}
    keys = rounds[0]["cpu_s"].keys()
    return {k: round(sum(r["cpu_s"][k] for r in rounds) / calls * 1e6, 1) for k in keys}


def process_tree(pid: int | None) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            return [pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    return pids


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of per-round figures, and (max - min) / median in percent."""
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "spread_pct": math.nan}
    med = statistics.median(v)
    return {
        "median": round(med, 3),
        "min": round(min(v), 3),
        "max": round(max(v), 3),
        "spread_pct": round((max(v) - min(v)) / med * 100, 1) if med else math.nan,
    }


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" where there is none)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
