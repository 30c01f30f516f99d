"""The REST clients: `Client` (sync) and `AsyncClient` (asyncio), one method per operation.

Both share every method below (`_Operations`): a method builds a `Call`, and the client
runs it (the async client returns an awaitable; its `iter_*` methods return async
iterators). Arguments are typed (ints, bools, dates, enums); the SDK writes the query
strings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import httpx

from . import _generated as m
from ._transport import Call, RetryPolicy, chunks, headers, new_request_id, query_value

# The argument types of the methods below (names.py).
from .downloads import ExportFile, export_file
from .names import (
    AffiliateFeed,
    AffiliateSection,
    CampaignTimeFrame,
    DateLike,
    ExportFormat,
    ExportMetric,
    ExportSource,
    ExportStatus,
    FileFormat,
    InstanceTimeFrame,
    LandingEventType,
    VoucherInterval,
    VoucherMetric,
    WebhookEventType,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def _with_ids(records: Sequence[Any], key: str | None) -> list[Any]:
    """Records as sent; a dict without its client id gets one, written into the dict, so
    that sending the same records again is a no-op (the id is the idempotency key)."""
    if key is not None:
        for record in records:
            if isinstance(record, dict) and not record.get(key):
                record[key] = str(uuid.uuid4())
    return list(records)


# The answer of any ingestion operation (each has its own message, all of the same shape).
IngestResponse = (m.UpsertAffiliatesResponse | m.CreateTrackingCodesResponse | m.UpsertProductsResponse
                  | m.RecordEventsResponse | m.RecordConversionsResponse)


def _sum(results: Sequence[IngestResponse]) -> m.IngestResult:
    return m.IngestResult(created_count=sum(r.data.created_count or 0 for r in results if r.data),
                          duplicate_count=sum(r.data.duplicate_count or 0 for r in results if r.data))


# Ingestion operation -> (body key, client-id field the SDK assigns, or None).
INGESTION = {
    "UpsertAffiliates": ("affiliates", None),
    "CreateTrackingCodes": ("tracking_codes", None),
    "UpsertProducts": ("products", None),
    "RecordEvents": ("events", "id"),
    "RecordConversions": ("conversions", None),
}


class _Operations:
    """Every operation; `_run`, `_pages`, `_batches` and `_poll` are the client's."""

    _run: Callable[..., Any]
    _pages: Callable[..., Any]
    _batches: Callable[..., Any]
    _poll: Callable[..., Any]

    # Instance analytics

    def list_instance_analytics(self, *, is_purchased: bool | None = None, time_frame: InstanceTimeFrame | None = None,
                                start_date: DateLike | None = None, end_date: DateLike | None = None,
                                page: int | None = None, limit: int | None = None) -> m.ListInstanceAnalyticsResponse:
        """`GET /partner/v1/instances/analytics`: one page of instances, newest first."""
        return self._run(Call("ListInstanceAnalytics", query=dict(
            is_purchased=is_purchased, time_frame=time_frame, start_date=start_date, end_date=end_date,
            page=page, limit=limit)))

    def iter_instance_analytics(self, *, is_purchased: bool | None = None, time_frame: InstanceTimeFrame | None = None,
                                start_date: DateLike | None = None, end_date: DateLike | None = None,
                                limit: int | None = None) -> Iterator[m.InstanceSummary]:
        """Every instance of `list_instance_analytics`, page after page."""
        return self._pages(lambda page: self.list_instance_analytics(
            is_purchased=is_purchased, time_frame=time_frame, start_date=start_date, end_date=end_date, page=page,
            limit=limit), lambda r: r.data, lambda r: bool(r.pagination and r.pagination.has_next))

    def get_instance_details(self, instance_ids: Sequence[str | uuid.UUID], *,
                             events: Literal["all", "first", "last"] | None = None) -> m.GetInstanceDetailsResponse:
        """`POST /partner/v1/instances/analytics`: events, order and rewards of up to 50 instances."""
        return self._run(Call("GetInstanceDetails", query=dict(events=events),
                              body={"instance_ids": [str(i) for i in instance_ids]}))

    # Campaign analytics

    def get_campaign_analytics(self, campaign_id: str | uuid.UUID, *, time_frame: CampaignTimeFrame,
                               start_date: dt.date | None = None, end_date: dt.date | None = None,
                               is_purchase: bool | None = None, page: int | None = None,
                               limit: int | None = None) -> m.GetCampaignAnalyticsResponse:
        """`GET /api/partner/v1/campaigns/{campaign_id}/analytics`: summary and one page of instances."""
        return self._run(Call("GetCampaignAnalytics", path=dict(campaign_id=campaign_id), query=dict(
            time_frame=time_frame, start_date=start_date, end_date=end_date, is_purchase=is_purchase,
            page=page, limit=limit)))

    def iter_campaign_instances(self, campaign_id: str | uuid.UUID, *, time_frame: CampaignTimeFrame,
                                start_date: dt.date | None = None, end_date: dt.date | None = None,
                                is_purchase: bool | None = None, limit: int | None = None
                                ) -> Iterator[m.CampaignInstance]:
        """Every instance of the campaign's analytics, page after page."""
        return self._pages(
            lambda page: self.get_campaign_analytics(campaign_id, time_frame=time_frame, start_date=start_date,
                                                     end_date=end_date, is_purchase=is_purchase, page=page,
                                                     limit=limit),
            lambda r: r.data.instances if r.data else [], lambda r: bool(r.pagination and r.pagination.has_next))

    # Affiliate analytics and ingestion

    def get_affiliate_analytics(self, section: AffiliateSection, *, from_date: dt.date | None = None,
                                to_date: dt.date | None = None, metrics: Sequence[str] | None = None,
                                page: int | None = None, per_page: int | None = None,
                                top_limit: int | None = None) -> m.GetAffiliateAnalyticsResponse:
        """`GET /v1/affiliate/analytics?section=...`: one section (needs `reports:read`)."""
        return self._run(Call("GetAffiliateAnalytics", query={
            "section": section, "from": from_date, "to": to_date, "metrics": metrics, "page": page,
            "per_page": per_page, "top_limit": top_limit}))

    def iter_affiliate_feed(self, section: AffiliateFeed, *, per_page: int | None = None,
                            from_date: dt.date | None = None, to_date: dt.date | None = None
                            ) -> Iterator[m.Click | m.Conversion | m.TrackingEvent]:
        """Every row of a feed section (`recent_clicks`, ...), page after page."""
        def feed(response: m.GetAffiliateAnalyticsResponse) -> Any:
            return getattr(response.data, section)

        def more(response: m.GetAffiliateAnalyticsResponse) -> bool:
            p = feed(response).pagination
            return bool(p and p.current_page < p.last_page)

        return self._pages(lambda page: self.get_affiliate_analytics(section, from_date=from_date, to_date=to_date,
                                                                     page=page, per_page=per_page),
                           lambda r: feed(r).data, more)

    def upsert_affiliates(self, affiliates: Sequence[m.AffiliateRecord | dict]) -> m.UpsertAffiliatesResponse:
        """`POST /v1/affiliate/affiliates:batch` (ids are the client's)."""
        return self._ingest("UpsertAffiliates", affiliates)

    def create_tracking_codes(self, tracking_codes: Sequence[m.TrackingCodeRecord | dict]) -> m.CreateTrackingCodesResponse:
        """`POST /v1/affiliate/tracking-codes:batch`."""
        return self._ingest("CreateTrackingCodes", tracking_codes)

    def upsert_products(self, products: Sequence[m.ProductRecord | dict]) -> m.UpsertProductsResponse:
        """`POST /v1/affiliate/products:batch`."""
        return self._ingest("UpsertProducts", products)

    def record_events(self, events: Sequence[m.EventRecord | dict]) -> m.RecordEventsResponse:
        """`POST /v1/affiliate/events:batch`. An `EventRecord` gets its UUID when it is made and
        a dict without `id` gets one written into it: a resent batch is stored once."""
        return self._ingest("RecordEvents", events)

    def record_conversions(self, conversions: Sequence[m.ConversionRecord | dict]) -> m.RecordConversionsResponse:
        """`POST /v1/affiliate/conversions:batch` (`order_id` is the idempotency key)."""
        return self._ingest("RecordConversions", conversions)

    def ingest(self, operation: str, records: Sequence[Any], *, batch_size: int = 1000) -> m.IngestResult:
        """Any number of records of an ingestion operation (e.g. "RecordEvents"), in batches of
        `batch_size`; each batch is retried as the client's policy says, with its ids kept, so
        a batch that was stored before its answer was lost is not stored twice."""
        _, id_key = INGESTION[operation]
        records = _with_ids(records, id_key)
        return self._batches([self._ingest_call(operation, batch) for batch in chunks(records, batch_size)])

    def _ingest_call(self, operation: str, records: Sequence[Any]) -> Call:
        key, id_key = INGESTION[operation]
        return Call(operation, body={key: _with_ids(records, id_key)})

    def _ingest(self, operation: str, records: Sequence[Any]) -> Any:
        return self._run(self._ingest_call(operation, records))

    # Voucher analytics and exports

    def get_voucher_performance(self, voucher_id: str, *, start_date: DateLike | None = None,
                                end_date: DateLike | None = None,
                                include_details: bool | None = None) -> m.GetVoucherPerformanceResponse:
        """`GET /v1/analytics/vouchers/{voucher_id}/performance`."""
        return self._run(Call("GetVoucherPerformance", path=dict(voucher_id=voucher_id), query=dict(
            start_date=start_date, end_date=end_date, include_details=include_details)))

    def get_voucher_trends(self, voucher_id: str, *, interval: VoucherInterval | None = None,
                           start_date: DateLike | None = None, end_date: DateLike | None = None,
                           metrics: Sequence[VoucherMetric] | None = None) -> m.GetVoucherTrendsResponse:
        """`GET /v1/analytics/vouchers/{voucher_id}/trends`."""
        return self._run(Call("GetVoucherTrends", path=dict(voucher_id=voucher_id), query=dict(
            interval=interval, start_date=start_date, end_date=end_date, metrics=metrics)))

    def get_voucher_customers(self, voucher_id: str, *, start_date: DateLike | None = None,
                              end_date: DateLike | None = None) -> m.GetVoucherCustomersResponse:
        """`GET /v1/analytics/vouchers/{voucher_id}/customers`."""
        return self._run(Call("GetVoucherCustomers", path=dict(voucher_id=voucher_id),
                              query=dict(start_date=start_date, end_date=end_date)))

    def create_export(self, voucher_ids: Sequence[str], metrics: Sequence[ExportMetric], *,
                      format: ExportFormat | None = None, start: DateLike | None = None,
                      end: DateLike | None = None) -> m.CreateExportResponse:
        """`POST /v1/analytics/export`: starts an export (the last 30 days without `start`/`end`)."""
        period = m.ExportPeriod(start=query_value(start), end=query_value(end)) if start or end else None
        return self._run(Call("CreateExport", body=m.CreateExportRequest(
            voucher_ids=list(voucher_ids), metrics=list(metrics), format=format, time_period=period)))

    def get_export(self, export_id: str) -> m.GetExportResponse:
        """`GET /v1/analytics/export/{export_id}`: the export's status."""
        return self._run(Call("GetExport", path=dict(export_id=export_id)))

    def wait_for_export(self, export_id: str, *, interval: float = 0.5, timeout: float = 120.0) -> m.GetExportResponse:
        """Polls `get_export` until the export is no longer `processing`."""
        return self._poll(lambda: self.get_export(export_id), lambda r: r.status != "processing", interval, timeout)

    def download_export(self, export_id: str) -> ExportFile:
        """`GET /v1/analytics/export/{export_id}/download`: the file's bytes (CSV, JSON or XLSX)."""
        return self._run(Call("DownloadExport", path=dict(export_id=export_id), raw=True), export_file)

    # Exports of every family (docs/exports.md)

    def create_export_job(self, source: ExportSource, *, format: FileFormat | None = None,
                          start: DateLike | None = None, end: DateLike | None = None,
                          filters: dict[str, Any] | None = None) -> m.CreateExportJobResponse:
        """`POST /v1/exports`: queues an export of one source's rows (the last 30 days by default)."""
        return self._run(Call("CreateExportJob", body=m.CreateExportJobRequest(
            source=source, format=format, start=query_value(start), end=query_value(end),
            filters={k: str(query_value(v)) for k, v in (filters or {}).items()} or None)))

    def get_export_job(self, export_id: str) -> m.GetExportJobResponse:
        """`GET /v1/exports/{export_id}`: the job's status and progress (`records_written`, `percent`)."""
        return self._run(Call("GetExportJob", path=dict(export_id=export_id)))

    def list_export_jobs(self, *, source: ExportSource | None = None, status: ExportStatus | None = None,
                         limit: int | None = None, page_token: str | None = None) -> m.ListExportJobsResponse:
        """`GET /v1/exports`: one page of the account's export jobs, newest first."""
        return self._run(Call("ListExportJobs", query=dict(source=source, status=status, limit=limit,
                                                           page_token=page_token)))

    def wait_for_export_job(self, export_id: str, *, interval: float = 0.5,
                            timeout: float = 600.0) -> m.GetExportJobResponse:
        """Polls `get_export_job` until the job is `completed` or `failed`."""
        return self._poll(lambda: self.get_export_job(export_id),
                          lambda r: r.export.status not in ("queued", "processing"), interval, timeout)

    def download_export_job(self, export_id: str, *, offset: int = 0) -> ExportFile:
        """`GET /v1/exports/{export_id}/download`: the file, or its bytes from `offset` on (a
        `Range` request: how a broken download resumes)."""
        return self._run(Call("DownloadExportJob", path=dict(export_id=export_id), raw=True,
                              headers={"range": f"bytes={offset}-"} if offset else {}), export_file)

    # Webhook endpoints (docs/webhooks.md, "Endpoints over REST"; every call needs `webhooks:write`)

    def create_webhook_endpoint(self, url: str, *, description: str | None = None,
                                event_types: Sequence[WebhookEventType] | None = None
                                ) -> m.CreateWebhookEndpointResponse:
        """`POST /v1/webhooks/endpoints`: a receiver of the key's account and mode (every event
        type when `event_types` is empty); the answer's `secret` is shown this once."""
        return self._run(Call("CreateWebhookEndpoint", body={
            "url": url, "description": description, "event_types": list(event_types or ())}))

    def list_webhook_endpoints(self) -> m.ListWebhookEndpointsResponse:
        """`GET /v1/webhooks/endpoints`: the account's endpoints, oldest first, without secrets."""
        return self._run(Call("ListWebhookEndpoints"))

    def get_webhook_endpoint(self, endpoint_id: str) -> m.GetWebhookEndpointResponse:
        """`GET /v1/webhooks/endpoints/{endpoint_id}`: one endpoint, without its secret."""
        return self._run(Call("GetWebhookEndpoint", path=dict(endpoint_id=endpoint_id)))

    def update_webhook_endpoint(self, endpoint_id: str, *, url: str | None = None, description: str | None = None,
                                event_types: Sequence[WebhookEventType] | None = None,
                                enabled: bool | None = None) -> m.UpdateWebhookEndpointResponse:
        """`PATCH /v1/webhooks/endpoints/{endpoint_id}`: only what is given changes; `event_types`
        replaces the list (an empty one subscribes to every type)."""
        body = {"url": url, "description": description, "enabled": enabled}
        if event_types is not None:
            body.update(event_types=list(event_types), replace_event_types=True)
        return self._run(Call("UpdateWebhookEndpoint", path=dict(endpoint_id=endpoint_id), body=body))

    def delete_webhook_endpoint(self, endpoint_id: str) -> m.DeleteWebhookEndpointResponse:
        """`DELETE /v1/webhooks/endpoints/{endpoint_id}`: the endpoint and its deliveries."""
        return self._run(Call("DeleteWebhookEndpoint", path=dict(endpoint_id=endpoint_id)))

    def rotate_webhook_endpoint_secret(self, endpoint_id: str, *, previous_secret_hours: int | None = None
                                       ) -> m.RotateWebhookEndpointSecretResponse:
        """`POST /v1/webhooks/endpoints/{endpoint_id}/rotate-secret`: a new secret, shown once; the
        old one keeps signing too for `previous_secret_hours` (24 by default, at most 168)."""
        return self._run(Call("RotateWebhookEndpointSecret", path=dict(endpoint_id=endpoint_id),
                              body={"previous_secret_hours": previous_secret_hours}))

    def send_test_webhook_event(self, endpoint_id: str) -> m.SendTestWebhookEventResponse:
        """`POST /v1/webhooks/endpoints/{endpoint_id}/test`: queues a `webhook.test` event for it."""
        return self._run(Call("SendTestWebhookEvent", path=dict(endpoint_id=endpoint_id), body={}))

    def list_webhook_deliveries(self, endpoint_id: str, *, limit: int | None = None,
                                before: dt.datetime | None = None) -> m.ListWebhookDeliveriesResponse:
        """`GET /v1/webhooks/endpoints/{endpoint_id}/deliveries`: its delivery log, newest first
        (at most `limit`, 100 by default; only deliveries queued before `before`)."""
        return self._run(Call("ListWebhookDeliveries", path=dict(endpoint_id=endpoint_id),
                              query=dict(limit=limit, before=before)))

    def replay_webhook_events(self, endpoint_id: str, *, event_id: str | None = None,
                              start: dt.datetime | None = None, end: dt.datetime | None = None
                              ) -> m.ReplayWebhookEventsResponse:
        """`POST /v1/webhooks/endpoints/{endpoint_id}/replay`: one event, or every event written
        in [`start`, `end`), sent to the endpoint again (same ids and bodies)."""
        return self._run(Call("ReplayWebhookEvents", path=dict(endpoint_id=endpoint_id), body={
            "event_id": event_id, "start": query_value(start), "end": query_value(end)}))

    # Landing analytics

    def track_event(self, tenant_id: int, event_type: LandingEventType,
                    metadata: dict[str, Any] | None = None) -> m.TrackEventResponse:
        """`POST /api/analytics/track`: public (no key is sent), as the page's tracker calls it."""
        body = {"tenant_id": tenant_id, "event_type": event_type, "metadata": metadata}
        return self._run(Call("TrackEvent", body=body, auth=False))

    def get_landing_analytics(self, tenant_id: int) -> m.GetAnalyticsResponse:
        """`GET /api/analytics/{tenant_id}`: the tenant's dashboard figures."""
        return self._run(Call("GetAnalytics", path=dict(tenant_id=tenant_id)))

    def get_landing_today(self, tenant_id: int) -> m.GetTodayAnalyticsResponse:
        """`GET /api/analytics/{tenant_id}/today`: today's figures in the tenant's time zone."""
        return self._run(Call("GetTodayAnalytics", path=dict(tenant_id=tenant_id)))

    def get_tracker_js(self) -> str:
        """`GET /api/analytics/tracker.js`: the tracker script."""
        return self._run(Call("GetTrackerJs", raw=True, auth=False), lambda r: r.text)

    # Read-only sessions

    def create_session(self) -> m.CreateSessionResponse:
        """`POST /partner/v1/sessions`: the key exchanged for a short-lived read-only session token."""
        return self._run(Call("CreateSession", body={}))

    def revoke_session(self, session_id: str | uuid.UUID) -> m.RevokeSessionResponse:
        """`DELETE /partner/v1/sessions/{session_id}`: ends a session of the account."""
        return self._run(Call("RevokeSession", path=dict(session_id=str(session_id))))

    # The gateway

    def get_openapi_document(self) -> dict[str, Any]:
        """`GET /openapi.json`: the served OpenAPI document."""
        return self._run(Call("GetOpenApiDocument", raw=True, auth=False), lambda r: r.json())


def _identity(value: Any) -> Any:
    return value


def _send(http: httpx.Client, call: Call, request_id: str) -> httpx.Response | httpx.TransportError:
    try:
        return http.send(call.build(http, request_id))
    except httpx.TransportError as error:
        return error


async def _asend(http: httpx.AsyncClient, call: Call, request_id: str) -> httpx.Response | httpx.TransportError:
    try:
        return await http.send(call.build(http, request_id))
    except httpx.TransportError as error:
        return error


class Client(_Operations):
    """The synchronous REST client.

        with Client(api_key) as api:
            page = api.list_instance_analytics(time_frame="day", limit=20)
    """

    def __init__(self, api_key: str | None = None, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, http_client: httpx.Client | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout, headers=headers(api_key))
        self._sleep = time.sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, call: Call, read: Callable[[httpx.Response], Any] = _identity) -> Any:
        request_id, attempt = new_request_id(), 0  # the same id on every attempt of one call
        while (wait := self.retry.after(attempt, outcome := _send(self._http, call, request_id))) is not None:
            self._sleep(wait)
            attempt += 1
        return read(call.result(outcome))

    def _pages(self, fetch: Callable[[int], Any], items: Callable[[Any], Sequence[Any]],
               more: Callable[[Any], bool]) -> Iterator[Any]:
        page = 1
        while True:
            response = fetch(page)
            yield from items(response)
            if not more(response):
                return
            page += 1

    def _batches(self, calls: Sequence[Call]) -> m.IngestResult:
        return _sum([self._run(call) for call in calls])

    def _poll(self, fetch: Callable[[], Any], done: Callable[[Any], bool], interval: float, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not done(response := fetch()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still not done after {timeout} s")
            self._sleep(interval)
        return response


if TYPE_CHECKING:  # the same methods, awaitable (generated from _Operations by tools/gensdk.py)
    from ._async_types import AsyncOperations as _AsyncBase
else:
    _AsyncBase = _Operations


class AsyncClient(_AsyncBase):
    """The asyncio REST client: the same methods, awaited (`iter_*` with `async for`).

        async with AsyncClient(api_key) as api:
            page = await api.list_instance_analytics(time_frame="day")
    """

    def __init__(self, api_key: str | None = None, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, http_client: httpx.AsyncClient | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self._http = http_client or httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers(api_key))
        self._sleep = asyncio.sleep

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, call: Call, read: Callable[[httpx.Response], Any] = _identity) -> Any:
        request_id, attempt = new_request_id(), 0
        while (wait := self.retry.after(attempt, outcome := await _asend(self._http, call, request_id))) is not None:
            await self._sleep(wait)
            attempt += 1
        return read(call.result(outcome))

    async def _pages(self, fetch: Callable[[int], Any], items: Callable[[Any], Sequence[Any]],
                     more: Callable[[Any], bool]) -> AsyncIterator[Any]:
        page = 1
        while True:
            response = await fetch(page)
            for item in items(response):
                yield item
            if not more(response):
                return
            page += 1

    async def _batches(self, calls: Sequence[Call]) -> m.IngestResult:
        return _sum([await self._run(call) for call in calls])

    async def _poll(self, fetch: Callable[[], Any], done: Callable[[Any], bool], interval: float,
                    timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not done(response := await fetch()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still not done after {timeout} s")
            await self._sleep(interval)
        return response
