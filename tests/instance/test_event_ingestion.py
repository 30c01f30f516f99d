"""BatchCreateEvents' one-statement write (services/instance/ingest.py, "Events"): values
stored exactly as the field-by-field reading stored them, every missing instance named,
nothing written when one is."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import text

from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from tests.instance.test_instance_grpc import count, details
from tests.support import factories as f

NOW = dt.datetime.now(dt.timezone.utc)


async def stored(deps, account_id, event_id: str):
    async with deps.sessions() as s:
        return (await s.execute(text(
            "SELECT instance_id, name, tracker_type, reference_id, created_at, updated_at, metadata FROM events "
            "WHERE account_id = :a AND id = :id"), {"a": account_id, "id": uuid.UUID(event_id)})).one()


async def keys(deps, account_id) -> int:
    async with deps.sessions() as s:
        return (await s.execute(text("SELECT count(*) FROM record_keys WHERE account_id = :a AND kind = 'events'"),
                                {"a": account_id})).scalar_one()


async def test_times_at_the_ends_of_the_timestamp_range_and_every_metadata_kind_are_stored_exactly(
        channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    oldest = Timestamp(seconds=-62_135_596_800, nanos=999_999_999)  # 0001-01-01T00:00:00.999999999Z
    latest = Timestamp(seconds=253_402_300_799, nanos=999_999_999)  # 9999-12-31T23:59:59.999999999Z
    now = f.ts(NOW - dt.timedelta(seconds=3))
    now.nanos = 123_456_789
    event = pb.EventRecord(id=str(uuid.uuid4()), instance_id=inst.id.upper(), name="a \\u0000 name", tracker_type=pb.TRACKER_TYPE_PAGE_VIEW,
                           created_at=oldest, updated_at=latest, reference_id="")
    event.metadata.update({"url": "https://shop.example.com/é", "user_agent": "UA", "n": 3, "big": 1e300, "flag": True,
                           "none": None, "list": [1, "two", [3.5], {"k": False}], "nested": {"a": {"b": "c"}}})
    second = f.page_view(inst.id, NOW)
    second.created_at.CopyFrom(now)
    result = await ingest.events([event, second])
    assert (result.created_count, result.duplicate_count) == (2, 0)
    row = await stored(deps, tenant.account_id, event.id)
    assert (str(row.instance_id), row.name, row.tracker_type, row.reference_id) == (inst.id, "a \\u0000 name", "page_view", "")
    assert row.created_at == oldest.ToDatetime(tzinfo=dt.timezone.utc)
    assert row.updated_at == latest.ToDatetime(tzinfo=dt.timezone.utc)
    async with deps.sessions() as s:  # what the field-by-field path stored: MessageToDict's JSON, as jsonb
        same = (await s.execute(text("SELECT metadata = CAST(:m AS jsonb) FROM events WHERE account_id = :a AND id = :id"),
                                {"m": json.dumps(json_format.MessageToDict(event.metadata)), "a": tenant.account_id,
                                 "id": uuid.UUID(event.id)})).scalar_one()
    assert same
    row = await stored(deps, tenant.account_id, second.id)
    assert row.created_at == row.updated_at == now.ToDatetime(tzinfo=dt.timezone.utc)
    assert row.reference_id is None


async def test_unknown_instances_are_all_named_and_nothing_is_written(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    unknown = str(uuid.uuid4())
    batch = [f.page_view(unknown, NOW), f.page_view(inst.id, NOW), f.page_view(unknown.upper(), NOW)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.events(batch)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in details(err.value)["BadRequest"].field_violations] == [
        ("events[0].instance_id", "not_found"), ("events[2].instance_id", "not_found"),
    ]
    assert (await count(deps, "events", tenant.account_id), await keys(deps, tenant.account_id)) == (0, 0)
    # Nothing was claimed either: the valid record is new when sent again alone.
    assert (await ingest.events([batch[1]])).created_count == 1


async def test_a_repeated_id_naming_an_unknown_instance_is_refused_too(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    first = f.page_view(inst.id, NOW)
    again = f.page_view(str(uuid.uuid4()), NOW, id=first.id)  # only the first record of an id is written
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.events([first, again])
    assert [(v.field, v.reason) for v in details(err.value)["BadRequest"].field_violations] == [
        ("events[1].instance_id", "not_found"),
    ]
    assert (await count(deps, "events", tenant.account_id), await keys(deps, tenant.account_id)) == (0, 0)


async def test_a_resend_is_counted_as_duplicates(channel, make_tenant, deps):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    batch = [f.page_view(inst.id, NOW - dt.timedelta(seconds=i)) for i in range(5)]
    assert (await ingest.events(batch)).created_count == 5
    again = await ingest.events([*batch[:3], batch[0], f.page_view(inst.id, NOW)])
    assert (again.created_count, again.duplicate_count) == (1, 4)
    assert await count(deps, "events", tenant.account_id) == 6


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
async def test_metadata_numbers_that_json_cannot_hold_are_a_field_violation(channel, make_tenant, deps, number):
    tenant = await make_tenant()
    ingest = f.Ingest(channel, tenant.test_key)
    inst = f.instance(NOW)
    await ingest.instances([inst])
    event = f.page_view(inst.id, NOW)
    event.metadata["extra"] = {"deep": [number]}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest.events([event])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in details(err.value)["BadRequest"].field_violations] == [
        ("events[0].metadata", "invalid_value"),
    ]
    assert await count(deps, "events", tenant.account_id) == 0
