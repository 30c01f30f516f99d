"""gRPC servicers of the landing domain: parse and validate, call the domain, build protos."""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from partnerlytics.landing.v1 import landing_analytics_pb2 as api
from partnerlytics.landing.v1 import landing_analytics_pb2_grpc as api_grpc
from partnerlytics.landing.v1 import tenants_pb2 as tenants_pb
from partnerlytics.landing.v1 import tenants_pb2_grpc as tenants_grpc
from platform_core import context
from platform_core.errors import FieldViolation, invalid
from platform_core.ingest import contains_nul
from platform_core.interceptor import MethodPolicy
from platform_core.paging import timestamp_of
from platform_core.params import Params
from platform_core.server import Deps, ServiceSpec
from services.landing import queries, tenants, tracking
from services.landing.envelope import TenantNotFound
from services.landing.salts import SaltStore, utc_now

ANALYTICS = api.DESCRIPTOR.services_by_name["LandingAnalyticsService"].full_name
TENANTS = tenants_pb.DESCRIPTOR.services_by_name["LandingTenantService"].full_name

_TENANT_ID = re.compile(r"[1-9][0-9]{0,15}")
MAX_TENANT_ID = 2**53 - 1


@dataclass
class LandingDeps:
    """What the landing servicers need beyond the platform's Deps."""

    tenants: tenants.TenantDirectory
    salts: SaltStore
    writer: tracking.EventWriter
    tracker: tracking.Tracker

    @classmethod
    def build(cls, deps: Deps, clock=utc_now) -> "LandingDeps":
        directory = tenants.TenantDirectory(deps.reader)
        salts = SaltStore(deps.engine, clock)
        writer = tracking.EventWriter(deps.engine, deps.writer)
        tracker = tracking.Tracker(
            tenants=directory, salts=salts, limiter=deps.limiter, writer=writer,
            tenant_limit=deps.settings.rate_limits["landing.track"],
            source_limit=deps.settings.rate_limits["landing.track.source"],
        )
        return cls(directory, salts, writer, tracker)


def parse_tenant_id(raw: str) -> int:
    """The `tenantId` path parameter: a positive integer."""
    if not _TENANT_ID.fullmatch(raw) or int(raw) > MAX_TENANT_ID:  # exactly as sent: no blanks
        raise invalid([FieldViolation("tenantId", "tenantId must be a positive integer", "invalid_integer")])
    return int(raw)


class LandingAnalyticsServicer(api_grpc.LandingAnalyticsServiceServicer):
    def __init__(self, deps: Deps, landing: LandingDeps) -> None:
        self._reader = deps.reader
        self._landing = landing

    async def TrackEvent(self, request, servicer_context: grpc.aio.ServicerContext):
        event = tracking.parse_track(request)
        metadata = {k: v for k, v in servicer_context.invocation_metadata() or () if isinstance(v, str)}
        client = tracking.client_from(metadata, servicer_context.peer() or "")
        _stored, headers = await self._landing.tracker.track(event, client)
        context.get().response_headers.update(headers)
        return api.TrackEventResponse(success=True)

    async def _report(self, raw_tenant_id: str, days: int) -> queries.Report:
        tenant_id = parse_tenant_id(raw_tenant_id)
        async with self._reader() as conn:
            report = await queries.report(conn, context.principal(), tenant_id, self._landing.salts.now(), days)
        if report is None:
            raise TenantNotFound(message="Tenant not found", details=f"No tenant has the id {tenant_id}.")
        return report

    async def GetAnalytics(self, request, _context):
        report = await self._report(request.tenant_id, queries.DAYS)
        whole, today = report.whole, report.per_day[-1]
        return api.GetAnalyticsResponse(
            success=True,
            data=api.Analytics(
                visitors_today=today.visitors,
                visitors_week=whole.visitors,
                whatsapp_clicks=whole.click_whatsapp,
                call_clicks=whole.click_call,
                currency_toggles=whole.click_toggle_currency,
                qr_scans=whole.qr_scan,
                avg_time_on_page=whole.avg_time_on_page,
                last_7_days=[
                    api.DailyVisitors(date=day.isoformat(), visitors=figures.visitors)
                    for day, figures in zip(report.days, report.per_day)
                ],
            ),
        )

    async def GetTodayAnalytics(self, request, _context):
        today = (await self._report(request.tenant_id, 1)).whole
        return api.GetTodayAnalyticsResponse(
            success=True,
            visitors_today=today.visitors,
            whatsapp_clicks=today.click_whatsapp,
            qr_scans=today.qr_scan,
            products_viewed=today.product_click,
        )


def _tenant(record: tenants.TenantRecord) -> tenants_pb.Tenant:
    return tenants_pb.Tenant(
        id=record.id, name=record.name, time_zone=record.time_zone, create_time=timestamp_of(record.created_at)
    )


class LandingTenantServicer(tenants_grpc.LandingTenantServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._reader = deps.reader

    async def CreateTenant(self, request, _context):
        params = Params()
        name = request.name.strip()
        if not name:
            params.fail("name", "name is required", "required")
        elif len(name) > 200:
            params.fail("name", "name must be at most 200 characters", "too_long")
        elif contains_nul(name):
            params.fail("name", "name must not contain NUL characters", "invalid_value")
        time_zone = request.time_zone.strip() or "UTC"
        if not tenants.valid_time_zone(time_zone):
            params.fail("time_zone", "time_zone must be an IANA time zone name, e.g. Europe/Berlin", "invalid_time_zone")
        params.check()
        async with self._sessions() as session:
            record = await tenants.create_tenant(session, context.principal(), name, time_zone)
        return tenants_pb.CreateTenantResponse(tenant=_tenant(record))

    async def GetTenant(self, request, _context):
        if not 1 <= request.id <= MAX_TENANT_ID:
            raise invalid([FieldViolation("id", "id must be a positive integer", "invalid_integer")])
        async with self._reader() as conn:
            record = await tenants.find_tenant(conn, context.principal(), request.id)
        if record is None:
            raise TenantNotFound(message="Tenant not found", details=f"No tenant has the id {request.id}.")
        return tenants_pb.GetTenantResponse(tenant=_tenant(record))


def service_specs(deps: Deps, landing: LandingDeps | None = None) -> list[ServiceSpec]:
    landing = landing or LandingDeps.build(deps)
    return [
        ServiceSpec(
            full_name=ANALYTICS,
            add_to_server=api_grpc.add_LandingAnalyticsServiceServicer_to_server,
            servicer=LandingAnalyticsServicer(deps, landing),
            policies={
                # Public: browsers call it without a key; it limits itself per tenant and source.
                f"/{ANALYTICS}/TrackEvent": MethodPolicy(None),
                f"/{ANALYTICS}/GetAnalytics": MethodPolicy("analytics:read", "landing.dashboard"),
                f"/{ANALYTICS}/GetTodayAnalytics": MethodPolicy("analytics:read", "landing.dashboard"),
            },
        ),
        ServiceSpec(
            full_name=TENANTS,
            add_to_server=tenants_grpc.add_LandingTenantServiceServicer_to_server,
            servicer=LandingTenantServicer(deps),
            policies={
                f"/{TENANTS}/CreateTenant": MethodPolicy("ingest:write", "landing.tenants.write"),
                f"/{TENANTS}/GetTenant": MethodPolicy("analytics:read", "landing.tenants.read"),
            },
        ),
    ]
