"""Hypothesis fuzzing of every ingestion RPC on the real services (the `gateway` stack's
processes, dialled over gRPC): mostly-invalid records, mixed batches, duplicate ids.

Each record is built field by field from a valid value or a mutation that the family's
rules reject (`BAD`) or that they may either accept or reject (`MAYBE`, e.g. a date in
1970). Per call:
* never INTERNAL / UNKNOWN: a rejection is INVALID_ARGUMENT with the family's envelope;
* a batch with a `BAD` record is rejected, one with only valid records accepted;
* rejected: the account's rows are unchanged in every table (a batch is all or nothing);
* accepted: exactly `created_count` rows are new in the record's table, and created +
  duplicates = records sent.

`make test` runs the `ci` profile (50 examples per RPC, no deadline: the machine is
shared); `HYPOTHESIS_PROFILE=long` runs 2,000 per RPC.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import string
import uuid
from dataclasses import dataclass
from typing import Callable

import grpc
import psycopg
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as aff
from partnerlytics.campaign.v1 import campaigns_pb2 as camp
from partnerlytics.instance.v1 import instance_ingestion_pb2 as ins
from partnerlytics.landing.v1 import landing_analytics_pb2 as la
from partnerlytics.landing.v1 import tenants_pb2 as land
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vou
from platform_core.paging import timestamp_of

settings.register_profile("ci", max_examples=50, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

OK, MAYBE, BAD = 0, 1, 2
NOW = dt.datetime.now(dt.timezone.utc)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


# --------------------------------------------------------------------------- field strategies


def tagged(valid, bad=None, maybe=None):
    """(value, tag) from the valid strategy, a rejected mutation or an undecided one."""
    branches = [valid.map(lambda v: (v, OK))]
    if bad is not None:
        branches.append(bad.map(lambda v: (v, BAD)))
    if maybe is not None:
        branches.append(maybe.map(lambda v: (v, MAYBE)))
    return st.one_of(*branches)


SAFE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))


def text(max_len: int, required: bool = True, printable_only: bool = False):
    valid = st.text(SAFE, min_size=1 if required else 0, max_size=min(max_len, 30))
    bad = [st.text(SAFE, min_size=max_len + 1, max_size=max_len + 5), st.builds("{}\x00{}".format, valid, valid)]
    if required:
        bad.append(st.just(""))
    if printable_only:
        bad.append(st.builds("{}\n".format, valid.filter(bool)))
    return tagged(valid, st.one_of(*bad), st.text(st.characters(codec="utf-8", categories=("Cc",),
                                                                exclude_characters="\x00"), min_size=1, max_size=3))


def key(pool: list[str] | None = None):
    """The affiliate family's keys: 1 to 64 of [A-Za-z0-9_.-]."""
    alphabet = string.ascii_letters + string.digits + "_.-"
    valid = st.sampled_from(pool) if pool else st.text(alphabet, min_size=1, max_size=64)
    bad = st.one_of(st.just(""), st.text(alphabet, min_size=65, max_size=70), st.sampled_from(["a b", "é", "x\n", "a/b"]))
    return tagged(valid, bad)


def uuids(pool: list[str] | None = None, required: bool = True):
    valid = st.sampled_from(pool) if pool else st.uuids().map(str)
    bad = st.one_of(st.sampled_from(["not-a-uuid", "1234", str(uuid.UUID(int=1)) + "0", "{" + str(uuid.uuid4()) + "}",
                                     str(uuid.uuid4()).replace("-", "")]),
                    st.text(max_size=40).filter(lambda s: len(s) != 36))
    if required:
        bad = st.one_of(bad, st.just(""))
    return tagged(valid, bad, st.uuids().map(lambda u: str(u).upper()))


def ref(pool: list[str], created: set[str] = frozenset()):
    """A reference to a record of the caller's: a known one, an unknown one, a malformed one.
    `created`: the ids the fuzzed calls themselves have written, read at each draw, so that
    an "unknown" id is never one an earlier example created (Hypothesis repeats its UUIDs)."""
    unknown = st.uuids().map(str).filter(lambda u: u not in pool and u not in created)
    return tagged(st.sampled_from(pool), st.one_of(unknown, st.just("nope"), st.just("")))


def moments(required: bool = True, earliest_ok: dt.datetime = NOW - dt.timedelta(days=400)):
    valid = st.datetimes(min_value=earliest_ok.replace(tzinfo=None), max_value=(NOW - dt.timedelta(seconds=1)).replace(
        tzinfo=None)).map(lambda d: timestamp_of(d.replace(tzinfo=dt.timezone.utc)))
    bad = st.one_of(
        st.datetimes(min_value=(NOW + dt.timedelta(hours=1)).replace(tzinfo=None)).map(
            lambda d: timestamp_of(d.replace(tzinfo=dt.timezone.utc))),
        st.integers(253402300800, 2**63 - 1).map(lambda s: timestamp_pb2.Timestamp(seconds=s)),  # past 9999
        st.integers(-(2**63), -62135596801).map(lambda s: timestamp_pb2.Timestamp(seconds=s)),  # before year 1
        st.integers(10**9, 2**31 - 1).map(lambda n: timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=n)),
        st.integers(-(2**31), -1).map(lambda n: timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=n)),
    )
    if required:
        bad = st.one_of(bad, st.just(timestamp_pb2.Timestamp()))
    maybe = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=earliest_ok.replace(tzinfo=None)).map(
        lambda d: timestamp_of(d.replace(tzinfo=dt.timezone.utc)))
    return tagged(valid, bad, maybe)


def money(required: bool = True):
    valid = st.decimals(0, 10**9, places=2).map(lambda d: f"{d:.2f}")
    bad = st.one_of(st.sampled_from(["abc", "1.234", "-1", "-0.01", "1e5", "NaN", "Infinity", " 1", "1 ", "12\n",
                                     "1" * 13, "\u0661\u0662", "1,5"]),
                    st.text(max_size=8).filter(lambda s: bool(s) and not s.isascii()))
    if required:
        bad = st.one_of(bad, st.just(""))
    return tagged(valid, bad)


def currency(default_ok: bool = False):
    valid = st.sampled_from(["USD", "EUR", "GBP", "JPY"] + ([""] if default_ok else []))
    bad = st.one_of(st.sampled_from(["usd", "US", "USDD", "U$D", "USD\n", "123"] + ([] if default_ok else [""])),
                    st.text(max_size=5).filter(lambda s: len(s) != 3 and bool(s)))
    return tagged(valid, bad)


def ints(lo: int, hi: int, bits: int):
    top = 2 ** (bits - 1)
    return tagged(st.integers(lo, hi), st.one_of(st.integers(-top, lo - 1), st.integers(hi + 1, top - 1)))


@st.composite
def record(draw, fields: dict, build: Callable):
    """One record: every field valid, or each field drawn valid or mutated."""
    clean = draw(st.booleans())
    values, worst = {}, OK
    for name, strategy in fields.items():
        value, tag = draw(strategy)
        while clean and tag != OK:
            value, tag = draw(strategy)
        values[name] = value
        worst = max(worst, tag)
    return build(**values), worst, values


# --------------------------------------------------------------------------- the stack and the account


@dataclass(repr=False)
class Fuzzed:
    stack: object
    key: str
    account_id: uuid.UUID
    database_url: str
    instances: list[str]
    vouchers: list[str]
    customers: list[str]
    affiliates: list[str]
    codes: list[str]
    products: list[str]
    tenant: int
    channels: dict
    order_instances: list[str] = None
    order_of: dict = None
    written: dict = None
    tracked: int = 0
    conn: psycopg.Connection | None = None

    def track_tenant(self) -> int:
        """The tenant events are tracked for: a new one every 80 events (its limit is 100 a minute)."""
        self.tracked += 1
        if self.tracked % 80 == 0:
            self.tenant = self.call(TEN + "CreateTenant", land.CreateTenantRequest(name="fuzz", time_zone="UTC")).tenant.id
        return self.tenant

    def created(self, table: str) -> set[str]:
        """The identities accepted calls have written to `table` (filled by remember)."""
        return self.written.setdefault(table, set())

    def remember(self, spec, batch) -> int | None:
        """Records an accepted batch; returns how many of its identities are new."""
        if spec.ident is None:
            return None
        seen = self.written.setdefault(spec.table, set())
        new = {spec.ident(values) for _, _, values in batch} - seen
        seen.update(new)
        first = set(new)
        for _, _, values in batch:
            # A retried order id (even naming another instance) is a duplicate: only the
            # first record of a new id gives its instance an order.
            if spec.table == "orders" and values["id"].lower() in first:
                first.discard(values["id"].lower())
                self.order_of.setdefault(values["instance_id"], values["id"].lower())
        return len(new)

    def call(self, method: str, request, metadata=()):
        service, name = method.rsplit("/", 1)
        domain = service.split(".")[1]
        output = RESPONSES[method]
        stub = self.channels[domain].unary_unary(f"/{method}", request_serializer=lambda m: m.SerializeToString(),
                                                  response_deserializer=output.FromString)
        return stub(request, metadata=(("authorization", f"Bearer {self.key}"), *metadata), timeout=30)

    def state(self) -> dict[str, tuple[int, int]]:
        """Count and checksum of the account's rows in every table that holds them."""
        if self.conn is None:
            self.conn = psycopg.connect(self.database_url, autocommit=True)
        return {table: (n, digest) for table, n, digest in self.conn.execute(STATE_SQL, {"a": self.account_id})}


STATE_SQL = ""
RESPONSES: dict[str, type] = {}


@pytest.fixture(scope="module")
def fuzzed(gateway, database_url):
    global STATE_SQL
    import asyncio

    from tests.support.factories import account_with_key

    account_id, secret = asyncio.run(account_with_key(database_url, "fuzz"))
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT DISTINCT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables"
            " t USING (table_schema, table_name) WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
            " AND c.column_name IN ('account_id', 'tenant_id')").fetchall()
    # The audit log records every call, accepted or refused (it is not the batch's data; the
    # services' role cannot read it back: tests/platform/test_security.py).
    owned = sorted({t for t, c in columns if c == "account_id"} - {"audit_log"})
    by_tenant = sorted({t for t, c in columns if c == "tenant_id"} - set(owned))
    STATE_SQL = " UNION ALL ".join(
        [f"SELECT '{t}', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM \"{t}\" x "
         f"WHERE account_id = %(a)s" for t in owned]
        + [f"SELECT '{t}', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM \"{t}\" x "
           f"WHERE tenant_id IN (SELECT id FROM landing_tenants WHERE account_id = %(a)s)" for t in by_tenant])
    # A batch with dozens of bad fields is answered with trailers (rich status + envelope,
    # violations capped at 50) beyond gRPC's default 8 KB metadata limit, which a default
    # client reports as RESOURCE_EXHAUSTED; Envoy allows 60 KB. Noted in reliability.md.
    options = [("grpc.max_metadata_size", 64 * 1024)]
    channels = {name: grpc.insecure_channel(f"127.0.0.1:{ports[0]}", options=options)
                for name, ports in gateway.service_ports.items()}
    f = Fuzzed(gateway, secret, account_id, database_url, [str(uuid.uuid4()) for _ in range(30)],
               ["v_" + uuid.uuid4().hex[:16] for _ in range(5)], [f"cus_{n}" for n in range(5)],
               [f"aff_{n}" for n in range(3)], [f"CODE-{n}" for n in range(3)], [f"prod_{n}" for n in range(3)], 0,
               channels, [str(uuid.uuid4()) for _ in range(400)], {}, {})
    for method, (service_descriptor_output) in _responses().items():
        RESPONSES[method] = service_descriptor_output
    at = timestamp_of(NOW - dt.timedelta(hours=1))
    f.call(INS + "BatchCreateInstances", ins.BatchCreateInstancesRequest(instances=[
        ins.InstanceRecord(id=i, campaign_id=str(uuid.uuid4()), insider_id=str(uuid.uuid4()), timestamp=at)
        for i in f.instances + f.order_instances]))
    f.call(VOU + "BatchCreateVouchers", vou.BatchCreateVouchersRequest(vouchers=[
        vou.VoucherRecord(id=v, code=v.upper(), currency="USD", created_at=at) for v in f.vouchers]))
    f.call(VOU + "BatchCreateCustomers", vou.BatchCreateCustomersRequest(customers=[
        vou.CustomerRecord(id=c, segment="new", region="EU") for c in f.customers]))
    f.call(AFF + "UpsertAffiliates", aff.UpsertAffiliatesRequest(affiliates=[
        aff.AffiliateRecord(id=a, name=a) for a in f.affiliates]))
    f.call(AFF + "CreateTrackingCodes", aff.CreateTrackingCodesRequest(tracking_codes=[
        aff.TrackingCodeRecord(code=c, affiliate_id=a) for c, a in zip(f.codes, f.affiliates)]))
    f.call(AFF + "UpsertProducts", aff.UpsertProductsRequest(products=[
        aff.ProductRecord(product_id=p, name=p) for p in f.products]))
    f.tenant = f.call(TEN + "CreateTenant", land.CreateTenantRequest(name="fuzz", time_zone="UTC")).tenant.id
    yield f
    for channel in channels.values():
        channel.close()
    if f.conn is not None:
        f.conn.close()


INS = "partnerlytics.instance.v1.InstanceIngestionService/"
VOU = "partnerlytics.voucher.v1.VoucherIngestionService/"
AFF = "partnerlytics.affiliate.v1.AffiliateIngestionService/"
CAMP = "partnerlytics.campaign.v1.CampaignService/"
TEN = "partnerlytics.landing.v1.LandingTenantService/"
TRACK = "partnerlytics.landing.v1.LandingAnalyticsService/TrackEvent"


def _responses() -> dict[str, type]:
    from google.protobuf import message_factory

    out = {}
    for module in (ins, vou, aff, camp, land, la):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                out[f"{service.full_name}/{method.name}"] = message_factory.GetMessageClass(method.output_type)
    return out


# --------------------------------------------------------------------------- the RPCs


@dataclass
class Spec:
    """An ingestion RPC: its records, how they make a request, where they are written."""

    method: str
    table: str
    records: Callable  # Fuzzed -> strategy of (record, tag, values)
    request: Callable  # list of records -> request message
    single: bool = False
    ident: Callable | None = None  # values -> the record's identity (duplicates), None: always new
    created: Callable = lambda response: response.created_count  # noqa: E731
    check: Callable | None = None  # (Fuzzed, batch of (record, tag, values)) -> extra tag (cross-record rules)


def _instance(f):
    return record({"id": uuids(), "campaign_id": uuids(), "insider_id": uuids(), "timestamp": moments()},
                  ins.InstanceRecord)


def _metadata_struct(values: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def _event(f):
    meta = tagged(st.fixed_dictionaries({"url": st.text(SAFE, max_size=20), "user_agent": st.text(SAFE, max_size=20)}),
                  st.one_of(st.just({}), st.just({"url": 5, "user_agent": "x"}),
                            st.builds(lambda s: {"url": s + "\x00", "user_agent": "x"}, st.text(SAFE, max_size=5))))
    fields = {"id": uuids(), "instance_id": ref(f.instances, f.created("instances")), "name": text(200),
              "tracker_type": tagged(st.just(ins.TRACKER_TYPE_PAGE_VIEW), st.sampled_from([0, 5, 99, 2**31 - 1])),
              "created_at": moments(), "metadata": meta.map(lambda p: (_metadata_struct(p[0]), p[1]))}
    return record(fields, ins.EventRecord)


def _order(f):
    items = st.lists(record({"product_id": text(200), "quantity": ints(1, 1000, 32), "price": money()},
                            ins.OrderItemRecord), max_size=3)
    fields = {"id": uuids(), "instance_id": ref(f.order_instances, f.created("instances")),
              "purchased_insider_id": uuids(),
              "total": money(), "currency": currency(), "status": text(40), "created_at": moments(),
              "discounted_price": money(required=False), "items": items.map(
                  lambda rs: ([r for r, _, _ in rs], max([t for _, t, _ in rs], default=OK)))}
    return record(fields, ins.OrderRecord)


def _one_order_per_instance(f, batch) -> int:
    """An instance has at most one order: another order id for it is a field violation."""
    seen = dict(f.order_of)
    worst = OK
    for r, tag, values in batch:
        if tag != OK:
            continue
        other = seen.setdefault(values["instance_id"], values["id"].lower())
        if other != values["id"].lower():
            worst = BAD
    return worst


def _reward(f):
    fields = {"id": uuids(), "instance_id": ref(f.instances, f.created("instances")), "insider_id": uuids(),
              "type": text(40), "amount": money(), "currency": currency(), "status": text(40), "created_at": moments()}
    return record(fields, ins.InsiderRewardRecord)


def _voucher_ids():
    valid = st.binary(min_size=8, max_size=8).map(lambda b: "v_" + b.hex())
    bad = st.one_of(st.sampled_from(["", "v_123", "V_0123456789ABCDEF", "v_0123456789abcdeg", "v_0123456789abcdef\n",
                                     "x_0123456789abcdef"]), st.text(max_size=20).filter(lambda s: not s.startswith("v_")))
    return tagged(valid, bad)


def _voucher(f):
    return record({"id": _voucher_ids(), "code": text(64), "currency": currency(default_ok=True),
                   "created_at": moments()}, vou.VoucherRecord)


def _customer(f):
    return record({"id": text(64), "segment": text(64), "region": text(64)}, vou.CustomerRecord)


def _validation(f):
    customer = tagged(st.sampled_from(f.customers + [""]), st.sampled_from(["cus_unknown", "x" * 65]))
    return record({"id": text(64), "voucher_id": ref(f.vouchers), "customer_id": customer,
                   "order_amount": ints(0, 10**15, 64), "validated_at": moments()}, vou.ValidationRecord)


@st.composite
def _redemption_record(draw, f):
    r, tag, values = draw(record({"id": text(64), "voucher_id": ref(f.vouchers), "customer_id": ref(f.customers),
                                  "order_total": ints(0, 10**15, 64), "discount": ints(0, 10**15, 64),
                                  "redeemed_at": moments()}, vou.RedemptionRecord))
    if values["discount"] > values["order_total"]:
        tag = BAD
    return r, tag, values


def _affiliate(f):
    return record({"id": key(), "name": text(200, printable_only=True)}, aff.AffiliateRecord)


def _product(f):
    return record({"product_id": key(), "name": text(200, printable_only=True)}, aff.ProductRecord)


def _tracking_code(f):
    return record({"code": key(), "affiliate_id": tagged(st.sampled_from(f.affiliates), st.just("aff_unknown"))},
                  aff.TrackingCodeRecord)


def _urls():
    return tagged(st.builds("https://shop.example.com/{}".format, st.text(string.ascii_letters, max_size=10)),
                  st.sampled_from(["ftp://x", "shop.example.com", "https://a b", "https://x/\n"]))


def _aff_event(f):
    fields = {"id": uuids(), "type": tagged(st.sampled_from(["click", "pageview"]), st.sampled_from(["", "tap"])),
              "occurred_at": moments(earliest_ok=dt.datetime(2000, 1, 2, tzinfo=dt.timezone.utc)),
              "tracking_code": tagged(st.sampled_from(f.codes), st.sampled_from(["CODE-unknown", "a b"])),
              "session_id": text(128, printable_only=True), "page_url": _urls(),
              "user_agent": tagged(st.just(BROWSER)),
              "country": tagged(st.sampled_from(["", "US", "de"]), st.sampled_from(["USA", "1", "D"]))}
    return record(fields, aff.EventRecord)


def _conversion(f):
    fields = {"order_id": text(64, printable_only=True), "tracking_code": tagged(st.sampled_from(f.codes), st.just("CODE-unknown")),
              "order_total": money(), "commission": money(), "currency": currency(),
              "occurred_at": moments(earliest_ok=dt.datetime(2000, 1, 2, tzinfo=dt.timezone.utc)),
              "product_ids": tagged(st.lists(st.sampled_from(f.products), max_size=3))}
    return record(fields, aff.ConversionRecord)


def _campaign(f):
    name = tagged(st.text(SAFE, min_size=1, max_size=30).filter(str.strip),
                  st.one_of(st.just(""), st.just("   "), st.text(string.ascii_letters, min_size=201, max_size=205),
                            st.builds("{}\x00".format, st.text(string.ascii_letters, min_size=1, max_size=5))))
    return record({"id": uuids(), "name": name}, camp.Campaign)


def _tenant(f):
    name = tagged(st.text(SAFE, min_size=1, max_size=30).filter(str.strip),
                  st.one_of(st.just(""), st.text(string.ascii_letters, min_size=201, max_size=205),
                            st.builds("{}\x00".format, st.text(string.ascii_letters, min_size=1, max_size=5))))
    zone = tagged(st.sampled_from(["", "UTC", "Europe/Berlin", "America/Mexico_City", "Asia/Tokyo"]),
                  st.sampled_from(["Mars/Olympus", "utc+1", "Europe/Berlin\x00", "../etc/passwd"]))
    return record({"name": name, "time_zone": zone}, land.CreateTenantRequest)


def _value(v) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if v is None:
        out.null_value = 0
    elif isinstance(v, bool):
        out.bool_value = v
    elif isinstance(v, (int, float)):
        out.number_value = v
    elif isinstance(v, str):
        out.string_value = v
    elif isinstance(v, dict):
        out.struct_value.update(v)
    return out


def _track(f):
    def build(tenant_id, event_type, metadata):
        request = la.TrackEventRequest(event_type=_value(event_type))
        request.tenant_id.CopyFrom(_value(f.track_tenant() if tenant_id == "own" else tenant_id))
        if metadata is not None:
            request.metadata.CopyFrom(_value(metadata))
        return request

    tenant = tagged(st.just("own"), st.one_of(st.sampled_from(["1", 1.5, -1, 0, 2**60, None, True]),
                                              st.integers(10**12, 2**53 - 1)))
    kind = tagged(st.sampled_from(["pageview", "click_whatsapp", "click_call", "qr_scan", "click_toggle_currency"]),
                  st.sampled_from(["tap", "", "PAGEVIEW", 3, None, "time_on_page"]))
    meta = tagged(st.one_of(st.none(), st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8),
                                                       st.text(SAFE, max_size=10), max_size=4)),
                  st.one_of(st.just("hero"), st.just({f"k{n}": n for n in range(51)}),
                            st.just({"big": "x" * 5000}), st.just({"nul": "a\x00b"})))
    return record({"tenant_id": tenant, "event_type": kind, "metadata": meta}, build)


def _uuid_id(values) -> str:
    return values["id"].lower()  # the services read UUIDs case-insensitively


def _text_id(values) -> str:
    return values["id"]


def _at(ident, field):
    """The identity of a record of a time-partitioned table: its client id alone. The time
    is in the table's key, but the id is claimed in record_keys (docs/lifecycle.md,
    "Idempotency"): the same id at another time is a duplicate."""
    return ident


def _batch(name, build):
    return lambda records: build(**{name: records})


SPECS = [
    Spec(INS + "CreateInstance", "instances", _instance, lambda rs: ins.CreateInstanceRequest(instance=rs[0]), True,
         ident=_uuid_id),
    Spec(INS + "BatchCreateInstances", "instances", _instance, _batch("instances", ins.BatchCreateInstancesRequest),
         ident=_uuid_id),
    Spec(INS + "CreateEvent", "events", _event, lambda rs: ins.CreateEventRequest(event=rs[0]), True,
         ident=_at(_uuid_id, "created_at")),
    Spec(INS + "BatchCreateEvents", "events", _event, _batch("events", ins.BatchCreateEventsRequest),
         ident=_at(_uuid_id, "created_at")),
    Spec(INS + "CreateOrder", "orders", _order, lambda rs: ins.CreateOrderRequest(order=rs[0]), True,
         ident=_uuid_id, check=_one_order_per_instance),
    Spec(INS + "BatchCreateOrders", "orders", _order, _batch("orders", ins.BatchCreateOrdersRequest),
         ident=_uuid_id, check=_one_order_per_instance),
    Spec(INS + "CreateInsiderReward", "insider_rewards", _reward,
         lambda rs: ins.CreateInsiderRewardRequest(insider_reward=rs[0]), True, ident=_uuid_id),
    Spec(INS + "BatchCreateInsiderRewards", "insider_rewards", _reward,
         _batch("insider_rewards", ins.BatchCreateInsiderRewardsRequest), ident=_uuid_id),
    Spec(VOU + "CreateVoucher", "vouchers", _voucher, lambda rs: vou.CreateVoucherRequest(voucher=rs[0]), True,
         ident=_text_id),
    Spec(VOU + "BatchCreateVouchers", "vouchers", _voucher, _batch("vouchers", vou.BatchCreateVouchersRequest),
         ident=_text_id),
    Spec(VOU + "CreateCustomer", "voucher_customers", _customer, lambda rs: vou.CreateCustomerRequest(customer=rs[0]),
         True, ident=_text_id),
    Spec(VOU + "BatchCreateCustomers", "voucher_customers", _customer,
         _batch("customers", vou.BatchCreateCustomersRequest), ident=_text_id),
    Spec(VOU + "CreateValidation", "voucher_validations", _validation,
         lambda rs: vou.CreateValidationRequest(validation=rs[0]), True, ident=_at(_text_id, "validated_at")),
    Spec(VOU + "BatchCreateValidations", "voucher_validations", _validation,
         _batch("validations", vou.BatchCreateValidationsRequest), ident=_at(_text_id, "validated_at")),
    Spec(VOU + "CreateRedemption", "voucher_redemptions", _redemption_record,
         lambda rs: vou.CreateRedemptionRequest(redemption=rs[0]), True, ident=_at(_text_id, "redeemed_at")),
    Spec(VOU + "BatchCreateRedemptions", "voucher_redemptions", _redemption_record,
         _batch("redemptions", vou.BatchCreateRedemptionsRequest), ident=_at(_text_id, "redeemed_at")),
    Spec(AFF + "UpsertAffiliates", "affiliates", _affiliate, _batch("affiliates", aff.UpsertAffiliatesRequest),
         ident=lambda v: v["id"], created=lambda r: r.data.created_count),
    Spec(AFF + "CreateTrackingCodes", "affiliate_tracking_codes", _tracking_code,
         _batch("tracking_codes", aff.CreateTrackingCodesRequest), ident=lambda v: v["code"],
         created=lambda r: r.data.created_count),
    Spec(AFF + "UpsertProducts", "affiliate_products", _product, _batch("products", aff.UpsertProductsRequest),
         ident=lambda v: v["product_id"], created=lambda r: r.data.created_count),
    Spec(AFF + "RecordEvents", "affiliate_events", _aff_event, _batch("events", aff.RecordEventsRequest),
         ident=_at(_uuid_id, "occurred_at"), created=lambda r: r.data.created_count),
    Spec(AFF + "RecordConversions", "affiliate_conversions", _conversion,
         _batch("conversions", aff.RecordConversionsRequest),
         ident=lambda v: v["order_id"],  # the order is the key in every month (services/affiliate/ingest.py)
         created=lambda r: r.data.created_count),
    Spec(CAMP + "CreateCampaign", "campaigns", _campaign, lambda rs: camp.CreateCampaignRequest(campaign=rs[0]), True,
         ident=_uuid_id, created=lambda r: int(r.created)),
    Spec(TEN + "CreateTenant", "landing_tenants", _tenant, lambda rs: rs[0], True, created=lambda r: 1),
    Spec(TRACK, "landing_events", _track, lambda rs: rs[0], True, created=lambda r: 1),
]
REJECTIONS = {"INVALID_ARGUMENT"}
TRACK_REJECTIONS = {"INVALID_ARGUMENT", "NOT_FOUND"}  # an unknown tenant is the documented TENANT_NOT_FOUND


def test_every_ingestion_rpc_is_fuzzed():
    ingestion = {name for name in _responses() if "Ingestion" in name} | {CAMP + "CreateCampaign",
                                                                          TEN + "CreateTenant", TRACK}
    assert {spec.method for spec in SPECS} == ingestion


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.method.rsplit("/", 1)[1])
@given(data=st.data())
def test_ingestion_rejects_invalid_input_whole_and_writes_valid_input_once(fuzzed, spec, data):
    strategy = spec.records(fuzzed)
    batch = data.draw(st.lists(strategy, min_size=1, max_size=1) if spec.single else st.lists(strategy, max_size=6))
    if batch and not spec.single and data.draw(st.booleans()):
        batch.append(batch[data.draw(st.integers(0, len(batch) - 1))])  # a duplicate id within the batch
    tag = max([t for _, t, _ in batch], default=BAD)  # an empty batch is refused
    if spec.check is not None:
        tag = max(tag, spec.check(fuzzed, batch))
    request = spec.request([r for r, _, _ in batch])
    before = fuzzed.state()
    metadata = (("x-landing-user-agent", BROWSER),
                ("x-landing-client-ip", f"198.51.{data.draw(st.integers(0, 255))}.{data.draw(st.integers(1, 254))}"))
    try:
        response = fuzzed.call(spec.method, request, metadata if spec.method == TRACK else ())
    except grpc.RpcError as error:
        trailers = dict(error.trailing_metadata() or ())
        assert error.code().name in (TRACK_REJECTIONS if spec.method == TRACK else REJECTIONS), (
            error.code(), error.details(), batch)
        assert json.loads(trailers["x-envelope"]) and trailers["x-envelope-status"] in ("400", "404", "422")
        assert tag != OK, (error.details(), trailers.get("x-envelope"), batch)
        assert fuzzed.state() == before, "a rejected call wrote"
        return
    after = fuzzed.state()
    created = spec.created(response)
    new = fuzzed.remember(spec, batch)  # first: a failing example is replayed while shrinking
    assert tag != BAD, ("accepted", batch)
    assert after[spec.table][0] - before[spec.table][0] == created
    if new is not None:
        assert created == new, "every new identity is created once, the others are duplicates"
