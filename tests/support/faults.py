"""Helpers of the fault tests: retrying producers, the families' reads and down answers,
an owned Redis, a server that accepts connections and never answers, and figures for
`make chaos` (FAULTS_SCALE scales the scenarios, FAULTS_REPORT collects their figures)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import grpc
import pytest

from tests.support.system_packages import ensure_debian_program

SCALE = max(1, int(os.environ.get("FAULTS_SCALE", "1")))
REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
# Reconnect quickly once a killed server is back (gRPC's default backoff starts at 1 s
# and grows to 120 s; the producers would wait on the channel, not on the service).
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 500)]


def record(scenario: str, **figures) -> None:
    """Appends the scenario's figures to FAULTS_REPORT (a JSON-lines file) when set."""
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"scenario": scenario, "scale": SCALE, **figures}) + "\n")


@dataclass
class Producers:
    """Writers that send batches of fresh ids and retry an unacknowledged batch, with the
    same ids, until it is acknowledged: what a correct client of an idempotent API does.

    `send(ids)` returns True for an acknowledgement and raises or returns False otherwise;
    `answers` counts every answer by a label the send function chooses (`failure_label`).
    """

    send: Callable[[list[str]], Awaitable[bool]]
    new_ids: Callable[[], list[str]]
    acked: list[str] = field(default_factory=list)
    attempts: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self, count: int) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(count)]

    async def _run(self) -> None:
        while not self._stop.is_set():
            ids = self.new_ids()
            while True:  # the same ids until acknowledged, even when asked to stop
                self.attempts += 1
                try:
                    if await self.send(ids):
                        break
                    label = "refused"
                except Exception as exc:  # noqa: BLE001 - every failure is retried, and counted
                    label = failure_label(exc)
                self.failures[label] = self.failures.get(label, 0) + 1
                await asyncio.sleep(0.05)
            self.acked.extend(ids)

    async def wait_acked(self, more_than: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) <= more_than:
            assert time.monotonic() < deadline, f"producers stuck at {len(self.acked)} acknowledged: {self.failures}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout=120)


def failure_label(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free port, owned by the test: started, killed, restarted."""

    def __init__(self, directory: pathlib.Path) -> None:
        # The Redis fault tests need a real server: Debian's, installed if missing (or
        # REDIS_SERVER_BIN); a loud failure when neither works.
        if not os.path.exists(REDIS_SERVER):
            ensure_debian_program(pathlib.Path(REDIS_SERVER), "redis-server")
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, "redis-server exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.asynccontextmanager
async def black_hole():
    """A TCP server that accepts connections and reads what is sent, but never answers:
    a hung dependency. Yields its port."""
    writers = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def trailers(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: v for k, v in exc.trailing_metadata() or () if isinstance(v, str)}
