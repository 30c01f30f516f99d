"""gRPC servicers of the affiliate domain: parse and validate, call the domain, build protos."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2

from partnerlytics.affiliate.v1 import affiliate_analytics_pb2 as api
from partnerlytics.affiliate.v1 import affiliate_analytics_pb2_grpc as api_grpc
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as ingest_pb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as ingest_grpc
from platform_core import context
from platform_core.ingest import IngestionServicer, IngestResult, ingest_rpc
from platform_core.interceptor import MethodPolicy
from platform_core.paging import capped_page, timestamp_of
from platform_core.params import Params
from platform_core.server import Deps, ServiceSpec
from platform_core.values import number_or_null, string_or_null
from services.affiliate import classify, ingest, queries
from services.affiliate.errors import validation_failed
from services.affiliate.queries import Days

ANALYTICS = api.DESCRIPTOR.services_by_name["AffiliateAnalyticsService"].full_name
INGESTION = ingest_pb.DESCRIPTOR.services_by_name["AffiliateIngestionService"].full_name

# Every section's metrics, in the document's order (the order of the response).
METRICS: dict[str, tuple[str, ...]] = {
    "stats": (
        "total_clicks", "total_pageviews", "unique_visitors", "pages_per_visit", "total_conversions",
        "total_revenue", "total_commission", "conversion_rate", "total_product_views", "total_add_to_carts",
        "total_remove_from_carts", "total_thank_you_views", "cart_to_conversion_rate",
    ),
    "trends": (
        "clicks", "pageviews", "visitors", "conversions", "revenue", "commission", "product_views", "add_to_carts",
    ),
    "charts": (
        "clicks_over_time", "pageviews_over_time", "device_breakdown", "conversions_over_time",
        "revenue_over_time", "product_views_over_time", "add_to_carts_over_time", "country_breakdown",
        "browser_breakdown", "os_breakdown", "traffic_source_breakdown",
    ),
    "tables": ("top_pages", "top_tracking_codes", "top_affiliates", "top_products"),
}
FEEDS = ("recent_clicks", "recent_conversions", "recent_events")
SECTIONS = (*METRICS, *FEEDS)
# Every section's metric names: the served document's pattern for `metrics` (tools/genopenapi.py).
ALL_METRICS = tuple(sorted({m for names in METRICS.values() for m in names}))

DEFAULT_DAYS = 30  # `from` defaults to 30 days before `to`
# The longest range of a `charts` answer with a daily series (`*_over_time`): 20 years,
# one point a day (docs/architecture.md, "Parameters"; docs/performance-affiliate.md).
MAX_SERIES_DAYS = 7305
CENT = decimal.Decimal("0.01")

# Stats counters read straight from the daily totals.
STAT_COUNTERS = {
    "total_clicks": "clicks", "total_pageviews": "pageviews", "unique_visitors": "visitors",
    "total_conversions": "conversions", "total_revenue": "revenue", "total_commission": "commission",
    "total_product_views": "product_views", "total_add_to_carts": "add_to_carts",
    "total_remove_from_carts": "remove_from_carts", "total_thank_you_views": "thank_you_views",
}
# Daily series: chart -> counter.
SERIES = {
    "clicks_over_time": "clicks", "pageviews_over_time": "pageviews", "conversions_over_time": "conversions",
    "revenue_over_time": "revenue", "product_views_over_time": "product_views",
    "add_to_carts_over_time": "add_to_carts",
}
# Click breakdowns: chart -> dimension of the daily counts.
BREAKDOWNS = {
    "device_breakdown": "device", "country_breakdown": "country", "browser_breakdown": "browser",
    "os_breakdown": "os", "traffic_source_breakdown": "source",
}


@dataclass(frozen=True)
class AnalyticsQuery:
    section: str
    days: Days
    metrics: tuple[str, ...]
    page: int = 1
    per_page: int = 15
    top_limit: int = 10


def _get(request: api.GetAffiliateAnalyticsRequest, name: str) -> str | None:
    """A parameter's value exactly as sent (None when absent): the served OpenAPI
    document's patterns are what is accepted, so nothing is trimmed or folded here."""
    return getattr(request, name) if request.HasField(name) else None


def _integer(params: Params, name: str, raw: str | None, default: int, low: int, high: int | None) -> int:
    rule = f"of at least {low}" if high is None else f"between {low} and {high}"
    return params.integer(name, raw, default, low, high, f"The {name} field must be an integer {rule}.",
                          malformed_code="out_of_range")


def _date(params: Params, name: str, raw: str | None) -> dt.date | None:
    return params.date(name, raw, f"The {name} field must be a valid date in YYYY-MM-DD format.", bounded=False)


def parse_query(request: api.GetAffiliateAnalyticsRequest, today: dt.date) -> AnalyticsQuery:
    """The documented parameters, with every violation reported at once (422)."""
    params = Params(validation_failed)
    section = _get(request, "section") or ""
    if not section:
        params.fail("section", "The section field is required.", "required")
    elif section not in SECTIONS:
        params.fail("section", f"The selected section is invalid. Allowed: {', '.join(SECTIONS)}", "invalid_enum")

    to_day = _date(params, "to", _get(request, "to"))
    from_day = _date(params, "from", _get(request, "from"))
    if to_day is not None and to_day > today:
        params.fail("to", "The to field must be a date before or equal to today.", "out_of_range")
        to_day = None
    # The document bounds the range only by from <= to <= today: any length is served
    # (daily rollups; docs/performance-affiliate.md, "Long ranges"). The default `from`
    # of a `to` in January of year 1 stops at 0001-01-01.
    last = to_day or today
    first = from_day or dt.date.fromordinal(max(1, last.toordinal() - DEFAULT_DAYS))
    if from_day is not None and from_day > last:
        params.fail("from", "The from field must be a date before or equal to to.", "invalid_range")

    metrics: tuple[str, ...] = ()
    raw = _get(request, "metrics")
    # Comma-separated names, as the document's pattern writes them: an empty value is
    # every metric; an empty or unknown name (`a,,b`, `CLICKS`, ` clicks`) is refused.
    asked = raw.split(",") if raw else []
    if section:
        # The feeds apply no metrics filtering (the document): any section's names are
        # ignored there, a name of none is refused like everywhere else.
        allowed = METRICS.get(section, ALL_METRICS)
        # At most 20 names of 64 characters are echoed: the error must fit its trailer.
        unknown = [m[:64] for m in dict.fromkeys(m for m in asked if m not in allowed)][:20]
        if unknown:
            rule = f"Allowed: {', '.join(allowed)}" if section in METRICS else "Feed sections apply no metrics filtering."
            params.fail("metrics", f"Invalid metric(s) for {section}: {', '.join(unknown)}. {rule}", "invalid_metric")
        if section in METRICS:
            metrics = tuple(m for m in allowed if m in asked) if asked else allowed
    if section == "charts" and any(m in SERIES for m in metrics) and (last - first).days + 1 > MAX_SERIES_DAYS:
        # One point per day of the range in each daily series: 20 years of all six is
        # ~0.8 MB of JSON, and the gateway's transcoder buffers at most 1 MiB of an
        # answer (a range back to year 1 would be ~740,000 points a series). Breakdowns
        # and every other section take any range.
        params.fail(
            "from", f"A daily series holds at most {MAX_SERIES_DAYS} days: ask for a shorter range, "
                    f"or for breakdowns only.", "range_too_long")
    # page and per_page serve the feeds, top_limit the tables; a malformed one is refused
    # in every section (docs/reliability.md), so that the document's constraint on each
    # parameter is the server's, whatever the section.
    page = _integer(params, "page", _get(request, "page"), 1, 1, None)
    per_page = _integer(params, "per_page", _get(request, "per_page"), 15, 1, 100)
    top_limit = _integer(params, "top_limit", _get(request, "top_limit"), 10, 1, 50)
    if section not in FEEDS:
        page, per_page = 1, 15
    if section != "tables":
        top_limit = 10
    params.check()
    return AnalyticsQuery(section, Days(first, last), metrics, page, per_page, top_limit)


# --------------------------------------------------------------------------- numbers


def percent(numerator, denominator) -> float:
    """A percentage with 2 decimals; 0 when the denominator is 0."""
    if not denominator:
        return 0.0
    return float((decimal.Decimal(numerator) * 100 / decimal.Decimal(denominator)).quantize(
        CENT, decimal.ROUND_HALF_UP))


def ratio(numerator, denominator) -> float:
    if not denominator:
        return 0.0
    return float((decimal.Decimal(numerator) / decimal.Decimal(denominator)).quantize(CENT, decimal.ROUND_HALF_UP))


def trend(current, previous) -> float | None:
    """(current - previous) / previous * 100, 2 decimals; null when only previous is 0."""
    if not previous:
        return 0.0 if not current else None
    change = (decimal.Decimal(current) - decimal.Decimal(previous)) * 100 / decimal.Decimal(previous)
    return float(change.quantize(CENT, decimal.ROUND_HALF_UP))


def _rows_value(messages: list[Any]) -> struct_pb2.Value:
    """A JSON array of typed rows, each shaped by its message."""
    value = struct_pb2.Value(list_value=struct_pb2.ListValue())
    for message in messages:
        value.list_value.values.add().struct_value.update(json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True))
    return value


def _money(amount: decimal.Decimal) -> str:
    return str(amount.quantize(CENT))


# --------------------------------------------------------------------------- sections


async def build_stats(conn, who, q: AnalyticsQuery) -> api.Stats:
    totals, _ = await queries.period_totals(conn, who, q.days, with_previous=False)
    values = {name: float(totals[counter]) for name, counter in STAT_COUNTERS.items()}
    values["pages_per_visit"] = ratio(totals["pageviews"], totals["visitors"])
    values["conversion_rate"] = percent(totals["conversions"], totals["clicks"])
    values["cart_to_conversion_rate"] = percent(totals["conversions"], totals["add_to_carts"])
    return api.Stats(**{m: values[m] for m in q.metrics})


async def build_trends(conn, who, q: AnalyticsQuery) -> api.Trends:
    current, previous = await queries.period_totals(conn, who, q.days, with_previous=True)
    return api.Trends(**{m: number_or_null(trend(current[m], previous[m])) for m in q.metrics})


async def build_charts(conn, who, q: AnalyticsQuery) -> api.Charts:
    charts = api.Charts()
    series = [m for m in q.metrics if m in SERIES]
    if series:
        daily = await queries.daily_totals(conn, who, q.days)
        labels = [d.isoformat() for d in q.days.each()]
        for name in series:
            counter = SERIES[name]
            data = [float(daily[d][counter]) if d in daily else 0.0 for d in q.days.each()]
            getattr(charts, name).CopyFrom(api.Chart(labels=labels, data=data))
    wanted = [m for m in q.metrics if m in BREAKDOWNS]
    found = await queries.click_breakdowns(conn, who, q.days, [BREAKDOWNS[m] for m in wanted])
    for name in wanted:
        pairs = found[BREAKDOWNS[name]]
        getattr(charts, name).CopyFrom(api.Chart(labels=[p[0] for p in pairs], data=[float(p[1]) for p in pairs]))
    return charts


async def build_tables(conn, who, q: AnalyticsQuery) -> api.Tables:
    tables = api.Tables()
    n = q.top_limit
    if "top_pages" in q.metrics:
        rows = await queries.top_pages(conn, who, q.days, n)
        tables.top_pages.CopyFrom(_rows_value([
            api.TopPage(page_url=r.page_url, pageviews=float(r.pageviews), clicks=float(r.clicks)) for r in rows]))
    if "top_tracking_codes" in q.metrics:
        rows = await queries.top_tracking_codes(conn, who, q.days, n)
        tables.top_tracking_codes.CopyFrom(_rows_value([
            api.TopTrackingCode(tracking_code=r.tracking_code, clicks=float(r.clicks),
                                conversions=float(r.conversions), revenue=float(r.revenue)) for r in rows]))
    if "top_affiliates" in q.metrics:
        rows = await queries.top_affiliates(conn, who, q.days, n)
        tables.top_affiliates.CopyFrom(_rows_value([
            api.TopAffiliate(name=r.name, clicks=float(r.clicks), conversions=float(r.conversions),
                             revenue=float(r.revenue)) for r in rows]))
    if "top_products" in q.metrics:
        rows = await queries.top_products(conn, who, q.days, n)
        tables.top_products.CopyFrom(_rows_value([
            api.TopProduct(product_id=r.product_id, name=r.name, views=float(r.views),
                           conversions=float(r.conversions)) for r in rows]))
    return tables


def _pagination(q: AnalyticsQuery, total: int) -> api.Pagination:
    return api.Pagination(current_page=q.page, last_page=max(1, -(-total // q.per_page)), per_page=q.per_page,
                          total=float(total))


async def build_feed(conn, who, q: AnalyticsQuery):
    page = capped_page(q.page, q.per_page)
    rows, total = await queries.feed_page(conn, who, q.section, q.days, page, q.per_page)
    pagination = _pagination(q, total)
    if q.section == "recent_clicks":
        return api.ClickFeed(pagination=pagination, data=[
            api.Click(id=float(r.id), tracking_code=r.tracking_code, referrer_url=string_or_null(r.referrer_url),
                      page_url=r.page_url, device=r.device, country=string_or_null(r.country),
                      created_at=timestamp_of(r.occurred_at))
            for r in rows
        ])
    if q.section == "recent_conversions":
        return api.ConversionFeed(pagination=pagination, data=[
            api.Conversion(id=float(r.id), order_id=r.order_id, order_total=_money(r.order_total),
                           commission=_money(r.commission), tracking_code=r.tracking_code, currency=r.currency,
                           created_at=timestamp_of(r.occurred_at))
            for r in rows
        ])
    return api.EventFeed(pagination=pagination, data=[
        api.TrackingEvent(id=float(r.id), type=r.event_type, tracking_code=string_or_null(r.tracking_code),
                          referrer_url=string_or_null(r.referrer_url), page_url=string_or_null(r.page_url),
                          product_id=string_or_null(r.product_id), device=r.device, country=string_or_null(r.country),
                          created_at=timestamp_of(r.occurred_at))
        for r in rows
    ])


BUILDERS = {"stats": build_stats, "trends": build_trends, "charts": build_charts, "tables": build_tables,
            **{feed: build_feed for feed in FEEDS}}


class AffiliateAnalyticsServicer(api_grpc.AffiliateAnalyticsServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self._reader = deps.reader

    async def GetAffiliateAnalytics(self, request, _context):
        ctx = context.get()
        q = parse_query(request, ctx.received_at.date())
        async with self._reader() as conn:
            section = await BUILDERS[q.section](conn, context.principal(), q)
        data = api.AnalyticsData(
            filters=api.Filters(**{"from": q.days.first.isoformat(), "to": q.days.last.isoformat()}),
            section=q.section,
        )
        getattr(data, q.section).CopyFrom(section)
        return api.GetAffiliateAnalyticsResponse(success=True, message="OK", data=data)


def _response(response, result: IngestResult):
    return response(success=True, message="OK", data=ingest_pb.IngestResult(
        created_count=result.created, duplicate_count=result.duplicates))


class AffiliateIngestionServicer(IngestionServicer, ingest_grpc.AffiliateIngestionServiceServicer):
    reply = staticmethod(_response)
    UpsertAffiliates = ingest_rpc(ingest.upsert_affiliates, "affiliates", ingest_pb.UpsertAffiliatesResponse)
    CreateTrackingCodes = ingest_rpc(ingest.create_tracking_codes, "tracking_codes",
                                     ingest_pb.CreateTrackingCodesResponse)
    UpsertProducts = ingest_rpc(ingest.upsert_products, "products", ingest_pb.UpsertProductsResponse)
    RecordEvents = ingest_rpc(ingest.record_events, "events", ingest_pb.RecordEventsResponse)
    RecordConversions = ingest_rpc(ingest.record_conversions, "conversions", ingest_pb.RecordConversionsResponse)


def service_specs(deps: Deps) -> list[ServiceSpec]:
    classify.warm()
    read = MethodPolicy(scope="reports:read", bucket="affiliate.analytics", per_key=True)
    write = MethodPolicy(scope="ingest:write", bucket="affiliate.ingest")
    return [
        ServiceSpec(
            full_name=ANALYTICS,
            add_to_server=api_grpc.add_AffiliateAnalyticsServiceServicer_to_server,
            servicer=AffiliateAnalyticsServicer(deps),
            policies={f"/{ANALYTICS}/GetAffiliateAnalytics": read},
        ),
        ServiceSpec(
            full_name=INGESTION,
            add_to_server=ingest_grpc.add_AffiliateIngestionServiceServicer_to_server,
            servicer=AffiliateIngestionServicer(deps),
            policies={
                f"/{INGESTION}/{m.name}": write
                for m in ingest_pb.DESCRIPTOR.services_by_name["AffiliateIngestionService"].methods
            },
        ),
    ]
