"""The affiliate part of the demo data of `make run`: an online shop with five affiliates.

Deterministic like `stack.demo`: a fixed seed gives the same records every run, laid out
over the 31 UTC days up to now, so every README curl has data. It writes through the
ingestion commands, so the daily counts are built exactly as in production. Run after
`stack.demo.seed`, which clears the demo account (including these tables).
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as pb
from platform_core import accounts
from platform_core.paging import timestamp_of
from services.affiliate import ingest
from stack.demo import DEMO_KEY

NAMESPACE = uuid.UUID("9b0e3f4c-6a1d-4c7e-8f2b-5d6a7c8e9f01")
SEED = 20261122
EVENTS = 6000
CONVERSIONS = 240
BATCH = 1000

AFFILIATES = {"aff_jane": "Jane Smith", "aff_omar": "Omar Haddad", "aff_lena": "Lena Vogel",
              "aff_kenji": "Kenji Sato", "aff_ruth": "Ruth Adeyemi"}
CODES = {"AFF-JANE-001": "aff_jane", "AFF-JANE-002": "aff_jane", "AFF-OMAR-001": "aff_omar",
         "AFF-LENA-001": "aff_lena", "AFF-LENA-002": "aff_lena", "AFF-KENJI-001": "aff_kenji",
         "AFF-RUTH-001": "aff_ruth", "AFF-RUTH-002": "aff_ruth"}
PRODUCTS = {f"prod_{i:03d}": name for i, name in enumerate(
    ["Widget Pro", "Widget Mini", "Gadget X", "Gadget X Max", "Travel Mug", "Desk Lamp", "Headphones",
     "USB-C Hub", "Standing Desk", "Notebook Set", "Water Bottle", "Backpack"])}
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
]
REFERRERS = [("https://blog.example.com/review", "", ""), ("https://www.google.com/search?q=widget", "", ""),
             ("", "", ""), ("https://t.co/x1", "", ""), ("", "newsletter", "email"), ("", "google", "cpc")]
COUNTRIES = ["US", "US", "US", "DE", "GB", "FR", "CA", ""]
KINDS = ["click"] * 4 + ["pageview"] * 6 + ["product_view"] * 3 + ["add_to_cart"] * 2 + [
    "remove_from_cart", "thank_you_view"]


def _id(kind: str, n: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}-{n}"))


def build(now: dt.datetime) -> dict[str, list]:
    rng = random.Random(SEED)
    start = dt.datetime.combine(now.date() - dt.timedelta(days=30), dt.time(), dt.timezone.utc)
    span = int((now - start).total_seconds()) - 1
    codes = list(CODES)
    weights = [8, 3, 5, 6, 2, 4, 1, 1]
    events = []
    for n in range(EVENTS):
        moment = start + dt.timedelta(seconds=rng.randrange(span))
        kind = rng.choice(KINDS)
        referrer, utm_source, utm_medium = rng.choice(REFERRERS)
        product = rng.choice(list(PRODUCTS))
        record = pb.EventRecord(
            id=_id("event", n), type=kind, occurred_at=timestamp_of(moment), user_agent=rng.choice(AGENTS),
            referrer_url=referrer, utm_source=utm_source, utm_medium=utm_medium, country=rng.choice(COUNTRIES),
            session_id=f"sess_{moment:%Y%m%d}_{rng.randrange(30):02d}",  # ~30 visitors a day, several pages each
            page_url=f"https://shop.example.com/products/{product}" if kind != "thank_you_view"
            else "https://shop.example.com/thank-you",
        )
        if kind == "click" or rng.random() < 0.4:
            record.tracking_code = rng.choices(codes, weights)[0]
        if kind in ("product_view", "add_to_cart", "remove_from_cart"):
            record.product_id = product
        events.append(record)
    conversions = []
    for n in range(CONVERSIONS):
        moment = start + dt.timedelta(seconds=rng.randrange(span))
        total = decimal.Decimal(rng.randrange(999, 39999)) / 100
        conversions.append(pb.ConversionRecord(
            order_id=f"ORD-{moment:%Y%m%d}-{n:04d}", tracking_code=rng.choices(codes, weights)[0],
            order_total=str(total), commission=str((total * decimal.Decimal("0.15")).quantize(decimal.Decimal("0.01"))),
            currency="USD", occurred_at=timestamp_of(moment), product_ids=rng.sample(list(PRODUCTS), rng.randint(1, 3)),
        ))
    return {
        "affiliates": [pb.AffiliateRecord(id=k, name=v) for k, v in AFFILIATES.items()],
        "tracking_codes": [pb.TrackingCodeRecord(code=k, affiliate_id=v) for k, v in CODES.items()],
        "products": [pb.ProductRecord(product_id=k, name=v) for k, v in PRODUCTS.items()],
        "events": events,
        "conversions": conversions,
    }


async def seed(sessions: async_sessionmaker, now: dt.datetime | None = None) -> dict[str, int]:
    """Writes the demo shop's records with the demo key (test mode); returns the counts."""
    now = now or dt.datetime.now(dt.timezone.utc)
    async with sessions() as session:
        who = await accounts.find_principal(session, DEMO_KEY)
    if who is None:
        raise LookupError("the demo key does not exist: run stack.demo.seed first")
    records = build(now)
    steps = [("affiliates", ingest.upsert_affiliates), ("tracking_codes", ingest.create_tracking_codes),
             ("products", ingest.upsert_products), ("events", ingest.record_events),
             ("conversions", ingest.record_conversions)]
    for kind, command in steps:
        rows = records[kind]
        for first in range(0, len(rows), BATCH):
            async with sessions() as session:
                await command(session, who, rows[first:first + BATCH], kind)
    return {f"affiliate {kind}": len(rows) for kind, rows in records.items()}
