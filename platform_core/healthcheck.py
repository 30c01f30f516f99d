"""Container health checks (docker-compose.yml): exit 0 when healthy, 1 with a reason.

    python -m platform_core.healthcheck grpc 127.0.0.1:50051   # the gRPC health service says SERVING
    python -m platform_core.healthcheck database               # DATABASE_URL answers (export workers)
"""

from __future__ import annotations

import argparse
import sys

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from platform_core.config import require

TIMEOUT_S = 3.0


def check_grpc(address: str) -> str | None:
    """None when the server at `address` reports SERVING for the whole server, else why not."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
        except grpc.RpcError as exc:
            return f"{address}: {exc.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def check_database(url: str) -> str | None:
    """None when the database at `url` answers a query, else why not."""
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(url, connect_timeout=int(TIMEOUT_S)) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"database: {exc.__class__.__name__}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="check", required=True)
    sub.add_parser("grpc").add_argument("address", help="host:port of a gRPC server")
    sub.add_parser("database")
    args = parser.parse_args(argv)
    problem = check_grpc(args.address) if args.check == "grpc" else check_database(require("DATABASE_URL"))
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
