"""The throwaway family's one RPC; `throwaway.v1` is compiled by the test into a folder
on PYTHONPATH."""

from __future__ import annotations

from throwaway.v1 import throwaway_pb2 as pb
from throwaway.v1 import throwaway_pb2_grpc as pb_grpc

from platform_core.errors import NotFound
from platform_core.interceptor import MethodPolicy
from platform_core.server import ServiceSpec

SERVICE = "throwaway.v1.ThrowawayService"


class ThrowawayServicer(pb_grpc.ThrowawayServiceServicer):
    async def GetFigure(self, request: pb.GetFigureRequest, context) -> pb.Figure:
        if request.thing_id == "missing":
            raise NotFound(message="No such thing")
        return pb.Figure(thing_id=request.thing_id, value=len(request.thing_id))


def service_specs(deps) -> list[ServiceSpec]:
    return [ServiceSpec(full_name=SERVICE, add_to_server=pb_grpc.add_ThrowawayServiceServicer_to_server,
                        servicer=ThrowawayServicer(), policies={f"/{SERVICE}/GetFigure": MethodPolicy(None)})]
