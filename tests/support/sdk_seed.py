"""Data of the SDK tests, written through the Python SDK itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid

import grpc
from partnerlytics_client import Client, models
from partnerlytics_client.grpc_client import GrpcClient

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.date()


@dataclasses.dataclass
class Seeded:
    key: str
    read_only_key: str  # `analytics:read` only
    campaign_id: str
    instance_ids: list[str]
    voucher_id: str
    voucher_code: str
    tenant_id: int
    tracking_code: str
    event_ids: list[str]


def seed(sdk_stack) -> Seeded:
    """A new account with a little of every family, written through the gRPC client (and
    the REST client for the affiliate family): 3 instances of a campaign (the newest with
    an order and a reward), a voucher used once, a landing tenant, 3 affiliate clicks and
    a conversion."""
    key, read_only_key = sdk_stack.new_account()
    tag = secrets.token_hex(4)
    channels = {service: grpc.insecure_channel(sdk_stack.grpc_target(service))
                for service in ("instance", "campaign", "voucher", "landing")}
    try:
        api = GrpcClient({"instance_ingestion": channels["instance"], "campaigns": channels["campaign"],
                          "voucher_ingestion": channels["voucher"], "landing_tenants": channels["landing"]},
                         key)
        campaign_id = str(uuid.uuid4())
        created = api.campaigns.create_campaign(campaign={"id": campaign_id, "name": f"SDK {tag}"})
        assert created.created
        moments = [NOW - dt.timedelta(minutes=5 + 7 * i) for i in range(3)]
        instances = [{"id": str(uuid.uuid4()), "campaign_id": campaign_id, "insider_id": str(uuid.uuid4()),
                      "timestamp": at} for at in moments]
        assert api.instance_ingestion.batch_create_instances(instances=instances).created_count == 3
        events = [{"id": str(uuid.uuid4()), "instance_id": r["id"], "name": "page view", "tracker_type": "PAGE_VIEW",
                   "created_at": at, "metadata": {"url": "https://shop.example.com/", "user_agent": "Mozilla/5.0"}}
                  for r, at in zip(instances, moments, strict=True)]
        assert api.instance_ingestion.batch_create_events(events=events).created_count == 3
        first = instances[0]
        api.instance_ingestion.create_order(order={
            "id": str(uuid.uuid4()), "instance_id": first["id"], "purchased_insider_id": first["insider_id"],
            "total": "29.99", "currency": "USD", "status": "completed", "created_at": moments[0],
            "items": [{"product_id": "prod_1", "quantity": 1, "price": "29.99"}]})
        api.instance_ingestion.create_insider_reward(insider_reward={
            "id": str(uuid.uuid4()), "instance_id": first["id"], "insider_id": first["insider_id"],
            "type": "commission", "amount": "2.50", "currency": "USD", "status": "pending", "created_at": moments[0]})

        voucher_id, code, customer = f"v_{secrets.token_hex(8)}", f"SDK{tag.upper()}", f"cus_{tag}"
        api.voucher_ingestion.create_voucher(voucher={"id": voucher_id, "code": code, "currency": "USD",
                                                      "created_at": NOW - dt.timedelta(days=10)})
        api.voucher_ingestion.create_customer(customer={"id": customer, "segment": "new", "region": "EU"})
        api.voucher_ingestion.create_validation(validation={
            "id": f"val_{tag}", "voucher_id": voucher_id, "customer_id": customer, "order_amount": 5000,
            "validated_at": moments[1]})
        api.voucher_ingestion.create_redemption(redemption={
            "id": f"red_{tag}", "voucher_id": voucher_id, "customer_id": customer, "order_total": 5000,
            "discount": 500, "redeemed_at": moments[0]})
        tenant = api.landing_tenants.create_tenant(name=f"SDK {tag}", time_zone="Europe/Berlin").tenant
        assert isinstance(tenant.id, int)
    finally:
        for channel in channels.values():
            channel.close()

    tracking_code = f"SDK-{tag}"
    with Client(key, base_url=sdk_stack.base_url) as rest:
        assert rest.upsert_affiliates([models.AffiliateRecord(id=f"aff_{tag}", name="Jane")]).data.created_count == 1
        rest.create_tracking_codes([{"code": tracking_code, "affiliate_id": f"aff_{tag}"}])
        rest.upsert_products([models.ProductRecord(product_id=f"prod_{tag}", name="Mug")])
        clicks = [models.EventRecord(type="click", occurred_at=at, tracking_code=tracking_code,
                                     page_url="https://shop.example.com/p", user_agent="Mozilla/5.0") for at in moments]
        assert rest.record_events(clicks).data.created_count == 3
        rest.record_conversions([models.ConversionRecord(
            order_id=f"ord_{tag}", tracking_code=tracking_code, order_total="49.90", commission="4.99",
            currency="EUR", occurred_at=moments[0], product_ids=[f"prod_{tag}"])])
    return Seeded(key, read_only_key, campaign_id, [r["id"] for r in instances], voucher_id, code, tenant.id,
                  tracking_code, [e.id for e in clicks])
