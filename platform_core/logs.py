"""JSON-lines logging that carries the request id and account of the current request."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys

from platform_core import context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = context.current.get()
        if ctx is not None:
            entry["request_id"] = ctx.request_id
            entry["method"] = ctx.method
            if ctx.principal is not None:
                entry["account_id"] = str(ctx.principal.account_id)
                entry["mode"] = ctx.principal.mode
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _CancelledStreams(logging.Filter):
    """Drops gRPC's report of a stream (a health Watch) cancelled by a graceful stop."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def configure(level: str = "INFO") -> None:
    # The JSON line uses neither where a call was made nor the thread or process, so they
    # are not collected for every record (the logging HOWTO's "Optimization"): the access
    # line is written on every call.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("grpc._cython.cygrpc").addFilter(_CancelledStreams())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
