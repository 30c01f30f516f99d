"""Cross-account probes: account A replays every gRPC method and every HTTP route with
account B's ids (in paths, query strings, bodies and ingestion batches), and each answer
must carry nothing of B and be identical to the answer for a fresh random id of the same
shape; afterwards B's rows are exactly what they were.

Methods and routes are enumerated from the generated descriptors (services and their
`google.api.http` rules), so a method added without a probe fails
`test_every_method_and_route_has_a_probe`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import pathlib
import re
import secrets
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio
from google.api import annotations_pb2
from google.protobuf import json_format, message_factory
from google.rpc import error_details_pb2, status_pb2  # noqa: F401 - registers the detail types for MessageToDict

from partnerlytics.affiliate.v1 import affiliate_ingestion_pb2 as aff
from partnerlytics.campaign.v1 import campaigns_pb2 as camp
from partnerlytics.instance.v1 import instance_ingestion_pb2 as ins
from partnerlytics.landing.v1 import tenants_pb2 as land
from partnerlytics.voucher.v1 import voucher_ingestion_pb2 as vou
from platform_core.paging import timestamp_of

GEN = pathlib.Path(__file__).resolve().parents[2] / "gen"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
# Keys whose values differ between any two calls: request ids, clocks, new serial ids.
VARYING = {"timestamp", "requestId", "request_id", "generated_at", "generatedAt", "estimated_completion",
           "create_time", "createTime", "created_at"}


def _methods():
    """Every (service descriptor, method descriptor) of the generated API."""
    for path in sorted(GEN.glob("partnerlytics/*/v1/*_pb2.py")):
        module = importlib.import_module(".".join(path.relative_to(GEN).with_suffix("").parts))
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield service, method


# The webhook endpoints API's calls name the caller's own endpoints: another account's (or
# mode's) endpoint answering exactly like a missing one is probed over gRPC, every method,
# in tests/webhooks/test_webhooks.py (test_endpoints_are_scoped_to_their_account_and_validated)
# and over REST, every route, status, headers and body, in tests/webhooks/test_webhooks_rest.py
# (test_another_accounts_endpoint_looks_exactly_like_a_missing_one).
# The export service's jobs are the caller's own, and its files are built by a worker
# later: tests/exports/test_exports.py probes it on a stack of its own (another account's job
# answers exactly like a missing one on GetExportJob and DownloadExportJob, ListExportJobs
# shows none of it, and a job naming another account's campaign or landing tenant holds
# no row).
PROBED_ELSEWHERE = {"partnerlytics.webhooks.v1.WebhookService", "partnerlytics.exports.v1.ExportService"}
METHODS = {f"{s.full_name}/{m.name}": (s, m) for s, m in _methods() if s.full_name not in PROBED_ELSEWHERE}


def http_rule(method):
    """(verb, path template, body) of a method's `google.api.http` rule, or None."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule = options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    return verb.upper(), getattr(rule, verb), rule.body


ROUTES = {name: http_rule(m) for name, (_, m) in METHODS.items() if http_rule(m) is not None}


# --------------------------------------------------------------------------- the two accounts' data


# Values a probe makes up for the caller's own new records, named in its answers (they
# differ between the probe's two calls by construction).
_issued: list[str] = []


def _fresh(value: str) -> str:
    _issued.append(value)
    return value


def _voucher_id() -> str:
    return _fresh("v_" + secrets.token_hex(8))


@dataclass
class Ids:
    """The ids of one account's data, three of each kind: [0] and [1] are re-used by the
    other account as its own client ids, [2] is referenced by the other account's records."""

    tag: str
    key: str = ""
    instances: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    campaigns: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    insiders: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    events: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    orders: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    rewards: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    affiliates: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    aff_events: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    conversions: list[str] = field(default_factory=list)
    vouchers: list[str] = field(default_factory=lambda: [_voucher_id() for _ in range(3)])
    customers: list[str] = field(default_factory=list)
    validations: list[str] = field(default_factory=list)
    redemptions: list[str] = field(default_factory=list)
    export: str = field(default_factory=lambda: "export_" + secrets.token_hex(8))
    tenant: int = 0
    session: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Instances without an order, for the probes that add one.
    spare: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(4)])

    def __post_init__(self) -> None:
        t = self.tag
        for name, pattern in (("affiliates", "aff_{t}_{n}"), ("codes", "CODE-{T}-{n}"), ("products", "prod_{t}_{n}"),
                              ("conversions", "ORD-{T}-{n}"), ("customers", "cus_{t}_{n}"),
                              ("validations", "val_{t}_{n}"), ("redemptions", "red_{t}_{n}")):
            if not getattr(self, name):
                setattr(self, name, [pattern.format(t=t, T=t.upper(), n=n) for n in range(3)])

    def values(self) -> set[str]:
        """Every id and the tag that every string value of this account's data carries."""
        values = {self.tag, self.tag.upper(), self.export}
        for name in ("instances", "campaigns", "insiders", "events", "orders", "rewards", "affiliates", "codes",
                     "products", "aff_events", "conversions", "vouchers", "customers", "validations", "redemptions",
                     "spare"):
            values.update(getattr(self, name))
        return values

    def extra_instance(self) -> str:
        return self.spare.pop()

    def fresh_code(self) -> str:
        return _fresh(f"{self.tag}_{secrets.token_hex(6)}")

    def swapped(self) -> "Ids":
        """The same ids with [0] and [1] exchanged: the HTTP run of a probe that re-uses
        [0] as the caller's own id re-uses one its gRPC run has not."""
        lists = {name: [v[1], v[0], *v[2:]] for name, v in vars(self).items() if isinstance(v, list) and len(v) > 1}
        return replace(self, **lists)

    @classmethod
    def random(cls) -> "Ids":
        """Ids of the same shape as an account's that nobody has: the control answers."""
        ids = cls(tag="r" + secrets.token_hex(5))
        ids.tenant = secrets.randbelow(2**40) + 10**9
        return ids


def _md(key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),) if key else ()


async def _seed(stubs: "Calls", http: httpx.AsyncClient, ids: Ids) -> None:
    """The same shapes of data in every family for one account, over the public APIs."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t = ids.tag
    for n in range(3):
        await stubs.call("partnerlytics.campaign.v1.CampaignService/CreateCampaign", camp.CreateCampaignRequest(
            campaign=camp.Campaign(id=ids.campaigns[n], name=f"Campaign {t} {n}")), ids.key)
    await stubs.call("partnerlytics.instance.v1.InstanceIngestionService/BatchCreateInstances",
                     ins.BatchCreateInstancesRequest(instances=[
                         ins.InstanceRecord(id=ids.instances[n], campaign_id=ids.campaigns[0], insider_id=ids.insiders[n],
                                            timestamp=timestamp_of(now - dt.timedelta(hours=n + 1))) for n in range(3)]
                         + [ins.InstanceRecord(id=i, campaign_id=ids.campaigns[0], insider_id=ids.insiders[0],
                                               timestamp=timestamp_of(now - dt.timedelta(hours=4))) for i in ids.spare]),
                     ids.key)
    events = []
    for n in range(3):
        event = ins.EventRecord(id=ids.events[n], instance_id=ids.instances[n], name=f"page {t}",
                                tracker_type=ins.TRACKER_TYPE_PAGE_VIEW,
                                created_at=timestamp_of(now - dt.timedelta(hours=n + 1, minutes=-5)))
        event.metadata.update({"url": f"https://{t}.example.com/", "user_agent": BROWSER})
        events.append(event)
    await stubs.call("partnerlytics.instance.v1.InstanceIngestionService/BatchCreateEvents",
                     ins.BatchCreateEventsRequest(events=events), ids.key)
    await stubs.call("partnerlytics.instance.v1.InstanceIngestionService/BatchCreateOrders",
                     ins.BatchCreateOrdersRequest(orders=[_order(ids.orders[n], ids.instances[n], ids.insiders[n], now, t)
                                                          for n in range(3)]), ids.key)
    await stubs.call("partnerlytics.instance.v1.InstanceIngestionService/BatchCreateInsiderRewards",
                     ins.BatchCreateInsiderRewardsRequest(insider_rewards=[
                         _reward(ids.rewards[n], ids.instances[n], ids.insiders[n], now) for n in range(3)]), ids.key)
    # Affiliate: affiliates, codes, products, events, conversions.
    A = "partnerlytics.affiliate.v1.AffiliateIngestionService/"
    await stubs.call(A + "UpsertAffiliates", aff.UpsertAffiliatesRequest(affiliates=[
        aff.AffiliateRecord(id=a, name=f"Affiliate {t} {n}") for n, a in enumerate(ids.affiliates)]), ids.key)
    await stubs.call(A + "CreateTrackingCodes", aff.CreateTrackingCodesRequest(tracking_codes=[
        aff.TrackingCodeRecord(code=c, affiliate_id=ids.affiliates[n]) for n, c in enumerate(ids.codes)]), ids.key)
    await stubs.call(A + "UpsertProducts", aff.UpsertProductsRequest(products=[
        aff.ProductRecord(product_id=p, name=f"Product {t} {n}") for n, p in enumerate(ids.products)]), ids.key)
    await stubs.call(A + "RecordEvents", aff.RecordEventsRequest(events=[
        _aff_event(e, ids.codes[n], ids.products[n], now, t) for n, e in enumerate(ids.aff_events)]), ids.key)
    await stubs.call(A + "RecordConversions", aff.RecordConversionsRequest(conversions=[
        _conversion(o, ids.codes[n], ids.products[n], now) for n, o in enumerate(ids.conversions)]), ids.key)
    # Voucher: vouchers, customers, validations, redemptions, then an export job.
    V = "partnerlytics.voucher.v1.VoucherIngestionService/"
    await stubs.call(V + "BatchCreateVouchers", vou.BatchCreateVouchersRequest(vouchers=[
        _voucher(v, f"CODE{t.upper()}{n}", now) for n, v in enumerate(ids.vouchers)]), ids.key)
    await stubs.call(V + "BatchCreateCustomers", vou.BatchCreateCustomersRequest(customers=[
        vou.CustomerRecord(id=c, segment="new", region="EU") for c in ids.customers]), ids.key)
    await stubs.call(V + "BatchCreateValidations", vou.BatchCreateValidationsRequest(validations=[
        _validation(v, ids.vouchers[n], ids.customers[n], now) for n, v in enumerate(ids.validations)]), ids.key)
    await stubs.call(V + "BatchCreateRedemptions", vou.BatchCreateRedemptionsRequest(redemptions=[
        _redemption(r, ids.vouchers[n], ids.customers[n], now) for n, r in enumerate(ids.redemptions)]), ids.key)
    created = await http.post("/v1/analytics/export", headers={"authorization": f"Bearer {ids.key}"},
                              json={"voucher_ids": ids.vouchers, "metrics": ["uses", "discount"], "format": "json"})
    assert created.status_code == 200, created.text
    ids.export = created.json()["export_id"]
    for _ in range(300):
        polled = await http.get(f"/v1/analytics/export/{ids.export}", headers={"authorization": f"Bearer {ids.key}"})
        if polled.json()["status"] != "processing":
            break
        await asyncio.sleep(0.1)
    assert polled.json()["status"] == "completed", polled.text
    # Landing: a tenant with counted visitor events (the tracker is public: no key).
    tenant = await stubs.call("partnerlytics.landing.v1.LandingTenantService/CreateTenant",
                              land.CreateTenantRequest(name=f"Tenant {t}", time_zone="Europe/Berlin"), ids.key)
    ids.tenant = tenant.tenant.id
    from partnerlytics.instance.v1 import sessions_pb2
    ids.session = (await stubs.call(S + "CreateSession", sessions_pb2.CreateSessionRequest(), ids.key)).data.id
    for n, kind in enumerate(["pageview", "click_whatsapp", "qr_scan"]):
        tracked = await http.post("/api/analytics/track", json={"tenant_id": ids.tenant, "event_type": kind},
                                  headers={"user-agent": BROWSER, "x-forwarded-for": f"203.0.113.{n + 1}"})
        assert tracked.status_code == 200, tracked.text


def _order(oid, instance, insider, now, t):
    return ins.OrderRecord(id=oid, instance_id=instance, purchased_insider_id=insider, total="123.45", currency="USD",
                           status="completed", created_at=timestamp_of(now - dt.timedelta(minutes=10)),
                           items=[ins.OrderItemRecord(product_id=f"sku_{t}", quantity=1, price="123.45")])


def _reward(rid, instance, insider, now):
    return ins.InsiderRewardRecord(id=rid, instance_id=instance, insider_id=insider, type="commission", amount="9.87",
                                   currency="USD", status="pending", created_at=timestamp_of(now))


def _aff_event(eid, code, product, now, t):
    return aff.EventRecord(id=eid, type="click", occurred_at=timestamp_of(now - dt.timedelta(minutes=30)),
                           tracking_code=code, page_url=f"https://{t}.example.com/p", user_agent=BROWSER,
                           session_id=f"s_{t}", product_id=product)


def _conversion(oid, code, product, now):
    return aff.ConversionRecord(order_id=oid, tracking_code=code, order_total="150.00", commission="15.00",
                                currency="USD", occurred_at=timestamp_of(now - dt.timedelta(minutes=20)),
                                product_ids=[product])


def _voucher(vid, code, now):
    return vou.VoucherRecord(id=vid, code=code, currency="USD", created_at=timestamp_of(now - dt.timedelta(days=3)))


def _validation(vid, voucher, customer, now):
    return vou.ValidationRecord(id=vid, voucher_id=voucher, customer_id=customer, order_amount=54321,
                                validated_at=timestamp_of(now - dt.timedelta(hours=2)))


def _redemption(rid, voucher, customer, now):
    return vou.RedemptionRecord(id=rid, voucher_id=voucher, customer_id=customer, order_total=54321, discount=4321,
                                redeemed_at=timestamp_of(now - dt.timedelta(hours=2)))


# --------------------------------------------------------------------------- calling and comparing


@dataclass
class Answer:
    """What a caller sees, as comparable JSON-like data."""

    status: str
    body: object
    text: str  # everything received, for the leak scan


class Calls:
    """gRPC calls by full method name on the stack's service ports, HTTP through its gateway."""

    def __init__(self, stack, http: httpx.AsyncClient) -> None:
        self.channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}")
                         for name, ports in stack.service_ports.items()}
        self.http = http

    def _callable(self, name: str):
        service, method = METHODS[name]
        channel = self.channels[service.full_name.split(".")[1]]
        output = message_factory.GetMessageClass(method.output_type)
        kind = channel.unary_stream if method.server_streaming else channel.unary_unary
        return kind(f"/{name}", request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=output.FromString)

    async def call(self, name: str, request, key: str | None):
        """A successful call's response (raises on an error)."""
        return await self._callable(name)(request, metadata=_md(key))

    async def grpc(self, name: str, request, key: str | None) -> Answer:
        call = self._callable(name)(request, metadata=_md(key))
        try:
            if METHODS[name][1].server_streaming:
                body = [json_format.MessageToDict(m) async for m in call]
            else:
                body = json_format.MessageToDict(await call)
            return Answer("OK", body, json.dumps(body))
        except grpc.aio.AioRpcError as error:
            trailers = {k: v for k, v in (error.trailing_metadata() or ())}
            details = trailers.get("grpc-status-details-bin")
            rich = json_format.MessageToDict(status_pb2.Status.FromString(details)) if details else None
            envelope = json.loads(trailers["x-envelope"]) if "x-envelope" in trailers else None
            body = {"details": error.details(), "rich": rich, "envelope": envelope,
                    "http": trailers.get("x-envelope-status")}
            return Answer(error.code().name, body, json.dumps(body))

    async def rest(self, name: str, request, key: str | None, headers: dict | None = None) -> Answer:
        verb, template, body_field = ROUTES[name]
        fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
        path = template
        for placeholder in re.findall(r"{(\w+)}", template):
            path = path.replace("{" + placeholder + "}", str(fields.pop(placeholder)))
        payload = None
        if body_field == "*":
            payload, fields = fields, {}
        elif body_field:
            payload = fields.pop(body_field, {})
        sent = {"authorization": f"Bearer {key}"} if key else {}
        sent.update(headers or {})
        response = await self.http.request(verb, path, params=fields, json=payload, headers=sent)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Answer(str(response.status_code), body, response.text + json.dumps(dict(response.headers)))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


def _substitute(text: str, names: dict[str, str]) -> str:
    for value, name in sorted(names.items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", name, text)
    return text


def normalized(value, names: dict[str, str], extra_varying: frozenset = frozenset()):
    """The answer with the probed ids named by their role and the varying fields masked."""
    if isinstance(value, dict):
        return {k: ("<varies>" if k in VARYING or k in extra_varying else normalized(v, names, extra_varying))
                for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v, names, extra_varying) for v in value]
    if isinstance(value, str):
        return _substitute(value, names)
    return value


def leaks(answer: Answer, names: dict[str, str], foreign: set[str]) -> list[str]:
    """B's values in an answer, once the values the caller itself sent are named."""
    text = _substitute(answer.text, names).lower()
    return sorted(v for v in foreign if v.lower() in text)


# --------------------------------------------------------------------------- the probes


@dataclass
class Probe:
    """One request of one method, built for a target account's ids (B's or random ones).

    `build(own, target, fresh)` returns the request: `own` is the caller's (A's) data,
    `target` the ids probed, `fresh()` a new value of the caller's own that must not repeat.
    `roles` names which target ids the request carries (to name them in the answer).
    """

    method: str
    label: str
    build: Callable
    roles: tuple[str, ...] = ()
    writes: bool = False
    extra_varying: frozenset = frozenset()

    @property
    def id(self) -> str:
        return f"{self.method.split('/')[-1]}-{self.label}"


def _now():
    return dt.datetime.now(dt.timezone.utc)


def _u() -> str:
    return _fresh(str(uuid.uuid4()))


I = "partnerlytics.instance.v1.InstanceIngestionService/"
IA = "partnerlytics.instance.v1.InstanceAnalyticsService/"
C = "partnerlytics.campaign.v1.CampaignService/"
CA = "partnerlytics.campaign.v1.CampaignAnalyticsService/"
AF = "partnerlytics.affiliate.v1.AffiliateIngestionService/"
AA = "partnerlytics.affiliate.v1.AffiliateAnalyticsService/"
V = "partnerlytics.voucher.v1.VoucherIngestionService/"
VA = "partnerlytics.voucher.v1.VoucherAnalyticsService/"
L = "partnerlytics.landing.v1.LandingAnalyticsService/"
LT = "partnerlytics.landing.v1.LandingTenantService/"
S = "partnerlytics.instance.v1.SessionService/"


def _instance(own, campaign, iid=None):
    return ins.InstanceRecord(id=iid or _u(), campaign_id=campaign, insider_id=own.insiders[0],
                              timestamp=timestamp_of(_now() - dt.timedelta(minutes=5)))


def _event(eid, instance):
    event = ins.EventRecord(id=eid, instance_id=instance, name="probe", tracker_type=ins.TRACKER_TYPE_PAGE_VIEW,
                            created_at=timestamp_of(_now()))
    event.metadata.update({"url": "https://a.example.com/", "user_agent": BROWSER})
    return event


def _section(section: str) -> Probe:
    from partnerlytics.affiliate.v1 import affiliate_analytics_pb2 as aa

    return Probe(AA + "GetAffiliateAnalytics", section,
                 lambda own, t: aa.GetAffiliateAnalyticsRequest(section=section, per_page="100"))


def _details_body(ia, ids: list[str]):
    body = ia.GetInstanceDetailsBody()
    body.instance_ids.list_value.extend(ids)
    return body


def _read_probes() -> list[Probe]:
    from partnerlytics.campaign.v1 import campaign_analytics_pb2 as ca
    from partnerlytics.instance.v1 import instance_analytics_pb2 as ia
    from partnerlytics.landing.v1 import landing_analytics_pb2 as la
    from partnerlytics.voucher.v1 import voucher_analytics_pb2 as va

    day = _now().date()
    window = dict(time_frame="custom", start_date=str(day - dt.timedelta(days=2)), end_date=str(day))
    return [
        Probe(IA + "ListInstanceAnalytics", "window", lambda own, t: ia.ListInstanceAnalyticsRequest(**window)),
        Probe(IA + "GetInstanceDetails", "foreign", lambda own, t: ia.GetInstanceDetailsRequest(
            body=_details_body(ia, [t.instances[2]])), ("instances",)),
        Probe(IA + "GetInstanceDetails", "own-and-foreign", lambda own, t: ia.GetInstanceDetailsRequest(
            events="all", body=_details_body(ia, [own.instances[0], t.instances[2]])),
            ("instances",)),
        Probe(CA + "GetCampaignAnalytics", "foreign", lambda own, t: ca.GetCampaignAnalyticsRequest(
            campaign_id=t.campaigns[0], time_frame="per_month"), ("campaigns",)),
        Probe(C + "ListCampaigns", "all", lambda own, t: camp.ListCampaignsRequest(page_size=100)),
        *[_section(s) for s in ("stats", "trends", "charts", "tables", "recent_clicks", "recent_conversions",
                                "recent_events")],
        Probe(VA + "GetVoucherPerformance", "foreign", lambda own, t: va.GetVoucherPerformanceRequest(
            voucher_id=t.vouchers[2], include_details="true"), ("vouchers",)),
        Probe(VA + "GetVoucherTrends", "foreign", lambda own, t: va.GetVoucherTrendsRequest(
            voucher_id=t.vouchers[2], interval="day", metrics=["uses"]), ("vouchers",)),
        Probe(VA + "GetVoucherCustomers", "foreign", lambda own, t: va.GetVoucherCustomersRequest(
            voucher_id=t.vouchers[2]), ("vouchers",)),
        Probe(VA + "CreateExport", "foreign", lambda own, t: va.CreateExportRequest(
            voucher_ids=[t.vouchers[2]], metrics=["uses"], format="csv"), ("vouchers",)),
        Probe(VA + "CreateExport", "own-and-foreign", lambda own, t: va.CreateExportRequest(
            voucher_ids=[own.vouchers[0], t.vouchers[2]], metrics=["uses"], format="csv"), ("vouchers",)),
        Probe(VA + "GetExport", "foreign", lambda own, t: va.GetExportRequest(export_id=t.export), ("export",)),
        Probe(VA + "DownloadExport", "foreign", lambda own, t: va.DownloadExportRequest(export_id=t.export),
              ("export",)),
        Probe(L + "GetAnalytics", "foreign", lambda own, t: la.GetAnalyticsRequest(tenant_id=str(t.tenant)),
              ("tenant",)),
        Probe(L + "GetTodayAnalytics", "foreign", lambda own, t: la.GetTodayAnalyticsRequest(
            tenant_id=str(t.tenant)), ("tenant",)),
        Probe(LT + "GetTenant", "foreign", lambda own, t: land.GetTenantRequest(id=t.tenant), ("tenant",)),
    ]


def _write_probes() -> list[Probe]:
    from partnerlytics.instance.v1 import sessions_pb2 as sess

    now = _now()

    def w(method, label, build, roles, **kw):
        return Probe(method, label, build, roles, writes=True, **kw)

    return [
        # Instance ingestion: [0] / [1] re-used as A's own client ids, [2] referenced.
        w(I + "CreateInstance", "reuse-id-foreign-campaign", lambda own, t: ins.CreateInstanceRequest(
            instance=_instance(own, t.campaigns[0], t.instances[0])), ("instances", "campaigns")),
        w(I + "BatchCreateInstances", "reuse-id", lambda own, t: ins.BatchCreateInstancesRequest(
            instances=[_instance(own, own.campaigns[0]), _instance(own, own.campaigns[0], t.instances[1])]),
          ("instances",)),
        w(I + "CreateEvent", "foreign-instance", lambda own, t: ins.CreateEventRequest(
            event=_event(_u(), t.instances[2])), ("instances",)),
        w(I + "BatchCreateEvents", "reuse-id", lambda own, t: ins.BatchCreateEventsRequest(
            events=[_event(t.events[0], own.instances[0]), _event(_u(), own.instances[1])]), ("events",)),
        w(I + "BatchCreateEvents", "own-and-foreign-instance", lambda own, t: ins.BatchCreateEventsRequest(
            events=[_event(_u(), own.instances[0]), _event(_u(), t.instances[2])]), ("instances",)),
        w(I + "CreateOrder", "foreign-instance", lambda own, t: ins.CreateOrderRequest(
            order=_order(_u(), t.instances[2], own.insiders[0], now, "a")), ("instances",)),
        w(I + "BatchCreateOrders", "reuse-id", lambda own, t: ins.BatchCreateOrdersRequest(orders=[
            _order(t.orders[0], own.extra_instance(), own.insiders[0], now, "a")]), ("orders",)),
        w(I + "CreateInsiderReward", "foreign-instance", lambda own, t: ins.CreateInsiderRewardRequest(
            insider_reward=_reward(_u(), t.instances[2], own.insiders[0], now)), ("instances",)),
        w(I + "BatchCreateInsiderRewards", "reuse-id", lambda own, t: ins.BatchCreateInsiderRewardsRequest(
            insider_rewards=[_reward(t.rewards[0], own.instances[0], own.insiders[0], now)]), ("rewards",)),
        # Campaign registry: B's campaign id as A's own new campaign.
        w(C + "CreateCampaign", "reuse-id", lambda own, t: camp.CreateCampaignRequest(
            campaign=camp.Campaign(id=t.campaigns[1], name="Campaign of A")), ("campaigns",)),
        # Affiliate ingestion (gRPC and HTTP).
        w(AF + "UpsertAffiliates", "reuse-id", lambda own, t: aff.UpsertAffiliatesRequest(affiliates=[
            aff.AffiliateRecord(id=t.affiliates[0], name="Affiliate of A")]), ("affiliates",)),
        w(AF + "CreateTrackingCodes", "reuse-code", lambda own, t: aff.CreateTrackingCodesRequest(tracking_codes=[
            aff.TrackingCodeRecord(code=t.codes[0], affiliate_id=own.affiliates[0])]), ("codes",)),
        w(AF + "CreateTrackingCodes", "foreign-affiliate", lambda own, t: aff.CreateTrackingCodesRequest(
            tracking_codes=[aff.TrackingCodeRecord(code=own.fresh_code(), affiliate_id=t.affiliates[2])]),
          ("affiliates",)),
        w(AF + "UpsertProducts", "reuse-id", lambda own, t: aff.UpsertProductsRequest(products=[
            aff.ProductRecord(product_id=t.products[0], name="Product of A")]), ("products",)),
        w(AF + "RecordEvents", "reuse-id", lambda own, t: aff.RecordEventsRequest(events=[
            _aff_event(t.aff_events[0], own.codes[0], own.products[0], now, "a")]), ("aff_events",)),
        w(AF + "RecordEvents", "foreign-code-and-product", lambda own, t: aff.RecordEventsRequest(events=[
            _aff_event(_u(), t.codes[2], t.products[2], now, "a")]), ("codes", "products")),
        w(AF + "RecordConversions", "reuse-id", lambda own, t: aff.RecordConversionsRequest(conversions=[
            _conversion(t.conversions[0], own.codes[0], own.products[0], now)]), ("conversions",)),
        w(AF + "RecordConversions", "foreign-code", lambda own, t: aff.RecordConversionsRequest(conversions=[
            _conversion(own.fresh_code(), t.codes[2], t.products[2], now)]), ("codes", "products")),
        # Voucher ingestion.
        w(V + "CreateVoucher", "reuse-id", lambda own, t: vou.CreateVoucherRequest(
            voucher=_voucher(t.vouchers[0], "ACODE", now)), ("vouchers",)),
        w(V + "BatchCreateVouchers", "reuse-id", lambda own, t: vou.BatchCreateVouchersRequest(vouchers=[
            _voucher(t.vouchers[1], "ACODE1", now), _voucher(_voucher_id(), "ACODE2", now)]), ("vouchers",)),
        w(V + "CreateCustomer", "reuse-id", lambda own, t: vou.CreateCustomerRequest(
            customer=vou.CustomerRecord(id=t.customers[0], segment="vip", region="US")), ("customers",)),
        w(V + "BatchCreateCustomers", "reuse-id", lambda own, t: vou.BatchCreateCustomersRequest(customers=[
            vou.CustomerRecord(id=t.customers[1], segment="vip", region="US")]), ("customers",)),
        w(V + "CreateValidation", "foreign-voucher", lambda own, t: vou.CreateValidationRequest(
            validation=_validation(own.fresh_code(), t.vouchers[2], own.customers[0], now)), ("vouchers",)),
        w(V + "BatchCreateValidations", "reuse-id", lambda own, t: vou.BatchCreateValidationsRequest(validations=[
            _validation(t.validations[0], own.vouchers[0], own.customers[0], now)]), ("validations",)),
        w(V + "BatchCreateValidations", "foreign-customer", lambda own, t: vou.BatchCreateValidationsRequest(
            validations=[_validation(own.fresh_code(), own.vouchers[0], t.customers[2], now)]), ("customers",)),
        w(V + "CreateRedemption", "foreign-voucher", lambda own, t: vou.CreateRedemptionRequest(
            redemption=_redemption(own.fresh_code(), t.vouchers[2], own.customers[0], now)), ("vouchers",)),
        w(V + "BatchCreateRedemptions", "reuse-id", lambda own, t: vou.BatchCreateRedemptionsRequest(redemptions=[
            _redemption(t.redemptions[0], own.vouchers[0], own.customers[0], now)]), ("redemptions",)),
        w(V + "BatchCreateRedemptions", "foreign-customer", lambda own, t: vou.BatchCreateRedemptionsRequest(
            redemptions=[_redemption(own.fresh_code(), own.vouchers[0], t.customers[2], now)]), ("customers",)),
        # Landing: a new tenant is the caller's whatever it is called.
        w(LT + "CreateTenant", "new", lambda own, t: land.CreateTenantRequest(name="Tenant of A",
                                                                              time_zone="Europe/Berlin"),
          (), extra_varying=frozenset({"id"})),
        # Sessions: A's new one is A's; B's session looks like a missing one to revoke.
        w(S + "CreateSession", "new", lambda own, t: sess.CreateSessionRequest(), (),
          extra_varying=frozenset({"id", "token", "expiresAt", "expires_at"})),
        w(S + "RevokeSession", "foreign", lambda own, t: sess.RevokeSessionRequest(session_id=t.session), ("session",)),
    ]


READS = _read_probes()
WRITES = _write_probes()


def _cases(probes: list[Probe]) -> list:
    """Every probe over gRPC, and over HTTP as well when its method has a route."""
    return [pytest.param(probe, transport, id=f"{transport}-{probe.id}") for probe in probes
            for transport in (("grpc", "http") if probe.method in ROUTES else ("grpc",))]


# --------------------------------------------------------------------------- B's state


def table_checksums(database_url: str, account_id: uuid.UUID) -> dict[str, tuple[int, str]]:
    """Row count and checksum of an account's rows in every table that has an `account_id`
    column, and of its tenants' rows in every table keyed by `tenant_id`."""
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name IN ('account_id', 'tenant_id')").fetchall()
        # The audit log is the record of requests (B's own reads append to it; the services'
        # role cannot read it back, and nobody can change it: tests/platform/test_security.py).
        owned = {t for t, c in columns if c == "account_id"} - {"audit_log"}
        by_tenant = {t for t, c in columns if c == "tenant_id"} - owned
        sums = {}
        for table in sorted(owned | by_tenant):
            where = ("account_id = %(a)s" if table in owned else
                     "tenant_id IN (SELECT id FROM landing_tenants WHERE account_id = %(a)s)")
            sums[table] = conn.execute(
                f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t '
                f"WHERE {where}", {"a": account_id}).fetchone()
    assert sums["instances"][0] > 0 and sums["landing_events"][0] > 0  # the scan sees the seeded rows
    return sums


async def own_answers(calls: Calls, ids: Ids) -> dict[str, object]:
    """The account's own view through every read method (exports excepted: creating one writes)."""
    answers = {}
    for probe in READS:
        if probe.method != VA + "CreateExport":
            answer = await calls.grpc(probe.method, probe.build(ids, ids), ids.key)
            answers[probe.id] = (answer.status, normalized(answer.body, {}))
    return answers


@dataclass
class World:
    calls: Calls
    a: Ids
    b: Ids
    database_url: str
    account_b: uuid.UUID
    tables_before: dict
    answers_before: dict


@pytest_asyncio.fixture(scope="module")
async def world(gateway, deps, database_url):
    from platform_core import accounts

    keys = {}
    for name in ("A", "B"):
        async with deps.sessions() as session:
            account = await accounts.create_account(session, f"probe {name}")
            _, keys[name] = await accounts.create_key(session, account.id, "test")
            await session.commit()
            keys[name + "id"] = account.id
    async with httpx.AsyncClient(base_url=gateway.gateway_url, timeout=30) as http:
        calls = Calls(gateway, http)
        a = Ids(tag="a" + secrets.token_hex(5), key=keys["A"])
        b = Ids(tag="b" + secrets.token_hex(5), key=keys["B"])
        await _seed(calls, http, a)
        await _seed(calls, http, b)
        yield World(calls, a, b, database_url, keys["Bid"], table_checksums(database_url, keys["Bid"]),
                    await own_answers(calls, b))
        await calls.close()


async def probe_pair(world: World, probe: Probe, transport: str) -> tuple[Answer, dict, Answer, dict]:
    """The probe with B's ids and with random ids of the same shape, both with A's key."""
    results = []
    for target in (world.b, Ids.random()):
        if transport == "http":
            target = target.swapped()
        _issued.clear()
        request = probe.build(world.a, target)
        names = {value: f"<own{n}>" for n, value in enumerate(_issued)}
        for role in probe.roles:
            values = getattr(target, role)
            for n, value in enumerate(values if isinstance(values, list) else [values]):
                names[str(value)] = f"<{role}{n}>"
        send = world.calls.grpc if transport == "grpc" else world.calls.rest
        results.append((await send(probe.method, request, world.a.key), names))
    (foreign, foreign_names), (control, control_names) = results
    return foreign, foreign_names, control, control_names


def assert_same_as_random(world: World, probe: Probe, transport: str, pair) -> None:
    foreign, foreign_names, control, control_names = pair
    assert leaks(foreign, foreign_names, world.b.values()) == [], foreign.text
    assert foreign.status not in ("INTERNAL", "UNKNOWN", "500"), foreign.text
    assert (foreign.status, normalized(foreign.body, foreign_names, probe.extra_varying)) == (
        control.status, normalized(control.body, control_names, probe.extra_varying))


# --------------------------------------------------------------------------- the tests


def test_every_method_and_route_has_a_probe():
    probed = {probe.method for probe in READS + WRITES} | {L + "TrackEvent"}
    assert probed == set(METHODS)
    assert len(METHODS) >= 38 and len(ROUTES) >= 18  # the enumeration found the whole API


@pytest.mark.parametrize(("probe", "transport"), _cases(READS))
async def test_a_read_with_foreign_ids_answers_as_for_random_ids(world, probe, transport):
    assert_same_as_random(world, probe, transport, await probe_pair(world, probe, transport))


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_a_key_adds_nothing_to_the_public_tracker(world, transport):
    """The tracker is public and names a tenant by id alone (documented); A's key must
    neither help nor hurt, and an HTTP library's event is acknowledged, not stored."""
    from partnerlytics.landing.v1 import landing_analytics_pb2 as la
    from google.protobuf import struct_pb2

    request = la.TrackEventRequest(tenant_id=struct_pb2.Value(number_value=world.b.tenant),
                                   event_type=struct_pb2.Value(string_value="click_whatsapp"))
    send = world.calls.grpc if transport == "grpc" else world.calls.rest
    with_key = await send(L + "TrackEvent", request, world.a.key)
    anonymous = await send(L + "TrackEvent", request, None)
    names = {str(world.b.tenant): "<tenant>"}
    assert leaks(with_key, names, world.b.values()) == []
    assert (with_key.status, normalized(with_key.body, names)) == (anonymous.status, normalized(anonymous.body, names))


@pytest.mark.parametrize(("probe", "transport"), _cases(WRITES))
async def test_a_write_with_foreign_ids_answers_as_for_random_ids(world, probe, transport):
    pair = await probe_pair(world, probe, transport)
    assert_same_as_random(world, probe, transport, pair)
    if probe.label.startswith("reuse"):
        # B's client id is A's own new record, not a duplicate of B's.
        assert pair[0].status in ("OK", "200"), pair[0].text
        result = pair[0].body.get("data", pair[0].body)
        assert not result.get("duplicateCount", result.get("duplicate_count")), pair[0].text


def test_b_rows_are_unchanged_after_every_probe(world):
    assert table_checksums(world.database_url, world.account_b) == world.tables_before


async def test_b_answers_are_unchanged_after_every_probe(world):
    assert await own_answers(world.calls, world.b) == world.answers_before
