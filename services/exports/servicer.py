"""gRPC servicer of the export service: parse and validate, queue, report, stream files."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from google.api import httpbody_pb2
from partnerlytics.exports.v1 import exports_pb2 as pb
from partnerlytics.exports.v1 import exports_pb2_grpc as pb_grpc

from platform_core import context
from platform_core.auth import Authenticator
from platform_core.errors import DomainError
from platform_core.export_files import FORMATS
from platform_core.export_queue import CHUNK_BYTES, ExportExpired, ExportNotFound, ExportNotReady, file_path
from platform_core.export_sources import ExportSource
from platform_core.interceptor import MethodPolicy
from platform_core.paging import timestamp_of
from platform_core.params import Params, optional_field
from platform_core.server import Deps, ServiceSpec
from services.exports import jobs
from services.exports.config import ExportSettings
from services.exports.errors import RangeNotSatisfiable

SERVICE = pb.DESCRIPTOR.services_by_name["ExportService"].full_name
EXPORT_ID = re.compile(r"^exp_[0-9a-f]{20}$")
STATUSES = ("queued", "processing", "completed", "failed", "expired")
DEFAULT_DAYS = 30
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# One byte range (`bytes=first-last`, `bytes=first-`, `bytes=-suffix`); anything else
# (several ranges, another unit) is ignored and the whole file is sent (RFC 9110 14.2).
_RANGE = re.compile(r"^bytes=(\d{0,15})-(\d{0,15})$")


def parse_moment(params: Params, field: str, raw: str | None) -> dt.datetime | None:
    """An ISO 8601 date (its midnight, UTC) or date-time (UTC unless it has an offset),
    as the platform reads moments (platform_core/params.py); None when absent or empty."""
    found = params.moment(field, raw, f"Invalid {field} (must be an ISO 8601 date or date-time)")
    return None if found is None else found[0]


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a satisfiable single range, None for the whole file;
    raises RangeNotSatisfiable for a range outside the file."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first_raw, last_raw = match.groups()
    if not first_raw:  # the last N bytes
        suffix = int(last_raw)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(first_raw)
    if last_raw and int(last_raw) < first:
        return None  # an invalid range is ignored
    if first >= size:
        raise _unsatisfiable(size)
    last = int(last_raw) if last_raw else size - 1
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> DomainError:
    return RangeNotSatisfiable(message="The requested range is outside the file",
                               details=f"The file has {size} bytes.", headers={"content-range": f"bytes */{size}"})


# A page token is the position after the previous page's last job: its creation time
# (microseconds since the epoch) and id. Any token of this shape is a valid position.
PAGE_TOKEN = re.compile(r"^(\d{1,17})\.(exp_[0-9a-f]{20})$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _page_token(job: jobs.Job) -> str:
    micros = (job.created_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}.{job.id}"


def _parse_token(params: Params, raw: str | None) -> tuple[dt.datetime, str] | None:
    if raw is None:
        return None
    match = PAGE_TOKEN.match(raw)
    if match is None:
        params.fail("page_token", "Invalid page_token (use the next_page_token of the previous page)", "invalid_token")
        return None
    return _EPOCH + dt.timedelta(microseconds=int(match.group(1))), match.group(2)


class ExportServicer(pb_grpc.ExportServiceServicer):
    def __init__(self, deps: Deps, settings: ExportSettings, sources: dict[str, ExportSource]) -> None:
        self._reader = deps.reader
        self._engine = deps.engine
        self._settings = settings
        self._sources = sources

    def _message(self, job: jobs.Job, now: dt.datetime) -> pb.ExportJob:
        state = job.state(now)
        message = pb.ExportJob(
            export_id=job.id, source=job.source, format=job.format, status=state, filters=job.filters,
            start=timestamp_of(job.range_start), end=timestamp_of(job.range_end),
            records_written=job.records_written, records_total=job.records_total,
            percent=100.0 if state in ("completed", "expired") else job.percent(),
            created_at=timestamp_of(job.created_at), content_type=job.content_type,
        )
        if job.started_at is not None:
            message.started_at.CopyFrom(timestamp_of(job.started_at))
        if job.completed_at is not None:
            message.completed_at.CopyFrom(timestamp_of(job.completed_at))
            message.expires_at.CopyFrom(timestamp_of(job.expires_at))
            message.file_size = job.file_size or 0
            message.file_name = job.file_name or ""
            if state == "completed":
                message.download_url = f"{self._settings.public_base_url}/v1/exports/{job.id}/download"
        if job.failed_at is not None:
            message.failed_at.CopyFrom(timestamp_of(job.failed_at))
            message.failure_reason = job.failure_reason or "The export failed"
        return message

    def _authorize(self, source: ExportSource) -> None:
        """A source's own read scope (the interceptor checked analytics:read)."""
        Authenticator.authorize(context.principal(), source.scope)

    async def CreateExportJob(self, request, _context):
        ctx = context.get()
        params = Params()
        source = self._sources.get(request.source)
        if not request.source:
            params.fail("source", "source is required (one of " + ", ".join(self._sources) + ")", "required")
        elif source is None:
            params.fail("source", "Unknown source (must be one of " + ", ".join(self._sources) + ")", "invalid_enum")
        fmt = params.choice("format", optional_field(request, "format"), FORMATS, "csv",
                            "Invalid format (must be " + ", ".join(FORMATS) + ")")
        now = ctx.received_at
        start = parse_moment(params, "start", optional_field(request, "start"))
        end_raw = optional_field(request, "end")
        end = parse_moment(params, "end", end_raw)
        if end is not None and _DATE.match(end_raw or "") and end.date() == now.date():
            end = now  # today's date covers today so far
        filters: dict[str, str] = {}
        if source is not None:
            for name, value in sorted(request.filters.fields.items()):
                declared = source.filter(name)
                if declared is None:
                    names = ", ".join(f.name for f in source.filters) or "none"
                    params.fail(f"filters.{name}", f"Unknown filter for {source.name} (known: {names})",
                                "unknown_filter")
                    continue
                if value.WhichOneof("kind") != "string_value":
                    params.fail(f"filters.{name}", f"Invalid {name} (must be a string)", "invalid_filter")
                    continue
                raw = value.string_value
                _, problem = declared.parse(raw)
                if problem is not None:
                    params.fail(f"filters.{name}", problem, "invalid_filter")
                filters[name] = raw
            for declared in source.filters:
                if declared.required and declared.name not in request.filters.fields:
                    params.fail(f"filters.{declared.name}", f"filters.{declared.name} is required for {source.name}",
                                "required")
        params.check()
        end = end or now
        start = start or end - dt.timedelta(days=DEFAULT_DAYS)
        if start >= end:
            params.fail("start", "start must be before end", "invalid_range")
        elif end - start > dt.timedelta(days=source.max_days):
            params.fail("start", f"The time range may cover at most {source.max_days} days", "range_too_long")
        params.check()
        self._authorize(source)
        async with self._engine.connect() as conn:
            job = await jobs.create_job(conn, context.principal(), source=source.name, fmt=fmt, filters=filters,
                                        start=start, end=end, now=now)
        return pb.CreateExportJobResponse(export=self._message(job, now))

    async def _job(self, export_id: str) -> jobs.Job:
        if EXPORT_ID.match(export_id):
            async with self._reader() as conn:
                job = await jobs.get_job(conn, context.principal(), export_id)
            if job is not None:
                source = self._sources.get(job.source)
                if source is not None:
                    self._authorize(source)
                return job
        raise ExportNotFound(message="Export not found")

    async def GetExportJob(self, request, _context):
        job = await self._job(request.export_id)
        return pb.GetExportJobResponse(export=self._message(job, context.get().received_at))

    async def ListExportJobs(self, request, _context):
        now = context.get().received_at
        params = Params()
        source = optional_field(request, "source")
        if source is not None and source not in self._sources:
            params.fail("source", "Unknown source (must be one of " + ", ".join(self._sources) + ")", "invalid_enum")
        status = optional_field(request, "status")
        if status is not None and status not in STATUSES:
            params.fail("status", "Invalid status (must be " + ", ".join(STATUSES) + ")", "invalid_enum")
        limit = params.integer("limit", optional_field(request, "limit"), 20, 1, 100,
                               "Invalid limit (must be 1-100)")
        before = _parse_token(params, optional_field(request, "page_token"))
        params.check()
        async with self._reader() as conn:
            found = await jobs.list_jobs(conn, context.principal(), source=source, status=status, limit=limit + 1,
                                         before=before, now=now)
        page = found[:limit]
        return pb.ListExportJobsResponse(
            exports=[self._message(j, now) for j in page],
            next_page_token=_page_token(page[-1]) if len(found) > limit else "",
        )

    async def DownloadExportJob(self, request, servicer_context):
        ctx = context.get()
        job = await self._job(request.export_id)
        state = job.state(ctx.received_at)
        if state == "expired":
            raise ExportExpired(message="The export has expired")
        if state != "completed":
            raise ExportNotReady(message="The export is not ready for download", details=f"Its status is {state}.")
        path = file_path(self._settings.export_dir, job)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:  # deleted by the expiry sweep a moment ago
            raise ExportExpired(message="The export has expired") from None
        with handle:
            size = job.file_size if job.file_size is not None else path.stat().st_size
            metadata = {k: v for k, v in servicer_context.invocation_metadata() or () if isinstance(v, str)}
            wanted = byte_range(metadata.get("range"), size)
            first, last = wanted if wanted is not None else (0, size - 1)
            ctx.response_headers["content-disposition"] = f'attachment; filename="{job.file_name}"'
            ctx.response_headers["accept-ranges"] = "bytes"
            # The file never changes once completed: its id and size identify it.
            ctx.response_headers["etag"] = f'"{job.id}-{size}"'
            if wanted is not None:
                ctx.response_headers["content-range"] = f"bytes {first}-{last}/{size}"
                # The gateway answers 206 for this (gateway/partner.lua; stripped there).
                ctx.response_headers["x-envelope-success-status"] = "206"
            await asyncio.to_thread(handle.seek, first)
            left = last - first + 1
            sent = False
            while left > 0:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, left))
                if not chunk:
                    break
                left -= len(chunk)
                message = httpbody_pb2.HttpBody(data=chunk)
                if not sent:
                    message.content_type = job.content_type
                    sent = True
                yield message
            if not sent:  # an empty file still answers with its content type
                yield httpbody_pb2.HttpBody(content_type=job.content_type)


def service_specs(deps: Deps, settings: ExportSettings, sources: dict[str, ExportSource]) -> list[ServiceSpec]:
    read = "analytics:read"
    status = MethodPolicy(read, "exports.status")
    return [
        ServiceSpec(
            full_name=SERVICE,
            add_to_server=pb_grpc.add_ExportServiceServicer_to_server,
            servicer=ExportServicer(deps, settings, sources),
            policies={
                f"/{SERVICE}/CreateExportJob": MethodPolicy(read, "exports.create", writes=True),
                f"/{SERVICE}/GetExportJob": status,
                f"/{SERVICE}/ListExportJobs": status,
                f"/{SERVICE}/DownloadExportJob": status,
            },
        ),
    ]
