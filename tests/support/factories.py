"""Builders of ingestion records for tests, and an ingesting helper over gRPC."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as pb_grpc
from platform_core.paging import timestamp_of


ts = timestamp_of  # short name for the many records built here


def instance(at: dt.datetime, **kw) -> pb.InstanceRecord:
    return pb.InstanceRecord(
        id=kw.get("id", str(uuid.uuid4())),
        campaign_id=kw.get("campaign_id", str(uuid.uuid4())),
        insider_id=kw.get("insider_id", str(uuid.uuid4())),
        timestamp=ts(at),
    )


def page_view(instance_id: str, at: dt.datetime, **kw) -> pb.EventRecord:
    event = pb.EventRecord(
        id=kw.get("id", str(uuid.uuid4())), instance_id=instance_id, name=kw.get("name", "page view"),
        tracker_type=pb.TRACKER_TYPE_PAGE_VIEW, created_at=ts(at),
    )
    event.metadata.update({"url": kw.get("url", "https://shop.example.com/"), "user_agent": "Mozilla/5.0"})
    return event


def order(instance_id: str, insider_id: str, at: dt.datetime, total: str = "29.99", **kw) -> pb.OrderRecord:
    return pb.OrderRecord(
        id=kw.get("id", str(uuid.uuid4())), instance_id=instance_id, purchased_insider_id=insider_id,
        total=total, currency="USD", status="completed", created_at=ts(at),
        items=kw.get("items", [pb.OrderItemRecord(product_id="prod_1", quantity=1, price=total)]),
        discounted_price=kw.get("discounted_price", ""), cashfunds_used=kw.get("cashfunds_used", ""),
        credits_used=kw.get("credits_used", ""),
    )


def reward(instance_id: str, insider_id: str, at: dt.datetime, amount: str = "14.99", **kw) -> pb.InsiderRewardRecord:
    return pb.InsiderRewardRecord(
        id=kw.get("id", str(uuid.uuid4())), instance_id=instance_id, insider_id=insider_id, type="commission",
        amount=amount, currency="USD", status=kw.get("status", "pending"), created_at=ts(at),
    )


def spread(n: int, start: dt.datetime, end: dt.datetime, seed: int = 1) -> list[dt.datetime]:
    """n deterministic moments in [start, end), with some exact ties and hour boundaries."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    moments = [start + dt.timedelta(seconds=rng.random() * span) for _ in range(n)]
    for i in range(0, n, 17):  # ties
        if i + 1 < n:
            moments[i + 1] = moments[i]
    for i in range(5, n, 23):  # on the hour
        moments[i] = moments[i].replace(minute=0, second=0, microsecond=0)
    return [m for m in moments if start <= m < end]


class Ingest:
    """Calls the ingestion service with a tenant's key."""

    def __init__(self, channel, key: str) -> None:
        self.stub = pb_grpc.InstanceIngestionServiceStub(channel)
        self.md = (("authorization", f"Bearer {key}"),)

    async def instances(self, records):
        return await self.stub.BatchCreateInstances(pb.BatchCreateInstancesRequest(instances=records), metadata=self.md)

    async def events(self, records):
        return await self.stub.BatchCreateEvents(pb.BatchCreateEventsRequest(events=records), metadata=self.md)

    async def orders(self, records):
        return await self.stub.BatchCreateOrders(pb.BatchCreateOrdersRequest(orders=records), metadata=self.md)

    async def rewards(self, records):
        return await self.stub.BatchCreateInsiderRewards(
            pb.BatchCreateInsiderRewardsRequest(insider_rewards=records), metadata=self.md
        )


async def account_with_key(database_url: str, name: str) -> tuple[uuid.UUID, str]:
    """A new account in the database at `database_url` and a test-mode key of it."""
    from platform_core import accounts, db

    engine = db.create_engine(database_url, pool_size=1)
    try:
        async with db.sessionmaker(engine)() as session:
            account = await accounts.create_account(session, name)
            _, key = await accounts.create_key(session, account.id, "test")
            await session.commit()
            return account.id, key
    finally:
        await engine.dispose()
