"""Two accounts with data for the Schemathesis run against the live gateway.

Account A is the demo account (`stack.demo`: instances, campaigns, vouchers, affiliate
shop, two landing tenants); the fuzzer calls every operation with its key. Account B is
a small account of its own whose every id is collected: none may ever appear in a
response to A's key unless A's request itself contained it (an echo of the caller's
input, e.g. a `not_found` list, is not a leak).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field

import httpx

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as apb
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb
from platform_core import accounts
from platform_core.paging import timestamp_of
from services.affiliate import ingest as affiliate_ingest
from services.campaign import queries as campaign_queries
from services.instance import ingest as instance_ingest
from services.landing import tenants
from services.voucher import ingest as voucher_ingest
from stack import demo, demo_affiliate
from tests.support import factories

# The demo account's landing tenant ids here (the tests' database has tenants of its own).
# Far from tests/landing/test_landing_demo.py's 2**40 + 1 and + 2: seeding those sets the
# tenants' sequence after them, and the tenants later tests create must not reach these.
A_TENANTS = (2**41 + 11, 2**41 + 12)


@dataclass
class Account:
    key: str
    # Path parameter name -> real values of this account (fed to the fuzzer).
    path_values: dict[str, list[str]] = field(default_factory=dict)
    # Body list field -> real values (e.g. instance_ids, voucher_ids).
    body_values: dict[str, list[str]] = field(default_factory=dict)
    # Every distinctive id of the account (strings that cannot occur by chance).
    secrets: set[str] = field(default_factory=set)


async def seed_account_a(sessions, gateway_url: str) -> Account:
    """The demo data set, plus one export, as account A."""
    await demo.seed(sessions)
    await demo.seed_vouchers(sessions)
    await demo_affiliate.seed(sessions)
    await demo.seed_landing(sessions, ids=A_TENANTS)
    vouchers = [demo.voucher_id(n) for n in range(len(demo.VOUCHER_CODES))]
    export = _create_export(gateway_url, demo.DEMO_KEY, vouchers[:1])
    endpoint, _secret = _create_endpoint(gateway_url, demo.DEMO_KEY, "https://hooks.example.com/a")
    return Account(
        key=demo.DEMO_KEY,
        path_values={
            "campaign_id": [demo.demo_id("campaign", n) for n in range(len(demo.CAMPAIGNS))],
            "voucher_id": vouchers,
            "export_id": [export],
            "tenant_id": [str(t) for t in A_TENANTS],
            "endpoint_id": [endpoint],
        },
        body_values={"instance_ids": [demo.demo_id("instance", n) for n in range(3)], "voucher_ids": vouchers,
                     "tracking_code": list(demo_affiliate.CODES)[:2], "affiliate_id": list(demo_affiliate.AFFILIATES)[:1]},
    )


def _create_export(gateway_url: str, key: str, voucher_ids: list[str]) -> str:
    answer = httpx.post(f"{gateway_url}/v1/analytics/export", headers={"Authorization": f"Bearer {key}"},
                        json={"voucher_ids": voucher_ids, "metrics": ["uses"], "format": "csv"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["export_id"]


def _create_endpoint(gateway_url: str, key: str, url: str) -> tuple[str, str]:
    """A webhook endpoint of the key's account, over REST: (its id, its secret)."""
    answer = httpx.post(f"{gateway_url}/v1/webhooks/endpoints", headers={"Authorization": f"Bearer {key}"},
                        json={"url": url, "description": url.rsplit("/", 1)[-1]}, timeout=30)
    answer.raise_for_status()
    return answer.json()["endpoint"]["id"], answer.json()["secret"]


async def seed_account_b(sessions, gateway_url: str) -> Account:
    """A second account with a little of everything; returns its ids."""
    now = dt.datetime.now(dt.timezone.utc)
    tag = secrets.token_hex(4)
    async with sessions() as session:
        account = await accounts.create_account(session, f"Other Partner {tag}")
        key_row, key = await accounts.create_key(session, account.id, "test")
        await session.commit()
    who = accounts.Principal(account_id=account.id, key_id=key_row.id, mode="test",
                             scopes=frozenset(accounts.SCOPES))
    out = Account(key=key, secrets={str(account.id)})

    campaign_id = uuid.uuid4()
    async with sessions() as session:
        await campaign_queries.create_campaign(session, who, campaign_id, f"B campaign {tag}")
    moments = [now - dt.timedelta(minutes=5 + 7 * i) for i in range(4)]
    instances = [factories.instance(at, campaign_id=str(campaign_id)) for at in moments]
    events = [factories.page_view(r.id, at) for r, at in zip(instances, moments)]
    orders = [factories.order(instances[0].id, instances[0].insider_id, moments[0])]
    rewards = [factories.reward(instances[0].id, instances[0].insider_id, moments[0])]
    await demo._ingest(sessions, who, {"instances": instances, "events": events, "orders": orders, "rewards": rewards}, [
        ("instances", instance_ingest.create_instances), ("events", instance_ingest.create_events),
        ("orders", instance_ingest.create_orders), ("rewards", instance_ingest.create_insider_rewards)])
    out.secrets |= {str(campaign_id), *(r.id for r in instances), *(r.insider_id for r in instances),
                    *(e.id for e in events), *(o.id for o in orders), *(r.id for r in rewards)}

    voucher = f"v_{secrets.token_hex(8)}"
    customer = f"cus_b_{tag}"
    voucher_rows = {
        "vouchers": [vpb.VoucherRecord(id=voucher, code=f"BCODE{tag.upper()}", currency="EUR",
                                       created_at=timestamp_of(now - dt.timedelta(days=10)))],
        "customers": [vpb.CustomerRecord(id=customer, segment=f"bseg_{tag}", region=f"bregion_{tag}")],
        "validations": [vpb.ValidationRecord(id=f"val_b_{tag}", voucher_id=voucher, customer_id=customer,
                                             order_amount=5000, validated_at=timestamp_of(moments[1]))],
        "redemptions": [vpb.RedemptionRecord(id=f"red_b_{tag}", voucher_id=voucher, customer_id=customer,
                                             order_total=5000, discount=500, redeemed_at=timestamp_of(moments[0]))],
    }
    await demo._ingest(sessions, who, voucher_rows, [
        ("vouchers", voucher_ingest.create_vouchers), ("customers", voucher_ingest.create_customers),
        ("validations", voucher_ingest.create_validations), ("redemptions", voucher_ingest.create_redemptions)])
    out.secrets |= {voucher, f"BCODE{tag.upper()}", customer, f"val_b_{tag}", f"red_b_{tag}"}

    code = f"BAFF-{tag}"
    event_id = str(uuid.uuid4())
    affiliate_rows = {
        "affiliates": [apb.AffiliateRecord(id=f"aff_b_{tag}", name=f"B affiliate {tag}")],
        "tracking_codes": [apb.TrackingCodeRecord(code=code, affiliate_id=f"aff_b_{tag}")],
        "products": [apb.ProductRecord(product_id=f"prod_b_{tag}", name=f"B product {tag}")],
        "events": [apb.EventRecord(id=event_id, type="click", occurred_at=timestamp_of(moments[0]), tracking_code=code,
                                   page_url=f"https://b-{tag}.example.com/p", user_agent="Mozilla/5.0")],
        "conversions": [apb.ConversionRecord(order_id=f"ord_b_{tag}", tracking_code=code, order_total="10.00",
                                             commission="1.00", currency="EUR", occurred_at=timestamp_of(moments[0]),
                                             product_ids=[f"prod_b_{tag}"])],
    }
    await demo._ingest(sessions, who, affiliate_rows, [
        ("affiliates", affiliate_ingest.upsert_affiliates), ("tracking_codes", affiliate_ingest.create_tracking_codes),
        ("products", affiliate_ingest.upsert_products), ("events", affiliate_ingest.record_events),
        ("conversions", affiliate_ingest.record_conversions)])
    out.secrets |= {f"aff_b_{tag}", f"B affiliate {tag}", code, f"prod_b_{tag}", f"B product {tag}", event_id,
                    f"ord_b_{tag}", f"b-{tag}.example.com"}

    async with sessions() as session:
        tenant = await tenants.create_tenant(session, who, f"B tenant {tag}", "UTC")
    export = _create_export(gateway_url, key, [voucher])
    endpoint, secret = _create_endpoint(gateway_url, key, f"https://hooks-b-{tag}.example.com/b-hook-{tag}")
    out.secrets |= {export, f"B tenant {tag}", endpoint, secret, f"hooks-b-{tag}.example.com", f"b-hook-{tag}"}
    out.path_values = {"campaign_id": [str(campaign_id)], "voucher_id": [voucher], "export_id": [export],
                       "tenant_id": [str(tenant.id)], "endpoint_id": [endpoint]}
    out.body_values = {"instance_ids": [r.id for r in instances], "voucher_ids": [voucher], "tracking_code": [code],
                       "affiliate_id": [f"aff_b_{tag}"]}
    return out
