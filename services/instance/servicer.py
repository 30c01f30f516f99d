"""gRPC servicers of the instance domain: parse and validate, call the domain, build protos."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from partnerlytics.instance.v1 import instance_analytics_pb2 as api
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as api_grpc
from partnerlytics.instance.v1 import instance_ingestion_pb2 as ingest_pb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as ingest_grpc
from platform_core import context
from platform_core.errors import NotFound, partner_meta
from platform_core.ingest import IngestionServicer, counted, ingest_rpcs
from platform_core.interceptor import MethodPolicy
from platform_core.paging import PageRequest, Window, capped_page, pagination, timestamp_fields_us
from platform_core.params import Params, optional_field, parse_uuid, partner_page
from platform_core.server import Deps, ServiceSpec
from platform_core.values import fill_struct, scalar_or_null, string_or_null
from services.instance import ingest, queries

ANALYTICS = api.DESCRIPTOR.services_by_name["InstanceAnalyticsService"].full_name
INGESTION = ingest_pb.DESCRIPTOR.services_by_name["InstanceIngestionService"].full_name

TIME_FRAMES = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(hours=24)}
MAX_DETAIL_IDS = 50


def parse_list_request(request: api.ListInstanceAnalyticsRequest, now: dt.datetime) -> tuple[str, Window, bool | None, PageRequest]:
    """The documented parameters, with every violation reported at once."""
    params = Params()
    get = functools.partial(optional_field, request)
    is_purchase = params.boolean("is_purchased", get("is_purchased"), "Invalid is_purchased parameter (must be boolean)")
    time_frame = params.choice(
        "time_frame", get("time_frame"), ("hour", "day", "custom"), "day",
        "Invalid time_frame parameter (must be hour, day, or custom)",
    )
    page, limit = partner_page(params, get("page"), get("limit"), 20)
    window = Window.trailing(now, TIME_FRAMES.get(time_frame, TIME_FRAMES["day"]))
    # A malformed date is refused whatever the time frame (it is used only by `custom`).
    start = params.moment("start_date", get("start_date"), "Invalid start_date (must be an ISO 8601 date)")
    end = params.moment("end_date", get("end_date"), "Invalid end_date (must be an ISO 8601 date)")
    if time_frame == "custom":
        if start is None and not (get("start_date") or "").strip():
            params.fail("start_date", "Missing start_date for custom time_frame", "required")
        if end is None and not (get("end_date") or "").strip():
            params.fail("end_date", "Missing end_date for custom time_frame", "required")
        if start is not None and end is not None:
            window = Window.from_bounds(start, end)
            if end[0] < start[0]:
                params.fail("end_date", "end_date must be after start_date", "invalid_range")
    params.check()
    return time_frame, window, is_purchase, PageRequest(capped_page(page, limit), limit)


def parse_instance_ids(body: api.GetInstanceDetailsBody) -> list[uuid.UUID]:
    params = Params()
    if not body.HasField("instance_ids") or body.instance_ids.WhichOneof("kind") == "null_value":
        params.fail("instance_ids", "Missing instance_ids in request body", "required")
        params.check()
    if body.instance_ids.WhichOneof("kind") != "list_value":
        params.fail("instance_ids", "instance_ids must be an array of UUIDs", "invalid_type")
        params.check()
    values = body.instance_ids.list_value.values
    if not values:
        params.fail("instance_ids", "Must provide at least 1 instance ID", "too_few")
    elif len(values) > MAX_DETAIL_IDS:
        params.fail("instance_ids", "Maximum 50 instance IDs per request", "too_many")
    params.check()
    ids: list[uuid.UUID] = []
    for i, value in enumerate(values):
        parsed = parse_uuid(value.string_value) if value.WhichOneof("kind") == "string_value" else None
        if parsed is None:
            params.fail(f"instance_ids[{i}]", "Invalid UUID format for instance IDs", "invalid_uuid")
        elif parsed not in ids:  # de-duplicated, first-seen order kept
            ids.append(parsed)
    params.check()
    return ids


def _micros(us: int) -> dict[str, int]:
    """A Timestamp field's value from epoch microseconds, as the fields' dict (a message's
    constructor fills the field from it without a Timestamp object in between)."""
    seconds, micros = divmod(us, 1_000_000)
    return {"seconds": seconds, "nanos": micros * 1000}


def _add_event(events, row: list[Any]) -> None:
    """Appends the event of a row to a message's repeated `events`, built in place."""
    event_id, name, tracker_type, reference_id, created_us, updated_us, metadata = row
    event = events.add(
        id=event_id, name=name, tracker_type=tracker_type, created_at=_micros(created_us),
        updated_at=_micros(updated_us),
    )
    if reference_id is not None:
        event.reference_id = reference_id
    if metadata is not None:  # None leaves the field unset, as a constructor's `metadata=None` does
        event.metadata.Clear()  # present even when empty, as `metadata={}` makes it
        fill_struct(event.metadata, metadata)


def _order_value(order: dict[str, Any] | None) -> struct_pb2.Value:
    """The order as a JSON object shaped by the `Order` message, or null: the fields of
    `Order` and `OrderItem` under their proto names, numbers as doubles, `created_at` as
    the Timestamp's RFC 3339 text (what MessageToDict of an `Order` gives, without building
    the message and walking it)."""
    if order is None:
        return scalar_or_null(None)
    return struct_pb2.Value(struct_value={
        "id": order["id"],
        "total": float(order["total"]),
        "currency": order["currency"],
        "status": order["status"],
        "items": [{"product_id": p, "quantity": float(q), "price": float(price)} for p, q, price in order["items"]],
        "created_at": Timestamp(**_micros(order["created_at"])).ToJsonString(),
    })


def _add_details(data, d: queries.Details) -> None:
    """Appends an instance's details to the response's repeated `data`, built in place: a
    message passed to a constructor is copied, its events and their Structs with it."""
    order = d.order
    details = data.add(
        instance_id=str(d.instance_id),
        insider_id=str(d.insider_id),
        purchased_insider_id=scalar_or_null(d.purchased_insider_id),
        campaign_id=str(d.campaign_id),
        is_purchase=d.is_purchase,
        order=_order_value(order),
        insider_rewards=[
            api.InsiderReward(id=r_id, insider_id=insider, type=kind, amount=amount, currency=currency,
                              status=status, created_at=_micros(created_us))
            for r_id, insider, kind, amount, currency, status, created_us in d.rewards
        ],
        # With a purchase and no discount, the price after discounts is the total.
        order_discounted_price=scalar_or_null(
            None if order is None else (order["discounted_price"] if order["discounted_price"] is not None else order["total"])
        ),
        cashfunds_use=order["cashfunds_used"] if order is not None else 0.0,
        credits_used=order["credits_used"] if order is not None else 0.0,
    )
    for event in d.events:
        _add_event(details.events, event)


class InstanceAnalyticsServicer(api_grpc.InstanceAnalyticsServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self._reader = deps.reader

    async def ListInstanceAnalytics(self, request, _context):
        ctx = context.get()
        time_frame, window, is_purchase, page = parse_list_request(request, ctx.received_at)
        async with self._reader() as conn:
            rows, total = await queries.list_instances(conn, context.principal(), window, is_purchase, page)
        response = api.ListInstanceAnalyticsResponse(
            success=True,
            time_frame=time_frame,
            message="Instance analytics retrieved successfully",
            pagination=pagination(page, total),
            meta=partner_meta(ctx.request_id, ctx.received_at),
        )
        add = response.data.add  # rows built in place (a message passed to a constructor is copied)
        for r in rows:
            add(
                timestamp=timestamp_fields_us(r.timestamp_us),
                instance_id=r.instance_id,
                is_purchase=r.is_purchase,
                insider_id=r.insider_id,
                purchased_insider_id=string_or_null(r.purchased_insider_id),
            )
        return response

    async def GetInstanceDetails(self, request, _context):
        ctx = context.get()
        params = Params()
        events = params.choice(
            "events", request.events if request.HasField("events") else None, ("first", "last", "all"), "all",
            "Invalid events parameter (must be first, last, or all)",
        )
        params.check()
        ids = parse_instance_ids(request.body)
        async with self._reader() as conn:
            found = await queries.instance_details(conn, context.principal(), ids, events)
        if found is None:
            raise NotFound(message="One or more instance IDs not found")
        response = api.GetInstanceDetailsResponse(
            success=True,
            message="Instance details retrieved successfully",
            meta=partner_meta(ctx.request_id, ctx.received_at),
        )
        for d in found:
            _add_details(response.data, d)
        return response


class InstanceIngestionServicer(IngestionServicer, ingest_grpc.InstanceIngestionServiceServicer):
    reply = staticmethod(counted)
    CreateInstance, BatchCreateInstances = ingest_rpcs(
        ingest.create_instances, "instance", "instances",
        (ingest_pb.CreateInstanceResponse, ingest_pb.BatchCreateInstancesResponse),
    )
    CreateEvent, BatchCreateEvents = ingest_rpcs(
        ingest.create_events, "event", "events", (ingest_pb.CreateEventResponse, ingest_pb.BatchCreateEventsResponse),
    )
    CreateOrder, BatchCreateOrders = ingest_rpcs(
        ingest.create_orders, "order", "orders", (ingest_pb.CreateOrderResponse, ingest_pb.BatchCreateOrdersResponse),
    )
    CreateInsiderReward, BatchCreateInsiderRewards = ingest_rpcs(
        ingest.create_insider_rewards, "insider_reward", "insider_rewards",
        (ingest_pb.CreateInsiderRewardResponse, ingest_pb.BatchCreateInsiderRewardsResponse),
    )


def service_specs(deps: Deps) -> list[ServiceSpec]:
    read = MethodPolicy(scope="analytics:read")
    write = MethodPolicy(scope="ingest:write", bucket="instances.ingest")
    ingestion_methods = ingest_pb.DESCRIPTOR.services_by_name["InstanceIngestionService"].methods
    return [
        ServiceSpec(
            full_name=ANALYTICS,
            add_to_server=api_grpc.add_InstanceAnalyticsServiceServicer_to_server,
            servicer=InstanceAnalyticsServicer(deps),
            policies={
                f"/{ANALYTICS}/ListInstanceAnalytics": MethodPolicy(read.scope, "instances.list"),
                f"/{ANALYTICS}/GetInstanceDetails": MethodPolicy(read.scope, "instances.details"),
            },
        ),
        ServiceSpec(
            full_name=INGESTION,
            add_to_server=ingest_grpc.add_InstanceIngestionServiceServicer_to_server,
            servicer=InstanceIngestionServicer(deps),
            policies={f"/{INGESTION}/{m.name}": write for m in ingestion_methods},
        ),
    ]
