"""Voucher ingestion over gRPC: idempotent by client id, all or nothing, scoped to the key."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as pb
from sqlalchemy import text

from tests.support import voucher_data as vd

NOW = dt.datetime.now(dt.timezone.utc)


async def _count(deps, table: str, account) -> int:
    async with deps.reader() as conn:
        result = await conn.execute(text(f"SELECT count(*) FROM {table} WHERE account_id = :a"), {"a": account})
        return result.scalar()


def _violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [(v.field, v.reason) for v in bad.field_violations]
    return []


async def test_batches_are_idempotent_by_client_id(voucher_channel, make_tenant, deps):
    tenant = await make_tenant()
    data = vd.build(NOW, seed=11, days=10)
    ingest = vd.VoucherIngest(voucher_channel, tenant.test_key)
    await ingest.all(data)
    again = await ingest.stub.BatchCreateRedemptions(
        pb.BatchCreateRedemptionsRequest(redemptions=data.redemptions), metadata=ingest.md)
    assert (again.created_count, again.duplicate_count) == (0, len(data.redemptions))
    single = await ingest.stub.CreateValidation(
        pb.CreateValidationRequest(validation=data.validations[0]), metadata=ingest.md)
    assert (single.created_count, single.duplicate_count) == (0, 1)
    assert await _count(deps, "voucher_redemptions", tenant.account_id) == len(data.redemptions)
    assert await _count(deps, "voucher_validations", tenant.account_id) == len(data.validations)
    # The per-day totals counted every record once, retries included.
    async with deps.reader() as conn:
        totals = (await conn.execute(text(
            "SELECT sum(uses), sum(discount), sum(gross), sum(validations) FROM voucher_daily WHERE account_id = :a"
        ), {"a": tenant.account_id})).one()
    assert tuple(map(int, totals)) == (
        len(data.redemptions), sum(r.discount for r in data.redemptions),
        sum(r.order_total for r in data.redemptions), len(data.validations),
    )


async def test_a_bad_batch_writes_nothing_and_names_every_field(voucher_channel, make_tenant, deps):
    tenant = await make_tenant()
    data = vd.build(NOW, seed=12, days=3)
    ingest = vd.VoucherIngest(voucher_channel, tenant.test_key)
    await ingest.references(data)
    good = data.redemptions[0]
    bad = [
        good,
        pb.RedemptionRecord(id="r1", voucher_id="v_nothex", customer_id=good.customer_id, order_total=100,
                            discount=10, redeemed_at=good.redeemed_at),
        pb.RedemptionRecord(id="r2", voucher_id=good.voucher_id, customer_id=good.customer_id, order_total=100,
                            discount=101, redeemed_at=good.redeemed_at),
        pb.RedemptionRecord(id="", voucher_id=good.voucher_id, customer_id=good.customer_id, order_total=-1,
                            discount=0),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.BatchCreateRedemptions(pb.BatchCreateRedemptionsRequest(redemptions=bad), metadata=ingest.md)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == [
        ("redemptions[1].voucher_id", "invalid_id"),
        ("redemptions[2].discount", "out_of_range"),
        ("redemptions[3].id", "required"),
        ("redemptions[3].order_total", "out_of_range"),
        ("redemptions[3].redeemed_at", "required"),
    ]
    assert await _count(deps, "voucher_redemptions", tenant.account_id) == 0


async def test_references_to_another_accounts_voucher_are_not_found(voucher_channel, make_tenant, deps):
    owner, other = await make_tenant(), await make_tenant()
    data = vd.build(NOW, seed=13, days=2)
    await vd.VoucherIngest(voucher_channel, owner.test_key).all(data)
    theirs = vd.VoucherIngest(voucher_channel, other.test_key)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await theirs.stub.CreateValidation(pb.CreateValidationRequest(validation=data.validations[0]),
                                           metadata=theirs.md)
    assert ("validation.voucher_id", "not_found") in _violations(caught.value)
    # The live key of the same account does not see test-mode vouchers either.
    live = vd.VoucherIngest(voucher_channel, owner.live_key)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await live.stub.CreateValidation(pb.CreateValidationRequest(validation=data.validations[0]), metadata=live.md)
    assert ("validation.voucher_id", "not_found") in _violations(caught.value)
    assert await _count(deps, "voucher_validations", other.account_id) == 0


async def test_ingestion_needs_the_write_scope(voucher_channel, make_tenant):
    tenant = await make_tenant()
    reader = vd.VoucherIngest(voucher_channel, tenant.read_only_key)
    record = pb.VoucherRecord(id=vd.voucher_id(), code="X", created_at=vd.timestamp_of(NOW))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await reader.stub.CreateVoucher(pb.CreateVoucherRequest(voucher=record), metadata=reader.md)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    nobody = vd.VoucherIngest(voucher_channel, "sk_test_" + "x" * 32)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nobody.stub.CreateVoucher(pb.CreateVoucherRequest(voucher=record), metadata=nobody.md)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
