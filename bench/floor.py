"""The floor of the gRPC hop: the real gateway (Envoy, the Lua filter, the gRPC-JSON
transcoder) in front of a trivial grpc.aio handler.

The handler implements the same generated services as the instance and landing services
(`ListInstanceAnalytics`, `TrackEvent`) and answers each call with a message built once at
start (the instance list from the gateway's own JSON answer), so what is measured is
Envoy + transcoding + one grpc.aio call, with no database, no auth and no limiter.

    python -m bench.floor --port 50999 --list-json answer.json
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from partnerlytics.instance.v1 import instance_analytics_pb2 as instance_pb
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as instance_grpc
from partnerlytics.landing.v1 import landing_analytics_pb2 as landing_pb
from partnerlytics.landing.v1 import landing_analytics_pb2_grpc as landing_grpc


class Instances(instance_grpc.InstanceAnalyticsServiceServicer):
    def __init__(self, answer: instance_pb.ListInstanceAnalyticsResponse) -> None:
        self.answer = answer

    async def ListInstanceAnalytics(self, request, context):
        return self.answer


class Landing(landing_grpc.LandingAnalyticsServiceServicer):
    ANSWER = landing_pb.TrackEventResponse(success=True)

    async def TrackEvent(self, request, context):
        return self.ANSWER


async def serve(port: int, list_json: str) -> None:
    answer = json_format.Parse(list_json, instance_pb.ListInstanceAnalyticsResponse(), ignore_unknown_fields=True)
    server = grpc.aio.server()
    instance_grpc.add_InstanceAnalyticsServiceServicer_to_server(Instances(answer), server)
    landing_grpc.add_LandingAnalyticsServiceServicer_to_server(Landing(), server)
    checker = health.aio.HealthServicer()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--list-json", type=pathlib.Path, required=True)
    args = p.parse_args()
    asyncio.run(serve(args.port, args.list_json.read_text()))


if __name__ == "__main__":
    main()
