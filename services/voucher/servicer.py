"""gRPC servicers of the voucher domain: parse and validate, call the domain, build protos."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from google.api import httpbody_pb2
from partnerlytics.voucher.v1 import voucher_analytics_pb2 as api
from partnerlytics.voucher.v1 import voucher_analytics_pb2_grpc as api_grpc
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as ingest_pb
from partnerlytics.voucher.v1 import voucher_ingestion_pb2_grpc as ingest_grpc

from platform_core import context
from platform_core.errors import DetailedError
from platform_core.export_queue import CHUNK_BYTES, ExportExpired, ExportNotFound, ExportNotReady, file_path
from platform_core.ingest import IngestionServicer, counted, ingest_rpcs
from platform_core.interceptor import MethodPolicy
from platform_core.paging import timestamp_of
from platform_core.params import Params, optional_field
from platform_core.server import Deps, ServiceSpec
from platform_core.values import number_or_null, string_or_null, utc_seconds
from services.voucher import exports, ingest, queries
from services.voucher.config import VoucherSettings
from services.voucher.errors import (
    MAX_RECORDS,
    shown_id,
    too_many_records,
    voucher_not_found,
)
from services.voucher.periods import Period, check_length, parse_period

ANALYTICS = api.DESCRIPTOR.services_by_name["VoucherAnalyticsService"].full_name
INGESTION = ingest_pb.DESCRIPTOR.services_by_name["VoucherIngestionService"].full_name

VOUCHER_ID = re.compile(r"^v_[0-9a-f]{16}$")
EXPORT_ID = re.compile(r"^export_[0-9a-f]{16}$")
MAX_EXPORT_VOUCHERS = 5000


def _time_period(period: Period) -> api.TimePeriod:
    return api.TimePeriod(start=timestamp_of(period.start), end=timestamp_of(period.last_second))


def _voucher_id(raw: str) -> str:
    """The path's voucher id; one that cannot exist is reported like a missing one."""
    if not VOUCHER_ID.match(raw):
        raise voucher_not_found([raw], [])
    return raw


def _metric_list(params: Params, field: str, raw: Any, allowed: tuple[str, ...], commas: bool = False) -> list[str]:
    """Metrics de-duplicated in first-seen order, each named exactly as the served document
    writes it (no blanks, no case folding); `commas`: a query value may also hold several,
    comma-separated (`metrics=uses,orders`), but no empty one."""
    chosen: list[str] = []
    for item in raw:
        for name in item.split(",") if commas else [item]:
            if name not in allowed:
                params.fail(field, f"Unknown metric {name!r} (must be one of {', '.join(allowed)})", "invalid_enum")
            elif name not in chosen:
                chosen.append(name)
    return chosen


def parse_period_params(params: Params, request, today: dt.date) -> Period | None:
    return parse_period(
        params, optional_field(request, "start_date"), optional_field(request, "end_date"), today,
        "start_date", "end_date",
    )


class VoucherAnalyticsServicer(api_grpc.VoucherAnalyticsServiceServicer):
    def __init__(self, deps: Deps, settings: VoucherSettings) -> None:
        self._reader = deps.reader
        self._sessions = deps.sessions
        self._settings = settings

    async def GetVoucherPerformance(self, request, _context):
        ctx = context.get()
        voucher_id = _voucher_id(request.voucher_id)
        params = Params()
        details = params.boolean(
            "include_details", optional_field(request, "include_details"),
            "Invalid include_details (must be true or false)",
        )
        period = parse_period_params(params, request, ctx.received_at.date())
        params.check()
        check_length(period)
        async with self._reader() as conn:
            found = await queries.performance(conn, context.principal(), voucher_id, period, bool(details))
        if found is None:
            raise voucher_not_found([voucher_id], [])
        response = api.GetVoucherPerformanceResponse(
            voucher_id=voucher_id,
            code=found.voucher.code,
            performance=api.Performance(
                total_uses=found.uses, total_discount=found.discount, conversion_rate=found.conversion_rate,
                avg_order_value=found.avg_order_value, revenue_impact=found.revenue_impact,
                unique_customers=found.customers, repeat_usage=found.repeat_usage,
            ),
            time_period=_time_period(period),
            currency=found.voucher.currency,
            generated_at=timestamp_of(ctx.received_at.replace(microsecond=0)),
        )
        if details:
            response.details.CopyFrom(api.PerformanceDetails(
                validations=found.validations, gross_order_value=found.gross,
                avg_discount=queries.average(found.discount, found.uses),
                new_customers=found.customers - found.returning_customers,
                returning_customers=found.returning_customers,
                first_use_at=string_or_null(found.first_use, utc_seconds),
                last_use_at=string_or_null(found.last_use, utc_seconds),
            ))
        return response

    async def _voucher(self, conn, voucher_id: str) -> queries.Voucher:
        found = await queries.find_vouchers(conn, context.principal(), [voucher_id])
        if voucher_id not in found:
            raise voucher_not_found([voucher_id], [])
        return found[voucher_id]

    async def GetVoucherTrends(self, request, _context):
        ctx = context.get()
        voucher_id = _voucher_id(request.voucher_id)
        params = Params()
        interval = params.choice(
            "interval", optional_field(request, "interval"), tuple(queries.INTERVALS), "day",
            "Invalid interval (must be day, week, or month)",
        )
        metrics = (_metric_list(params, "metrics", request.metrics, queries.TREND_METRICS, commas=True)
                   or list(queries.TREND_METRICS))
        period = parse_period_params(params, request, ctx.received_at.date())
        params.check()
        check_length(period)
        async with self._reader() as conn:
            found = await queries.trends(conn, context.principal(), voucher_id, period, interval)
        if found is None:
            raise voucher_not_found([voucher_id], [])
        voucher = found.voucher
        points = []
        for p in found.points:
            point = api.TrendPoint(date=p.day.isoformat())
            values = {"uses": p.uses, "discount": p.discount, "orders": p.validations,
                      "conversion_rate": p.conversion_rate, "avg_order_value": p.avg_order_value}
            for name in metrics:
                setattr(point, name, values[name])
            points.append(point)
        uses = sum(p.uses for p in found.points)
        return api.GetVoucherTrendsResponse(
            voucher_id=voucher_id,
            code=voucher.code,
            interval=interval,
            trends=points,
            summary=api.TrendSummary(
                total_period_uses=uses,
                total_period_discount=sum(p.discount for p in found.points),
                avg_daily_uses=queries.ratio(uses, period.days),
                growth_rate=number_or_null(queries.growth(uses, found.previous_uses)),
            ),
            currency=voucher.currency,
            generated_at=timestamp_of(ctx.received_at.replace(microsecond=0)),
        )

    async def GetVoucherCustomers(self, request, _context):
        ctx = context.get()
        voucher_id = _voucher_id(request.voucher_id)
        params = Params()
        period = parse_period_params(params, request, ctx.received_at.date())
        params.check()
        check_length(period)
        async with self._reader() as conn:
            voucher = await self._voucher(conn, voucher_id)
            found = await queries.customers(conn, context.principal(), voucher, period)
        return api.GetVoucherCustomersResponse(
            voucher_id=voucher_id,
            code=voucher.code,
            customer_insights=api.CustomerInsights(
                total_customers=found.total,
                new_customers=found.total - found.returning,
                returning_customers=found.returning,
                avg_customer_value=queries.average(found.gross, found.total),
                customer_lifetime_value=queries.average(found.lifetime_total, found.total),
                top_customer_segments=[
                    api.CustomerSegment(
                        segment=s.name, count=s.customers, avg_order_value=queries.average(s.gross, s.uses),
                        conversion_rate=queries.fraction(s.uses, s.validations),
                    )
                    for s in found.segments
                ],
                geographic_distribution=[
                    api.RegionShare(
                        region=r.name, count=r.customers, percentage=queries.percentage(r.customers, found.total)
                    )
                    for r in found.regions
                ],
            ),
            time_period=_time_period(period),
            currency=voucher.currency,
            generated_at=timestamp_of(ctx.received_at.replace(microsecond=0)),
        )

    async def CreateExport(self, request, _context):
        ctx = context.get()
        params = Params()
        voucher_ids = list(dict.fromkeys(v.strip() for v in request.voucher_ids))
        if not voucher_ids:
            params.fail("voucher_ids", "voucher_ids must hold at least one voucher id", "required")
        elif len(voucher_ids) > MAX_EXPORT_VOUCHERS:
            params.fail("voucher_ids", f"voucher_ids must hold at most {MAX_EXPORT_VOUCHERS} voucher ids", "too_many")
        metrics = _metric_list(params, "metrics", request.metrics, queries.EXPORT_METRICS)
        if not request.metrics:
            params.fail("metrics", "metrics must name at least one metric", "required")
        fmt = params.choice("format", optional_field(request, "format"), exports.FORMATS, "csv",
                            "Invalid format (must be csv, json, or xlsx)")
        period_in = request.time_period
        period = parse_period(
            params, optional_field(period_in, "start"), optional_field(period_in, "end"), ctx.received_at.date(),
            "time_period.start", "time_period.end",
        )
        params.check()
        check_length(period)
        requested = len(voucher_ids) * period.days
        if requested > MAX_RECORDS:
            raise too_many_records(requested)
        async with self._reader() as conn:
            well_formed = [v for v in voucher_ids if VOUCHER_ID.match(v)]
            found = await queries.find_vouchers(conn, context.principal(), well_formed)
        missing = [v for v in voucher_ids if v not in found]
        if missing:
            raise voucher_not_found(missing, [v for v in voucher_ids if v in found])
        async with self._sessions() as session:
            job = await exports.create_export(
                session, context.principal(), voucher_ids=voucher_ids, metrics=metrics, fmt=fmt, period=period,
                now=ctx.received_at,
            )
        return api.CreateExportResponse(
            export_id=job.id, status=job.status, estimated_completion=timestamp_of(job.estimated_completion),
            format=job.format, voucher_count=len(job.voucher_ids), metrics=job.metrics,
        )

    async def _export(self, export_id: str) -> exports.ExportJob:
        if EXPORT_ID.match(export_id):
            async with self._reader() as conn:
                job = await exports.get_export(conn, context.principal(), export_id)
            if job is not None:
                return job
        raise ExportNotFound(message="Export not found", info={"export_id": shown_id(export_id)})

    async def GetExport(self, request, _context):
        now = context.get().received_at
        job = await self._export(request.export_id)
        state = job.state(now)
        response = api.GetExportResponse(export_id=job.id, status=state)
        if state == "processing":
            eta = max(job.estimated_completion, now.replace(microsecond=0))  # never in the past
            response.estimated_completion.CopyFrom(timestamp_of(eta))
        elif state == "completed":
            response.download_url = f"{self._settings.public_base_url}/v1/analytics/export/{job.id}/download"
            response.expires_at.CopyFrom(timestamp_of(job.expires_at))
            response.file_size = exports.human_size(job.file_size)
            response.record_count = job.record_count
            response.completed_at.CopyFrom(timestamp_of(job.completed_at))
        elif state == "failed":
            response.reason = job.failure_reason or "The export failed"
            response.failed_at.CopyFrom(timestamp_of(job.failed_at))
        else:
            response.expires_at.CopyFrom(timestamp_of(job.expires_at))
        return response

    async def DownloadExport(self, request, _context):
        ctx = context.get()
        job = await self._export(request.export_id)
        state = job.state(ctx.received_at)
        if state == "expired":
            raise _expired(job)
        if state != "completed":
            raise ExportNotReady(
                message="The export is not ready for download", info={"export_id": job.id, "status": state}
            )
        path = file_path(self._settings.export_dir, job)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:  # deleted by the expiry sweep a moment ago
            raise _expired(job) from None
        ctx.response_headers["content-disposition"] = f'attachment; filename="{job.id}.{job.format}"'
        with handle:
            first = True
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                message = httpbody_pb2.HttpBody(data=chunk)
                if first:
                    message.content_type = exports.CONTENT_TYPES[job.format]
                    first = False
                yield message
            if first:  # an empty file still answers with its content type
                yield httpbody_pb2.HttpBody(content_type=exports.CONTENT_TYPES[job.format])


def _expired(job: exports.ExportJob) -> DetailedError:
    expired_at = utc_seconds(job.expires_at)
    return ExportExpired(message="The export has expired", info={"export_id": job.id, "expired_at": expired_at})


class VoucherIngestionServicer(IngestionServicer, ingest_grpc.VoucherIngestionServiceServicer):
    reply = staticmethod(counted)
    CreateVoucher, BatchCreateVouchers = ingest_rpcs(
        ingest.create_vouchers, "voucher", "vouchers",
        (ingest_pb.CreateVoucherResponse, ingest_pb.BatchCreateVouchersResponse),
    )
    CreateCustomer, BatchCreateCustomers = ingest_rpcs(
        ingest.create_customers, "customer", "customers",
        (ingest_pb.CreateCustomerResponse, ingest_pb.BatchCreateCustomersResponse),
    )
    CreateValidation, BatchCreateValidations = ingest_rpcs(
        ingest.create_validations, "validation", "validations",
        (ingest_pb.CreateValidationResponse, ingest_pb.BatchCreateValidationsResponse),
    )
    CreateRedemption, BatchCreateRedemptions = ingest_rpcs(
        ingest.create_redemptions, "redemption", "redemptions",
        (ingest_pb.CreateRedemptionResponse, ingest_pb.BatchCreateRedemptionsResponse),
    )


def service_specs(deps: Deps, settings: VoucherSettings) -> list[ServiceSpec]:
    read = "analytics:read"
    status = MethodPolicy(read, "vouchers.export_status")
    write = MethodPolicy(scope="ingest:write", bucket="vouchers.ingest")
    ingestion_methods = ingest_pb.DESCRIPTOR.services_by_name["VoucherIngestionService"].methods
    return [
        ServiceSpec(
            full_name=ANALYTICS,
            add_to_server=api_grpc.add_VoucherAnalyticsServiceServicer_to_server,
            servicer=VoucherAnalyticsServicer(deps, settings),
            policies={
                f"/{ANALYTICS}/GetVoucherPerformance": MethodPolicy(read, "vouchers.performance"),
                f"/{ANALYTICS}/GetVoucherTrends": MethodPolicy(read, "vouchers.trends"),
                f"/{ANALYTICS}/GetVoucherCustomers": MethodPolicy(read, "vouchers.customers"),
                f"/{ANALYTICS}/CreateExport": MethodPolicy(read, "vouchers.export", writes=True),
                f"/{ANALYTICS}/GetExport": status,
                f"/{ANALYTICS}/DownloadExport": status,
            },
        ),
        ServiceSpec(
            full_name=INGESTION,
            add_to_server=ingest_grpc.add_VoucherIngestionServiceServicer_to_server,
            servicer=VoucherIngestionServicer(deps),
            policies={f"/{INGESTION}/{m.name}": write for m in ingestion_methods},
        ),
    ]
