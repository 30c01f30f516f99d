"""The deterministic demo data set of `make run`.

Ids, amounts and the shape of the data come from a fixed seed, so every run produces the
same rows; timestamps are laid out relative to the current hour (over the last 30
days), so the data is always recent. Re-seeding replaces the demo account's data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import random
import uuid

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from platform_core import accounts, db
from platform_core.accounts import Account, ApiKey, Principal
from platform_core.paging import timestamp_of
from services.campaign import queries as campaign_queries
from services.instance import ingest
from services.landing.store import store_events

# The affiliate domain's tables (stack.demo_affiliate seeds them), cleared with the account.
AFFILIATE_TABLES = ("affiliate_daily_counts", "affiliate_session_days", "affiliate_events", "affiliate_conversions",
                    "affiliate_tracking_codes", "affiliate_products", "affiliates")

DEMO_ACCOUNT_ID = uuid.UUID("00000000-0000-4000-8000-00000000d3e0")
DEMO_ACCOUNT_NAME = "Demo Partner"
# Documented in README.md: a test-mode key with every scope.
DEMO_KEY = "sk_test_DemoPartnerKey000000000001aMMijk"
NAMESPACE = uuid.UUID("6f1c4a52-0d7e-4b8e-9a61-3d9c2f0b7a10")
SEED = 20261121
INSTANCES = 3000
BATCH = 1000
CAMPAIGNS = ["Spring Sale", "Creator Collab", "Newsletter Push", "Weekend Flash", "Loyalty Referral"]


def demo_id(kind: str, n: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}-{n}"))


def _metadata(kind: str, product: str, rng: random.Random) -> dict:
    """Documented metadata for a tracker type, with plausible values."""
    if kind == "page_view":
        return {"url": f"https://shop.example.com/p/{product}", "user_agent": "Mozilla/5.0 (demo)"}
    if kind == "click_tracking":
        return {"product_id": product, "price": round(rng.uniform(5, 200), 2)}
    if kind == "scroll_tracking":
        return {
            "scroll_depth": rng.randint(10, 100), "max_scroll": 100, "page_height": 3200,
            "viewport_height": 900, "scroll_speed": rng.choice(["slow", "medium", "fast"]),
        }
    return {
        "time_spent": rng.randint(10, 600), "active_time": rng.randint(5, 300), "idle_time": rng.randint(0, 120),
        "session_duration": rng.randint(30, 900), "engagement_score": round(rng.random(), 2),
    }


def build(now: dt.datetime) -> dict[str, list]:
    """The demo records, as the ingestion API receives them."""
    rng = random.Random(SEED)
    anchor = now.replace(minute=0, second=0, microsecond=0)
    campaigns = [demo_id("campaign", i) for i in range(len(CAMPAIGNS))]
    insiders = [demo_id("insider", i) for i in range(40)]
    out: dict[str, list] = {"instances": [], "events": [], "orders": [], "rewards": []}
    for n in range(INSTANCES):
        started = anchor - dt.timedelta(seconds=rng.randint(0, 30 * 86400 - 1)) + dt.timedelta(minutes=59)
        started = min(started, now - dt.timedelta(seconds=1))
        instance_id, insider = demo_id("instance", n), rng.choice(insiders)
        out["instances"].append(
            pb.InstanceRecord(id=instance_id, campaign_id=rng.choice(campaigns), insider_id=insider, timestamp=timestamp_of(started))
        )
        moment = started
        product = f"prod_{rng.randint(1, 60):03d}"
        for e in range(rng.randint(1, 6)):
            moment = min(moment + dt.timedelta(seconds=rng.randint(5, 240)), now)
            kind = ["page_view", "scroll_tracking", "click_tracking", "time_tracking"][min(e, 3) if e < 4 else rng.randint(0, 3)]
            metadata = _metadata(kind, product, rng)
            event = pb.EventRecord(
                id=demo_id("event", n * 10 + e), instance_id=instance_id, name=kind.replace("_", " "),
                tracker_type=pb.TrackerType.Value("TRACKER_TYPE_" + kind.upper()), created_at=timestamp_of(moment),
            )
            if kind == "click_tracking":
                event.reference_id = product
            event.metadata.update(metadata)
            out["events"].append(event)
        if rng.random() < 0.27:
            items = [
                pb.OrderItemRecord(product_id=f"prod_{rng.randint(1, 60):03d}", quantity=rng.randint(1, 3),
                                   price=str(decimal.Decimal(rng.randint(499, 9999)) / 100))
                for _ in range(rng.randint(1, 3))
            ]
            total = sum(decimal.Decimal(i.price) * i.quantity for i in items)
            discount = decimal.Decimal(rng.choice([0, 0, 5, 10])) / 100 * total
            order_at = min(moment + dt.timedelta(seconds=30), now)
            out["orders"].append(pb.OrderRecord(
                id=demo_id("order", n), instance_id=instance_id, purchased_insider_id=insider, total=str(total),
                currency="USD", status="completed", items=items,
                discounted_price=str((total - discount).quantize(decimal.Decimal("0.01"))) if discount else "",
                cashfunds_used=rng.choice(["0", "0", "5.00"]), credits_used=rng.choice(["0", "0", "2.50"]),
                created_at=timestamp_of(order_at),
            ))
            out["rewards"].append(pb.InsiderRewardRecord(
                id=demo_id("reward", n), instance_id=instance_id, insider_id=insider, type="commission",
                amount=str((total * decimal.Decimal("0.5")).quantize(decimal.Decimal("0.01"))), currency="USD",
                status=rng.choice(["pending", "paid"]), created_at=timestamp_of(order_at),
            ))
    return out


async def seed(sessions: async_sessionmaker, now: dt.datetime | None = None) -> dict[str, int]:
    """Replaces the demo account's data; returns how many records of each kind it wrote."""
    now = now or dt.datetime.now(dt.timezone.utc)
    async with sessions() as session:
        # The demo tenants reference the account: their rows go first (seed_landing re-creates them).
        await _delete_landing(session)
        for table in ("order_items", "orders", "insider_rewards", "events", "instance_hourly_counts",
                      "campaign_hourly_stats", "campaigns", "instances", "record_keys", *VOUCHER_TABLES,
                      *AFFILIATE_TABLES):
            await session.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), {"a": DEMO_ACCOUNT_ID})
        # Export jobs of any family (services/exports) reference the account too.
        await session.execute(text("DELETE FROM export_jobs WHERE account_id = :a"), {"a": DEMO_ACCOUNT_ID})
        # So do its webhook endpoints (made over REST with the demo key) and events; the
        # deliveries go with them.
        for table in ("webhook_deliveries", "webhook_endpoints", "webhook_events"):
            await session.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), {"a": DEMO_ACCOUNT_ID})
        await session.execute(delete(ApiKey).where(ApiKey.account_id == DEMO_ACCOUNT_ID))
        await session.execute(delete(Account).where(Account.id == DEMO_ACCOUNT_ID))
        await accounts.create_account(session, DEMO_ACCOUNT_NAME, DEMO_ACCOUNT_ID)
        key, _ = await accounts.create_key(session, DEMO_ACCOUNT_ID, "test", name="demo", key=DEMO_KEY)
        await session.commit()
    who = Principal(account_id=DEMO_ACCOUNT_ID, key_id=key.id, mode="test", scopes=frozenset(accounts.SCOPES))
    records = build(now)
    for i, name in enumerate(CAMPAIGNS):
        async with sessions() as session:
            await campaign_queries.create_campaign(session, who, uuid.UUID(demo_id("campaign", i)), name)
    await _ingest(sessions, who, records, [
        ("instances", ingest.create_instances), ("events", ingest.create_events),
        ("orders", ingest.create_orders), ("rewards", ingest.create_insider_rewards),
    ])
    return {"campaigns": len(CAMPAIGNS), **{kind: len(rows) for kind, rows in records.items()}}


async def _ingest(sessions: async_sessionmaker, who: Principal, records: dict[str, list], steps: list) -> None:
    """Sends each kind of record through its ingestion command, in order, BATCH at a time."""
    for kind, command in steps:
        rows = records[kind]
        for start in range(0, len(rows), BATCH):
            async with sessions() as session:
                await command(session, who, rows[start:start + BATCH], kind)


# ---------------------------------------------------------------------------------------
# Voucher analytics demo: three vouchers, 200 customers, 90 days of checkouts.

VOUCHER_TABLES = ("voucher_exports", "voucher_daily", "voucher_redemptions", "voucher_validations", "voucher_customers",
                  "vouchers")
VOUCHER_CODES = ("SUMMER2024", "WELCOME10", "FREESHIP")
VOUCHER_SEGMENTS = (("premium", 0.25), ("standard", 0.5), ("basic", 0.25))
VOUCHER_REGIONS = (("North America", 0.55), ("Europe", 0.3), ("Asia Pacific", 0.15))


def voucher_id(n: int) -> str:
    """A demo voucher id (v_ + 16 hex), the same in every demo database."""
    return "v_" + uuid.uuid5(NAMESPACE, f"voucher-{n}").hex[:16]


def build_vouchers(now: dt.datetime) -> dict[str, list]:
    """The voucher demo records, as the voucher ingestion API receives them."""
    from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vpb

    rng = random.Random(SEED + 5)
    today = now.date()
    out: dict[str, list] = {"vouchers": [], "customers": [], "validations": [], "redemptions": []}
    for n, code in enumerate(VOUCHER_CODES):
        out["vouchers"].append(vpb.VoucherRecord(id=voucher_id(n), code=code, currency="USD",
                                                 created_at=timestamp_of(now - dt.timedelta(days=120))))
    customers = [f"cus_demo_{n:04d}" for n in range(200)]
    for cid in customers:
        segment = rng.choices([s for s, _ in VOUCHER_SEGMENTS], [w for _, w in VOUCHER_SEGMENTS])[0]
        region = rng.choices([r for r, _ in VOUCHER_REGIONS], [w for _, w in VOUCHER_REGIONS])[0]
        out["customers"].append(vpb.CustomerRecord(id=cid, segment=segment, region=region))
    serial = 0
    for back in range(90, -1, -1):
        day = today - dt.timedelta(days=back)
        for n in range(len(VOUCHER_CODES)):
            # The first voucher grows over the period; the others stay flat.
            mean = (8 + (90 - back) // 6) if n == 0 else 6 - 2 * n + 3
            for _ in range(rng.randint(mean // 2, mean)):
                serial += 1
                moment = dt.datetime.combine(day, dt.time(), dt.timezone.utc) + dt.timedelta(
                    seconds=rng.randint(0, 86399))
                moment = min(moment, now - dt.timedelta(seconds=rng.randint(60, 3600)))
                customer = rng.choice(customers)
                amount = rng.randint(1500, 25000)
                out["validations"].append(vpb.ValidationRecord(
                    id=f"val_demo_{serial}", voucher_id=voucher_id(n), customer_id=customer, order_amount=amount,
                    validated_at=timestamp_of(moment - dt.timedelta(seconds=40))))
                if rng.random() < 0.72:
                    out["redemptions"].append(vpb.RedemptionRecord(
                        id=f"red_demo_{serial}", voucher_id=voucher_id(n), customer_id=customer, order_total=amount,
                        discount=amount // 10 if n != 2 else min(amount, 599), redeemed_at=timestamp_of(moment)))
    return out


async def seed_vouchers(sessions: async_sessionmaker, now: dt.datetime | None = None) -> dict[str, int]:
    """Loads the voucher demo data into the demo account (after `seed`, which clears it)."""
    from services.voucher import ingest as voucher_ingest

    now = now or dt.datetime.now(dt.timezone.utc)
    async with sessions() as session:
        key_id = (await session.execute(select(ApiKey.id).where(ApiKey.account_id == DEMO_ACCOUNT_ID))).scalar_one()
    who = Principal(account_id=DEMO_ACCOUNT_ID, key_id=key_id, mode="test", scopes=frozenset(accounts.SCOPES))
    records = build_vouchers(now)
    await _ingest(sessions, who, records, [
        ("vouchers", voucher_ingest.create_vouchers), ("customers", voucher_ingest.create_customers),
        ("validations", voucher_ingest.create_validations), ("redemptions", voucher_ingest.create_redemptions),
    ])
    return {kind: len(rows) for kind, rows in records.items()}
# --------------------------------------------------------------------------- landing

# Tenant ids are global integers; the demo's are fixed so that README.md can name them.
LANDING_TENANTS = [(1, "Casa Azul", "America/Mexico_City"), (2, "Kaffeehaus Morgenrot", "Europe/Berlin")]
LANDING_DAYS = 8  # one more than the dashboard shows


async def _delete_landing(session) -> None:
    params = {"a": DEMO_ACCOUNT_ID}
    for table in ("landing_events", "landing_daily_visitors", "landing_daily_stats"):
        await session.execute(
            text(f"DELETE FROM {table} WHERE account_id = :a"),
            params,
        )
    await session.execute(text("DELETE FROM landing_tenants WHERE account_id = :a"), params)


def build_landing(now: dt.datetime, tenants: list[tuple[int, str, str]] = LANDING_TENANTS) -> list:
    """Visitor events of the demo tenants over the last LANDING_DAYS days, in their zones.

    The visitor hashes are synthetic (no IP and no salt behind them), one per visitor and
    local day as the service's rotating salt makes them.
    """
    import hashlib
    from zoneinfo import ZoneInfo

    from partnerlytics.landing.v1 import landing_analytics_pb2 as lpb
    from services.landing.store import EventRow

    rng = random.Random(SEED + 6)
    rows: list[dict] = []
    for tenant_id, _name, zone in tenants:
        tz = ZoneInfo(zone)
        for n in range(rng.randint(120, 160) * LANDING_DAYS):
            at = now - dt.timedelta(seconds=rng.randint(60, LANDING_DAYS * 86400))
            visitor = f"{tenant_id}-{rng.randint(0, 90)}@{at.astimezone(tz).date()}"
            digest = hashlib.sha256(visitor.encode()).hexdigest()[:45]
            kind = rng.choices(
                ["pageview", "click_whatsapp", "click_call", "click_toggle_currency", "time_on_page", "qr_scan",
                 "product_click"],
                weights=[40, 8, 3, 5, 25, 4, 15],
            )[0]
            metadata: dict = {"path": "/"}
            duration = None
            if kind == "time_on_page":
                seconds = rng.randint(5, 400)
                metadata["seconds"], duration = seconds, seconds * 1000
            if kind == "product_click":
                metadata["product_id"] = rng.choice(["tacos", "mole", "tamales", "churros"])
            rows.append(EventRow(
                tenant_id, zone, at, lpb.EventType.Value("EVENT_TYPE_" + kind.upper()), digest, duration,
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
                f"https://demo-tenant-{tenant_id}.example/", metadata,
            ))
    return rows


async def seed_landing(
    sessions: async_sessionmaker, now: dt.datetime | None = None, ids: tuple[int, ...] | None = None
) -> dict[str, int]:
    """Replaces the demo account's landing tenants (ids 1 and 2) and their events.

    Run after `seed` (which creates the demo account). An id taken by another account's
    tenant stops it with a message instead of touching that tenant. `ids` replaces the
    README's ids (the tests' database has tenants of its own).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    tenants = [(i, name, zone) for i, (_, name, zone) in zip(ids, LANDING_TENANTS)] if ids else LANDING_TENANTS
    async with sessions() as session:
        await _delete_landing(session)
        taken = (
            await session.execute(
                text("SELECT id FROM landing_tenants WHERE id = ANY(:ids)"), {"ids": [t[0] for t in tenants]}
            )
        ).scalars().all()
        if taken:
            raise RuntimeError(f"landing tenant ids {sorted(taken)} belong to another account; use a fresh DATA_DIR")
        for tenant_id, name, zone in tenants:
            await session.execute(
                text("INSERT INTO landing_tenants (id, account_id, livemode, name, time_zone) "
                     "VALUES (:id, :a, false, :n, :z)"),
                {"id": tenant_id, "a": DEMO_ACCOUNT_ID, "n": name, "z": zone},
            )
        # Tenants created later get ids after the demo's.
        await session.execute(text(
            "SELECT setval(pg_get_serial_sequence('landing_tenants', 'id'), "
            "greatest((SELECT max(id) FROM landing_tenants), 1))"
        ))
        rows = build_landing(now, tenants)
        await store_events(await session.connection(), rows)
        await session.commit()
    return {"landing tenants": len(tenants), "landing events": len(rows)}


async def _main() -> None:
    from platform_core.config import require

    engine = db.create_engine(require("DATABASE_URL"), pool_size=2)
    counts = await seed(db.sessionmaker(engine))
    counts.update(await seed_vouchers(db.sessionmaker(engine)))
    counts.update(await seed_landing(db.sessionmaker(engine)))
    await engine.dispose()
    print("demo data:", ", ".join(f"{n} {kind}" for kind, n in counts.items()))


if __name__ == "__main__":
    asyncio.run(_main())
