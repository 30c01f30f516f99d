"""Voucher test data: records for the ingestion API, and the API's figures computed
independently from them (plain Python over the records, `Fraction` arithmetic)."""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from dataclasses import dataclass, field
from fractions import Fraction

from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as pb
from partnerlytics.voucher.v1 import voucher_ingestion_pb2_grpc as pb_grpc

from platform_core.paging import timestamp_of

SEGMENTS = ("premium", "standard", "basic")
REGIONS = ("North America", "Europe", "Asia")


def voucher_id() -> str:
    return "v_" + secrets.token_hex(8)


def at(record) -> dt.datetime:
    stamp = record.redeemed_at if isinstance(record, pb.RedemptionRecord) else record.validated_at
    return stamp.ToDatetime(tzinfo=dt.timezone.utc)


def half_up(value: Fraction, places: int = 0) -> float | int:
    """Rounds half away from zero (the figures are never negative)."""
    scaled = value * 10**places
    whole = math.floor(scaled + Fraction(1, 2))
    return whole if places == 0 else whole / 10**places


def fraction(num: int, den: int) -> float:
    return 0 if den == 0 else half_up(Fraction(num, den), 4)


def average(total: int, count: int) -> int:
    return 0 if count == 0 else half_up(Fraction(total, count))


@dataclass
class VoucherData:
    vouchers: dict[str, pb.VoucherRecord] = field(default_factory=dict)
    customers: dict[str, pb.CustomerRecord] = field(default_factory=dict)
    validations: list[pb.ValidationRecord] = field(default_factory=list)
    redemptions: list[pb.RedemptionRecord] = field(default_factory=list)

    # ---------------------------------------------------------------- expectations

    def _uses(self, vid: str, start: dt.datetime, end: dt.datetime) -> list[pb.RedemptionRecord]:
        return [r for r in self.redemptions if r.voucher_id == vid and start <= at(r) < end]

    def _tries(self, vid: str, start: dt.datetime, end: dt.datetime) -> list[pb.ValidationRecord]:
        return [v for v in self.validations if v.voucher_id == vid and start <= at(v) < end]

    def _returning(self, customer: str, start: dt.datetime) -> bool:
        return any(r.customer_id == customer and at(r) < start for r in self.redemptions)

    def performance(self, vid: str, first: dt.date, last: dt.date, details: bool = False) -> dict:
        start, end = _bounds(first, last)
        uses, tries = self._uses(vid, start, end), self._tries(vid, start, end)
        gross = sum(r.order_total for r in uses)
        discount = sum(r.discount for r in uses)
        customers = {r.customer_id for r in uses}
        body = {
            "voucher_id": vid,
            "code": self.vouchers[vid].code,
            "performance": {
                "total_uses": len(uses),
                "total_discount": discount,
                "conversion_rate": fraction(len(uses), len(tries)),
                "avg_order_value": average(gross, len(uses)),
                "revenue_impact": gross - discount,
                "unique_customers": len(customers),
                "repeat_usage": len(uses) - len(customers),
            },
        }
        if details:
            returning = sum(self._returning(c, start) for c in customers)
            moments = sorted(at(r) for r in uses)
            body["details"] = {
                "validations": len(tries),
                "gross_order_value": gross,
                "avg_discount": average(discount, len(uses)),
                "new_customers": len(customers) - returning,
                "returning_customers": returning,
                "first_use_at": _z(moments[0]) if moments else None,
                "last_use_at": _z(moments[-1]) if moments else None,
            }
        body["time_period"] = {"start": f"{first}T00:00:00Z", "end": f"{last}T23:59:59Z"}
        body["currency"] = self.vouchers[vid].currency or "USD"
        return body

    def daily(self, vid: str, day: dt.date) -> dict:
        """One voucher-day's figures (the trends' day point and an export row)."""
        uses, tries = self._uses(vid, *_bounds(day, day)), self._tries(vid, *_bounds(day, day))
        gross = sum(r.order_total for r in uses)
        discount = sum(r.discount for r in uses)
        return {
            "uses": len(uses), "discount": discount, "orders": len(tries),
            "conversion_rate": fraction(len(uses), len(tries)), "avg_order_value": average(gross, len(uses)),
            "revenue_impact": gross - discount, "unique_customers": len({r.customer_id for r in uses}),
        }

    def trends(self, vid: str, first: dt.date, last: dt.date, interval: str = "day", metrics=None) -> dict:
        metrics = metrics or ["uses", "discount", "orders", "conversion_rate", "avg_order_value"]
        buckets: dict[dt.date, list[dt.date]] = {}
        day = first
        while day <= last:
            label = day if interval == "day" else (
                day - dt.timedelta(days=day.weekday()) if interval == "week" else day.replace(day=1))
            buckets.setdefault(label, []).append(day)
            day += dt.timedelta(days=1)
        points = []
        for label, days in buckets.items():
            uses = [r for d in days for r in self._uses(vid, *_bounds(d, d))]
            tries = [v for d in days for v in self._tries(vid, *_bounds(d, d))]
            gross = sum(r.order_total for r in uses)
            values = {
                "uses": len(uses), "discount": sum(r.discount for r in uses), "orders": len(tries),
                "conversion_rate": fraction(len(uses), len(tries)), "avg_order_value": average(gross, len(uses)),
            }
            # In the proto's field order, only the requested ones.
            points.append({"date": label.isoformat(), **{k: v for k, v in values.items() if k in metrics}})
        start, end = _bounds(first, last)
        days = (last - first).days + 1
        total = len(self._uses(vid, start, end))
        previous = len(self._uses(vid, start - dt.timedelta(days=days), start))
        return {
            "voucher_id": vid,
            "code": self.vouchers[vid].code,
            "interval": interval,
            "trends": points,
            "summary": {
                "total_period_uses": total,
                "total_period_discount": sum(r.discount for r in self._uses(vid, start, end)),
                "avg_daily_uses": half_up(Fraction(total, days), 2),
                "growth_rate": None if previous == 0 else half_up(Fraction(total - previous, previous), 4),
            },
            "currency": self.vouchers[vid].currency or "USD",
        }

    def customer_insights(self, vid: str, first: dt.date, last: dt.date) -> dict:
        start, end = _bounds(first, last)
        uses, tries = self._uses(vid, start, end), self._tries(vid, start, end)
        by_customer: dict[str, list[pb.RedemptionRecord]] = {}
        for r in uses:
            by_customer.setdefault(r.customer_id, []).append(r)
        total = len(by_customer)
        returning = sum(self._returning(c, start) for c in by_customer)
        lifetime = sum(r.order_total for r in self.redemptions if r.customer_id in by_customer)
        segments = []
        for name in sorted({self.customers[c].segment for c in by_customer}):
            members = [c for c in by_customer if self.customers[c].segment == name]
            seg_uses = [r for c in members for r in by_customer[c]]
            seg_tries = [v for v in tries if v.customer_id and self.customers[v.customer_id].segment == name]
            segments.append({
                "segment": name, "count": len(members),
                "avg_order_value": average(sum(r.order_total for r in seg_uses), len(seg_uses)),
                "conversion_rate": fraction(len(seg_uses), len(seg_tries)),
            })
        segments.sort(key=lambda s: (-s["count"], s["segment"]))
        regions = []
        for name in sorted({self.customers[c].region for c in by_customer}):
            count = sum(1 for c in by_customer if self.customers[c].region == name)
            regions.append({"region": name, "count": count, "percentage": half_up(Fraction(count * 100, total), 2)})
        regions.sort(key=lambda r: (-r["count"], r["region"]))
        return {
            "voucher_id": vid,
            "code": self.vouchers[vid].code,
            "customer_insights": {
                "total_customers": total,
                "new_customers": total - returning,
                "returning_customers": returning,
                "avg_customer_value": average(sum(r.order_total for r in uses), total),
                "customer_lifetime_value": average(lifetime, total),
                "top_customer_segments": segments[:10],
                "geographic_distribution": regions,
            },
            "time_period": {"start": f"{first}T00:00:00Z", "end": f"{last}T23:59:59Z"},
            "currency": self.vouchers[vid].currency or "USD",
        }


def _bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc)


def _z(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(now: dt.datetime, seed: int = 7, days: int = 75, vouchers: int = 2, customers: int = 40,
          code: str = "SUMMER2024") -> VoucherData:
    """Deterministic data over the last `days` days: the first voucher busiest, shared
    customers (so some are returning), validations with and without a use, guests."""
    rng = random.Random(seed)
    data = VoucherData()
    for n in range(vouchers):
        vid = voucher_id()
        data.vouchers[vid] = pb.VoucherRecord(
            id=vid, code=code if n == 0 else f"{code}-{n}", currency="USD",
            created_at=timestamp_of(now - dt.timedelta(days=days + 1)))
    for n in range(customers):
        cid = f"cus_{seed}_{n:03d}"
        data.customers[cid] = pb.CustomerRecord(id=cid, segment=rng.choice(SEGMENTS), region=rng.choice(REGIONS))
    ids, people = list(data.vouchers), list(data.customers)
    today = now.date()
    latest = now - dt.timedelta(minutes=2)
    serial = 0
    for back in range(days, -1, -1):
        day = today - dt.timedelta(days=back)
        for k, vid in enumerate(ids):
            for _ in range(rng.randint(0, 4 if k == 0 else 2)):
                serial += 1
                moment = dt.datetime.combine(day, dt.time(), dt.timezone.utc) + dt.timedelta(
                    seconds=rng.randint(0, 86399))
                if moment > latest:
                    moment = latest - dt.timedelta(seconds=rng.randint(0, 600))
                customer = rng.choice(people)
                guest = rng.random() < 0.15
                total = rng.randint(1000, 20000)
                data.validations.append(pb.ValidationRecord(
                    id=f"val_{seed}_{serial}", voucher_id=vid, customer_id="" if guest else customer,
                    order_amount=total, validated_at=timestamp_of(moment - dt.timedelta(seconds=30))))
                if not guest and rng.random() < 0.7:
                    data.redemptions.append(pb.RedemptionRecord(
                        id=f"red_{seed}_{serial}", voucher_id=vid, customer_id=customer, order_total=total,
                        discount=rng.randint(0, total // 5), redeemed_at=timestamp_of(moment)))
    return data


class VoucherIngest:
    """Calls the voucher ingestion service with a tenant's key."""

    def __init__(self, channel, key: str) -> None:
        self.stub = pb_grpc.VoucherIngestionServiceStub(channel)
        self.md = (("authorization", f"Bearer {key}"),)

    async def references(self, data: VoucherData) -> None:
        """The vouchers and customers that validations and redemptions refer to."""
        await self.stub.BatchCreateVouchers(pb.BatchCreateVouchersRequest(vouchers=list(data.vouchers.values())),
                                            metadata=self.md)
        await self.stub.BatchCreateCustomers(pb.BatchCreateCustomersRequest(customers=list(data.customers.values())),
                                             metadata=self.md)

    async def all(self, data: VoucherData) -> None:
        await self.references(data)
        for start in range(0, len(data.validations), 5000):
            await self.stub.BatchCreateValidations(
                pb.BatchCreateValidationsRequest(validations=data.validations[start:start + 5000]), metadata=self.md)
        for start in range(0, len(data.redemptions), 5000):
            await self.stub.BatchCreateRedemptions(
                pb.BatchCreateRedemptionsRequest(redemptions=data.redemptions[start:start + 5000]), metadata=self.md)
