"""gRPC servicers of the campaign domain: parse and validate, call the domain, build protos."""

from __future__ import annotations

import datetime as dt
import functools
import decimal
import uuid


from partnerlytics.campaign.v1 import campaign_analytics_pb2 as api
from partnerlytics.campaign.v1 import campaign_analytics_pb2_grpc as api_grpc
from partnerlytics.campaign.v1 import campaigns_pb2 as registry_pb
from partnerlytics.campaign.v1 import campaigns_pb2_grpc as registry_grpc
from platform_core import context
from platform_core.errors import FieldViolation, NotFound, Unprocessable, partner_meta
from platform_core.ingest import contains_nul
from platform_core.interceptor import MethodPolicy
from platform_core.paging import PageRequest, Window, capped_page, pagination, timestamp_fields_us, timestamp_of
from platform_core.params import Params, optional_field, parse_uuid, partner_page
from platform_core.server import Deps, ServiceSpec
from platform_core.values import string_or_null, utc_seconds
from services.campaign import queries

ANALYTICS = api.DESCRIPTOR.services_by_name["CampaignAnalyticsService"].full_name
REGISTRY = registry_pb.DESCRIPTOR.services_by_name["CampaignService"].full_name

# The trailing windows of the three fixed time frames (docs/architecture.md, "Windows").
TIME_FRAMES = {
    "per_hour": dt.timedelta(hours=1),
    "per_day": dt.timedelta(hours=24),
    "per_month": dt.timedelta(days=30),
}
CUSTOM_RANGE = "custom_range"
MAX_RANGE_DAYS = 366
NO_DATA = "No analytics data available for the specified time period"
CENT = decimal.Decimal("0.01")
RATE = decimal.Decimal("0.0001")


def parse_request(
    request: api.GetCampaignAnalyticsRequest, now: dt.datetime
) -> tuple[uuid.UUID, str, Window, bool | None, PageRequest]:
    """The path and the documented parameters, with every violation reported at once."""
    params = Params()
    get = functools.partial(optional_field, request)
    campaign_id = parse_uuid(request.campaign_id)
    if campaign_id is None:
        params.fail("campaign_id", "Invalid UUID format for campaign_id", "invalid_uuid")
    raw_frame = get("time_frame")
    time_frame = ""
    if raw_frame is None or not raw_frame.strip():
        params.fail("time_frame", "time_frame is required (per_hour, per_day, per_month, or custom_range)", "required")
    else:
        time_frame = params.choice(
            "time_frame", raw_frame, (*TIME_FRAMES, CUSTOM_RANGE), "",
            "Invalid time_frame parameter (must be per_hour, per_day, per_month, or custom_range)",
        )
    raw_purchase = params.choice(
        "is_purchase", get("is_purchase"), ("true", "false", "all"), "all",
        "Invalid is_purchase parameter (must be true, false, or all)",
    )
    page, limit = partner_page(params, get("page"), get("limit"), 50)
    window = Window.trailing(now, TIME_FRAMES.get(time_frame, TIME_FRAMES["per_day"]))
    # A malformed date is refused whatever the time frame (it is used only by custom_range).
    start = params.date("start_date", get("start_date"), "Invalid date format (must be YYYY-MM-DD)")
    end = params.date("end_date", get("end_date"), "Invalid date format (must be YYYY-MM-DD)")
    if time_frame == CUSTOM_RANGE:
        if get("start_date") is None:
            params.fail("start_date", "Missing start_date for custom_range", "required")
        if get("end_date") is None:
            params.fail("end_date", "Missing end_date for custom_range", "required")
        if start is not None and end is not None:
            if end < start:
                params.fail("end_date", "End date must be after start_date", "invalid_range")
            elif (end - start).days + 1 > MAX_RANGE_DAYS:
                params.fail(
                    "end_date",
                    f"Date range too large (exceeds maximum allowed period of {MAX_RANGE_DAYS} days)",
                    "range_too_large",
                )
            else:
                midnight = dt.time(tzinfo=dt.timezone.utc)
                window = Window(
                    dt.datetime.combine(start, midnight), dt.datetime.combine(end + dt.timedelta(days=1), midnight)
                )
    params.check()
    assert campaign_id is not None
    is_purchase = None if raw_purchase == "all" else raw_purchase == "true"
    return campaign_id, time_frame, window, is_purchase, PageRequest(capped_page(page, limit), limit)


def _money(value: decimal.Decimal) -> float:
    # The nearest double to a cent amount prints back as that amount (shortest repr).
    return float(value.quantize(CENT))


def conversion_rate(purchases: int, instances: int) -> float:
    """purchases / instances rounded half up to 4 decimals; 0 without instances."""
    if instances == 0:
        return 0.0
    return float((decimal.Decimal(purchases) / decimal.Decimal(instances)).quantize(RATE, decimal.ROUND_HALF_UP))


class CampaignAnalyticsServicer(api_grpc.CampaignAnalyticsServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self._reader = deps.reader

    async def GetCampaignAnalytics(self, request, _context):
        ctx = context.get()
        campaign_id, time_frame, window, is_purchase, page = parse_request(request, ctx.received_at)
        async with self._reader() as conn:
            found = await queries.campaign_page(conn, context.principal(), campaign_id, window, is_purchase, page)
        if not found.exists:
            raise NotFound(message="Campaign not found with the specified campaign_id")
        summary = found.summary
        if summary.instances == 0:
            raise Unprocessable(
                message=NO_DATA,
                details=(f"The campaign has no instances between {utc_seconds(window.start)} "
                         f"and {utc_seconds(window.end)}."),
                violations=[FieldViolation("time_frame", NO_DATA, "no_data")],
            )
        response = api.GetCampaignAnalyticsResponse(
            success=True,
            message="Campaign analytics retrieved successfully",
            data=api.CampaignAnalytics(
                campaign_id=str(campaign_id),
                time_frame=time_frame,
                summary=api.CampaignSummary(
                    total_instances=summary.instances,
                    purchase_instances=summary.purchases,
                    non_purchase_instances=summary.instances - summary.purchases,
                    total_revenue=_money(summary.revenue),
                    conversion_rate=conversion_rate(summary.purchases, summary.instances),
                ),
            ),
            pagination=pagination(page, found.total),
            meta=partner_meta(ctx.request_id, ctx.received_at),
        )
        add = response.data.instances.add  # rows built in place (a message passed to a constructor is copied)
        for r in found.rows:
            add(
                instance_id=r.instance_id,
                insider_id=r.insider_id,
                is_purchase=r.is_purchase,
                purchased_insider_id=string_or_null(r.purchased_insider_id),
                timestamp=timestamp_fields_us(r.timestamp_us),
                revenue=_money(r.instance_revenue),
            )
        return response


def _campaign(record: queries.CampaignRecord) -> registry_pb.Campaign:
    return registry_pb.Campaign(id=str(record.id), name=record.name, create_time=timestamp_of(record.created_at))


class CampaignServicer(registry_grpc.CampaignServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._reader = deps.reader

    async def CreateCampaign(self, request, _context):
        params = Params()
        campaign_id = parse_uuid(request.campaign.id)
        if campaign_id is None:
            params.fail("campaign.id", "campaign.id must be a UUID", "invalid_uuid")
        name = request.campaign.name.strip()
        if not name:
            params.fail("campaign.name", "campaign.name is required", "required")
        elif len(name) > 200:
            params.fail("campaign.name", "campaign.name must be at most 200 characters", "too_long")
        elif contains_nul(name):
            params.fail("campaign.name", "campaign.name must not contain NUL characters", "invalid_value")
        params.check()
        assert campaign_id is not None
        async with self._sessions() as session:
            record, created = await queries.create_campaign(session, context.principal(), campaign_id, name)
        return registry_pb.CreateCampaignResponse(campaign=_campaign(record), created=created)

    async def ListCampaigns(self, request, _context):
        params = Params()
        page = request.page or 1
        size = request.page_size or 50
        if page < 1:
            params.fail("page", "page must be a positive integer", "out_of_range")
        if not 1 <= size <= 100:
            params.fail("page_size", "page_size must be 1-100", "out_of_range")
        params.check()
        async with self._reader() as conn:
            records, total = await queries.list_campaigns(conn, context.principal(), PageRequest(page, size))
        return registry_pb.ListCampaignsResponse(campaigns=[_campaign(r) for r in records], total_size=total)


def service_specs(deps: Deps) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            full_name=ANALYTICS,
            add_to_server=api_grpc.add_CampaignAnalyticsServiceServicer_to_server,
            servicer=CampaignAnalyticsServicer(deps),
            policies={f"/{ANALYTICS}/GetCampaignAnalytics": MethodPolicy("analytics:read", "campaigns.analytics")},
        ),
        ServiceSpec(
            full_name=REGISTRY,
            add_to_server=registry_grpc.add_CampaignServiceServicer_to_server,
            servicer=CampaignServicer(deps),
            policies={
                f"/{REGISTRY}/CreateCampaign": MethodPolicy("ingest:write", "campaigns.write"),
                f"/{REGISTRY}/ListCampaigns": MethodPolicy("analytics:read", "campaigns.list"),
            },
        ),
    ]
