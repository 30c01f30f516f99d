"""Resends never duplicate: every record kind sent again under its id with another time,
by several clients at once, is stored once and counted once by every projection
(docs/lifecycle.md, "Idempotency"). Real gRPC servers, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import text

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as apb
from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2_grpc as apb_grpc
from partnerlytics.instance.v1 import instance_ingestion_pb2 as ipb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as ipb_grpc
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from platform_core.paging import timestamp_of
from tests.support import factories as f
from tests.support import voucher_data as vd

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
CLIENTS = 4  # concurrent senders of the same records
# Each client stamps its own time: the same day, another hour, another month.
SHIFTS = [dt.timedelta(0), dt.timedelta(hours=-3), dt.timedelta(days=-40), dt.timedelta(days=-75)]


def shifted(record, field: str, by: dt.timedelta):
    copy = type(record)()
    copy.CopyFrom(record)
    getattr(copy, field).CopyFrom(timestamp_of(getattr(record, field).ToDatetime(tzinfo=dt.timezone.utc) + by))
    return copy


async def resend(calls) -> list[tuple[int, int]]:
    """The calls at once; (created, duplicates) of each."""
    results = await asyncio.gather(*calls)
    return [(r.created_count, r.duplicate_count) for r in results]


async def scalar(deps, sql: str, account_id) -> object:
    async with deps.reader() as conn:
        return (await conn.execute(text(sql), {"a": account_id})).scalar_one()


async def test_instance_records_resent_at_other_times_are_stored_and_counted_once(channel, make_tenant, deps):
    tenant = await make_tenant()
    stub, md = ipb_grpc.InstanceIngestionServiceStub(channel), tenant.md()
    start = NOW - dt.timedelta(hours=2)
    instances = [f.instance(start + dt.timedelta(minutes=i)) for i in range(12)]
    events = [f.page_view(r.id, start + dt.timedelta(minutes=i)) for i, r in enumerate(instances)]
    orders = [f.order(r.id, r.insider_id, start + dt.timedelta(minutes=30 + i)) for i, r in enumerate(instances[:6])]
    rewards = [f.reward(r.id, r.insider_id, start + dt.timedelta(minutes=40 + i)) for i, r in enumerate(instances[:4])]

    sends = await resend(stub.BatchCreateInstances(ipb.BatchCreateInstancesRequest(
        instances=[shifted(r, "timestamp", by) for r in instances]), metadata=md) for by in SHIFTS)
    assert sorted(sends) == [(0, 12)] * (CLIENTS - 1) + [(12, 0)]
    for name, records, field, call, request in (
        ("events", events, "created_at", stub.BatchCreateEvents, ipb.BatchCreateEventsRequest),
        ("orders", orders, "created_at", stub.BatchCreateOrders, ipb.BatchCreateOrdersRequest),
        ("insider_rewards", rewards, "created_at", stub.BatchCreateInsiderRewards, ipb.BatchCreateInsiderRewardsRequest),
    ):
        sends = await resend(call(request(**{name: [shifted(r, field, by) for r in records]}), metadata=md)
                             for by in SHIFTS)
        assert sorted(sends) == [(0, len(records))] * (CLIENTS - 1) + [(len(records), 0)], name
        # One record of each kind alone, later, at yet another time: a duplicate.
        single = await call(request(**{name: [shifted(records[0], field, dt.timedelta(days=-200))]}), metadata=md)
        assert (single.created_count, single.duplicate_count) == (0, 1), name

    for table, n in (("instances", 12), ("events", 12), ("orders", 6), ("insider_rewards", 4), ("order_items", 6)):
        rows = await scalar(deps, f"SELECT count(*) FROM {table} WHERE account_id = :a", tenant.account_id)
        assert rows == n, table
    assert await scalar(deps, "SELECT count(DISTINCT id) FROM events WHERE account_id = :a", tenant.account_id) == 12
    # Every projection equals a recount from the raw rows.
    recount = "SELECT count(*) FILTER (WHERE is_purchase) || '/' || count(*) FROM instances WHERE account_id = :a"
    counted = "SELECT sum(n) FILTER (WHERE is_purchase) || '/' || sum(n) FROM instance_hourly_counts WHERE account_id = :a"
    assert await scalar(deps, counted, tenant.account_id) == await scalar(deps, recount, tenant.account_id) == "6/12"
    stats = await scalar(deps, "SELECT sum(instances) || '/' || sum(purchases) || '/' || sum(revenue) "
                               "FROM campaign_hourly_stats WHERE account_id = :a", tenant.account_id)
    raw = await scalar(deps, "SELECT count(*) || '/' || count(o.id) || '/' || coalesce(sum(o.total), 0) "
                             "FROM instances i LEFT JOIN orders o ON o.account_id = i.account_id "
                             "AND o.livemode = i.livemode AND o.instance_id = i.id WHERE i.account_id = :a",
                       tenant.account_id)
    assert stats == raw == f"12/6/{sum(float(o.total) for o in orders):.2f}"


async def test_affiliate_events_and_conversions_resent_at_other_times_are_counted_once(
        affiliate_channel, make_tenant, deps):
    tenant = await make_tenant()
    stub, md = apb_grpc.AffiliateIngestionServiceStub(affiliate_channel), tenant.md()
    await stub.UpsertAffiliates(apb.UpsertAffiliatesRequest(affiliates=[apb.AffiliateRecord(id="aff_r", name="R")]),
                                metadata=md)
    await stub.CreateTrackingCodes(apb.CreateTrackingCodesRequest(
        tracking_codes=[apb.TrackingCodeRecord(code="AFF-R-1", affiliate_id="aff_r")]), metadata=md)
    at = timestamp_of(NOW - dt.timedelta(hours=1))
    events = [apb.EventRecord(id=str(uuid.uuid4()), type=kind, occurred_at=at, tracking_code="AFF-R-1",
                              page_url="https://shop.example.com/p/1", session_id=f"s{i}",
                              user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
              for i, kind in enumerate(["click", "pageview"] * 5)]
    conversions = [apb.ConversionRecord(order_id=f"ord_{i}", tracking_code="AFF-R-1", order_total="100.00",
                                        commission="10.00", currency="USD", occurred_at=at) for i in range(5)]
    sends = await asyncio.gather(*(stub.RecordEvents(apb.RecordEventsRequest(
        events=[shifted(e, "occurred_at", by) for e in events]), metadata=md) for by in SHIFTS))
    assert sorted((r.data.created_count, r.data.duplicate_count) for r in sends) == [(0, 10)] * (CLIENTS - 1) + [(10, 0)]
    sends = await asyncio.gather(*(stub.RecordConversions(apb.RecordConversionsRequest(
        conversions=[shifted(c, "occurred_at", by) for c in conversions]), metadata=md) for by in SHIFTS))
    assert sorted((r.data.created_count, r.data.duplicate_count) for r in sends) == [(0, 5)] * (CLIENTS - 1) + [(5, 0)]
    assert await scalar(deps, "SELECT count(*) FROM affiliate_events WHERE account_id = :a", tenant.account_id) == 10
    assert await scalar(deps, "SELECT count(*) FROM affiliate_conversions WHERE account_id = :a",
                        tenant.account_id) == 5
    raw = await scalar(deps, "SELECT count(*) FILTER (WHERE event_type = 'click') || '/' || "
                             "count(*) FILTER (WHERE event_type = 'pageview') || '/' || count(DISTINCT session_id) "
                             "FILTER (WHERE event_type = 'pageview') FROM affiliate_events WHERE account_id = :a",
                       tenant.account_id)
    counted = await scalar(deps, "SELECT sum(clicks) || '/' || sum(pageviews) || '/' || sum(visitors) "
                                 "FROM affiliate_daily_counts WHERE account_id = :a AND dimension = 'total'",
                           tenant.account_id)
    assert counted == raw == "5/5/5"
    conversions_counted = await scalar(deps, "SELECT sum(conversions) || '/' || sum(revenue) FROM "
                                             "affiliate_daily_counts WHERE account_id = :a AND dimension = 'total'",
                                       tenant.account_id)
    assert conversions_counted == "5/500.00"


async def test_voucher_records_resent_at_other_times_are_counted_once(voucher_channel, make_tenant, deps):
    tenant = await make_tenant()
    data = vd.build(NOW, seed=23, days=5)
    ingest = vd.VoucherIngest(voucher_channel, tenant.test_key)
    await ingest.references(data)
    validations = await resend(ingest.stub.BatchCreateValidations(vpb.BatchCreateValidationsRequest(
        validations=[shifted(v, "validated_at", by) for v in data.validations]), metadata=ingest.md) for by in SHIFTS)
    redemptions = await resend(ingest.stub.BatchCreateRedemptions(vpb.BatchCreateRedemptionsRequest(
        redemptions=[shifted(r, "redeemed_at", by) for r in data.redemptions]), metadata=ingest.md) for by in SHIFTS)
    n_val, n_red = len(data.validations), len(data.redemptions)
    assert sorted(validations) == [(0, n_val)] * (CLIENTS - 1) + [(n_val, 0)]
    assert sorted(redemptions) == [(0, n_red)] * (CLIENTS - 1) + [(n_red, 0)]
    assert await scalar(deps, "SELECT count(*) FROM voucher_validations WHERE account_id = :a",
                        tenant.account_id) == n_val
    assert await scalar(deps, "SELECT count(*) FROM voucher_redemptions WHERE account_id = :a",
                        tenant.account_id) == n_red
    raw = await scalar(deps, "SELECT (SELECT count(*) || '/' || sum(discount) || '/' || sum(order_total) "
                             "FROM voucher_redemptions WHERE account_id = :a) || '/' || "
                             "(SELECT count(*) FROM voucher_validations WHERE account_id = :a)", tenant.account_id)
    counted = await scalar(deps, "SELECT sum(uses) || '/' || sum(discount) || '/' || sum(gross) || '/' || "
                                 "sum(validations) FROM voucher_daily WHERE account_id = :a", tenant.account_id)
    assert counted == raw
    # The daily rows sit on the days of the stored records, whichever client won.
    by_day = await scalar(deps, "SELECT count(*) FROM (SELECT voucher_id, (redeemed_at AT TIME ZONE 'UTC')::date AS d, "
                                "count(*) AS n FROM voucher_redemptions WHERE account_id = :a GROUP BY 1, 2) r "
                                "FULL JOIN (SELECT voucher_id, day AS d, uses AS n FROM voucher_daily "
                                "WHERE account_id = :a AND uses > 0) v USING (voucher_id, d) "
                                "WHERE r.n IS DISTINCT FROM v.n", tenant.account_id)
    assert by_day == 0
