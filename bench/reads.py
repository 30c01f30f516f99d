"""Read benchmark: the list and details endpoints, layer by layer, on the same data.

Every case is measured through five layers, each answering the same question:

* ``gateway``: HTTP/JSON through Envoy (Lua filter, gRPC-JSON transcoder) to the
  instance service running as its own process: what a partner sees;
* ``grpc``: the same service called directly over gRPC (no Envoy);
* ``service``: the service's own query function (``services.instance.queries``) called
  in this process over SQLAlchemy: database time plus the ORM/driver, no gRPC;
* ``raw_naive``: the SQL one writes first, via psycopg: ``ORDER BY ... LIMIT/OFFSET``
  plus ``count(*)`` for a list; one statement per table for details;
* ``raw_best``: the best SQL for the same answer, one round trip: the total from the
  hourly counts (plus the two partial edge hours), the page by a keyset seek from a
  cursor computed beforehand (an oracle no page-number API has); for details, one
  statement that builds the whole JSON answer in PostgreSQL.

Why this module is long: the five layers are five implementations of the same two reads,
kept side by side on purpose: each SQL baseline sits next to the request it is compared
with, and `answers`/`agreement` check that every layer did the same work before any of
them is timed. Apart they would drift apart unseen.

Before timing, each case's answer is fetched through every layer and compared (the same
ids in the same order and the same total; per instance the same number of events,
order items and rewards), so the layers are known to do the same work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import re
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc
import httpx
import psycopg
from google.protobuf import struct_pb2
from sqlalchemy import event

from bench.dataset import Tenant, connect
from bench.measure import CpuMeter, aggregate_us, arun_concurrent, arun_series, run_series, spread, summary
from partnerlytics.instance.v1 import instance_analytics_pb2 as api
from partnerlytics.instance.v1 import instance_analytics_pb2_grpc as api_grpc
from platform_core.accounts import SCOPES, Principal
from platform_core.paging import HOUR, floor_hour
from services.instance import queries
from services.instance.servicer import parse_list_request

log = logging.getLogger("bench.reads")

PATH = "/partner/v1/instances/analytics"
LAYERS = ("gateway", "grpc", "service", "raw_naive", "raw_best")
DEEP_OFFSET = 19_980  # page 1000 at limit 20
DETAIL_IDS = 50
DETAIL_SETS = 20  # rotating sets of 50 ids, so that no single set stays hot in the caches


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    kind: str  # "list" or "details"
    days: int = 0  # 0: time_frame=day (the trailing 24 hours); else a custom window of whole days
    purchased: bool | None = None
    deep: bool = False  # page 1000, or the deepest page the window has (see resolve)
    limit: int = 20


CASES: tuple[Case, ...] = (
    Case("list_day_p1", "list, 24 h, page 1", "list"),
    Case("list_day_deep", "list, 24 h, deepest page", "list", deep=True),
    Case("list_90d_p1", "list, 90 days, page 1", "list", days=90),
    Case("list_90d_deep", "list, 90 days, page 1000", "list", days=90, deep=True),
    Case("list_day_purchased_p1", "list, 24 h, is_purchased=true, page 1", "list", purchased=True),
    Case("list_90d_purchased_deep", "list, 90 days, is_purchased=true, page 1000", "list", days=90,
         purchased=True, deep=True),
    Case("details_50", "details, 50 ids, events=all", "details"),
)


@dataclass
class Resolved:
    """A case made concrete for one tenant: the page, the parameters, the cursor."""

    case: Case
    tenant: Tenant
    page: int = 1
    params: dict[str, str] = field(default_factory=dict)
    total: int = 0
    cursor: tuple[dt.datetime, uuid.UUID] | None = None
    custom: tuple[dt.datetime, dt.datetime] | None = None
    id_sets: list[list[uuid.UUID]] = field(default_factory=list)

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        if self.custom is not None:
            return self.custom
        now = dt.datetime.now(dt.timezone.utc)
        return now - dt.timedelta(hours=24), now

    def describe(self) -> str:
        if self.case.kind == "details":
            return f"{DETAIL_IDS} ids (rotating over {len(self.id_sets)} random sets), events=all"
        offset = (self.page - 1) * self.case.limit
        return f"page {self.page} (offset {offset:,}) of {self.total:,} rows"


def _purchase_sql(case: Case) -> str:
    return "" if case.purchased is None else " AND is_purchase = %(p)s"


def _base(r: Resolved) -> dict[str, Any]:
    base: dict[str, Any] = {"a": r.tenant.account_id, "l": r.tenant.livemode}
    if r.case.purchased is not None:
        base["p"] = r.case.purchased
    return base


def resolve(conn: psycopg.Connection, case: Case, tenant: Tenant, anchor: dt.datetime) -> Resolved:
    r = Resolved(case=case, tenant=tenant)
    if case.kind == "details":
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM instances WHERE account_id = %s AND livemode = %s ORDER BY random() LIMIT %s",
            (tenant.account_id, tenant.livemode, DETAIL_IDS * DETAIL_SETS),
        )]
        r.id_sets = [ids[i:i + DETAIL_IDS] for i in range(0, len(ids) - DETAIL_IDS + 1, DETAIL_IDS)]
        r.params = {"events": "all"}
        return r
    if case.days:
        last = anchor.date()
        first = last - dt.timedelta(days=case.days - 1)
        r.params = {"time_frame": "custom", "start_date": first.isoformat(), "end_date": last.isoformat()}
        start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.timezone.utc)
        r.custom = (start, start + dt.timedelta(days=case.days))
    else:
        r.params = {"time_frame": "day"}
    if case.purchased is not None:
        r.params["is_purchased"] = "true" if case.purchased else "false"
    lo, hi = r.window()
    p = _purchase_sql(case)
    params = {**_base(r), "lo": lo, "hi": hi}
    r.total = conn.execute(
        f"SELECT count(*) FROM instances WHERE account_id = %(a)s AND livemode = %(l)s{p} "
        "AND started_at >= %(lo)s AND started_at < %(hi)s", params
    ).fetchone()[0]
    if case.deep:
        # Page 1000 when the window holds it; otherwise the deepest page that stays inside
        # the window for the whole run (100 rows of margin, as the 24 h window slides).
        offset = min(DEEP_OFFSET, max(0, r.total - 101))
        r.page = offset // case.limit + 1
    r.params.update(page=str(r.page), limit=str(case.limit))
    if r.page > 1:
        row = conn.execute(
            f"SELECT started_at, id FROM instances WHERE account_id = %(a)s AND livemode = %(l)s{p} "
            "AND started_at >= %(lo)s AND started_at < %(hi)s ORDER BY started_at DESC, id LIMIT 1 OFFSET %(o)s",
            {**params, "o": (r.page - 1) * case.limit},
        ).fetchone()
        r.cursor = (row[0], row[1]) if row else None
    return r


# ---------------------------------------------------------------------------------------
# Raw SQL


def naive_list(conn: psycopg.Connection, r: Resolved) -> tuple[list[tuple], int]:
    lo, hi = r.window()
    p = _purchase_sql(r.case)
    params = {**_base(r), "lo": lo, "hi": hi, "limit": r.case.limit, "off": (r.page - 1) * r.case.limit}
    where = f"account_id = %(a)s AND livemode = %(l)s{p} AND started_at >= %(lo)s AND started_at < %(hi)s"
    rows = conn.execute(
        "SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances "
        f"WHERE {where} ORDER BY started_at DESC, id LIMIT %(limit)s OFFSET %(off)s", params
    ).fetchall()
    total = conn.execute(f"SELECT count(*) FROM instances WHERE {where}", params).fetchone()[0]
    return rows, total


def best_list_sql(r: Resolved, lo: dt.datetime, hi: dt.datetime) -> tuple[str, dict[str, Any]]:
    p = _purchase_sql(r.case)
    scope = f"account_id = %(a)s AND livemode = %(l)s{p}"
    first = floor_hour(lo)
    if first < lo:
        first += HOUR
    last = floor_hour(hi)
    params: dict[str, Any] = {**_base(r), "lo": lo, "hi": hi, "first": first, "last": last, "limit": r.case.limit}
    if first < last:
        total = (
            f"(SELECT coalesce(sum(n), 0) FROM instance_hourly_counts WHERE {scope} "
            "AND hour >= %(first)s AND hour < %(last)s)"
            f" + (SELECT count(*) FROM instances WHERE {scope} AND started_at >= %(last)s AND started_at < %(hi)s)"
            f" + (SELECT count(*) FROM instances WHERE {scope} AND started_at >= %(lo)s AND started_at < %(first)s)"
        )
    else:
        total = f"(SELECT count(*) FROM instances WHERE {scope} AND started_at >= %(lo)s AND started_at < %(hi)s)"
    keyset = ""
    if r.cursor is not None:
        keyset = " AND started_at <= %(ct)s AND (started_at < %(ct)s OR id >= %(cid)s)"
        params.update(ct=r.cursor[0], cid=r.cursor[1])
    sql = (
        f"SELECT p.started_at, p.id, p.is_purchase, p.insider_id, p.purchased_insider_id, t.total "
        f"FROM (SELECT {total} AS total) t LEFT JOIN LATERAL ("
        "SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances "
        f"WHERE {scope} AND started_at >= %(lo)s AND started_at < %(hi)s{keyset} "
        "ORDER BY started_at DESC, id LIMIT %(limit)s) p ON true"
    )
    return sql, params


def best_list(conn: psycopg.Connection, r: Resolved) -> tuple[list[tuple], int]:
    sql, params = best_list_sql(r, *r.window())
    rows = conn.execute(sql, params).fetchall()
    total = int(rows[0][5]) if rows else 0
    return [row[:5] for row in rows if row[1] is not None], total


_SCOPE = "account_id = %(a)s AND livemode = %(l)s AND {col} = ANY(%(ids)s)"


def naive_details(conn: psycopg.Connection, r: Resolved, ids: list[uuid.UUID]) -> list[tuple]:
    """The service's five statements, one per table, as plain psycopg."""
    params = {"a": r.tenant.account_id, "l": r.tenant.livemode, "ids": ids}
    instances = conn.execute(
        "SELECT id, insider_id, purchased_insider_id, campaign_id, is_purchase FROM instances WHERE "
        + _SCOPE.format(col="id"), params
    ).fetchall()
    events = conn.execute(
        "SELECT instance_id, id, name, tracker_type, reference_id, created_at, updated_at, metadata FROM events "
        f"WHERE {_SCOPE.format(col='instance_id')} ORDER BY instance_id, created_at, id", params
    ).fetchall()
    orders = conn.execute(f"SELECT * FROM orders WHERE {_SCOPE.format(col='instance_id')}", params).fetchall()
    items: list[tuple] = []
    if orders:
        items = conn.execute(
            "SELECT order_id, product_id, quantity, price FROM order_items "
            f"WHERE {_SCOPE.format(col='order_id')} ORDER BY order_id, line",
            {**params, "ids": [o[2] for o in orders]},
        ).fetchall()
    rewards = conn.execute(
        f"SELECT * FROM insider_rewards WHERE {_SCOPE.format(col='instance_id')} ORDER BY instance_id, created_at, id",
        params,
    ).fetchall()
    return [instances, events, orders, items, rewards]  # type: ignore[list-item]


BEST_DETAILS = """
SELECT count(*) AS found, json_agg(json_build_object(
  'instance_id', i.id, 'insider_id', i.insider_id, 'purchased_insider_id', i.purchased_insider_id,
  'campaign_id', i.campaign_id, 'is_purchase', i.is_purchase,
  'events', coalesce((
     SELECT json_agg(json_build_object('id', e.id, 'name', e.name, 'tracker_type', e.tracker_type,
              'reference_id', e.reference_id, 'created_at', e.created_at, 'updated_at', e.updated_at,
              'metadata', e.metadata) ORDER BY e.created_at, e.id)
     FROM events e WHERE e.account_id = i.account_id AND e.livemode = i.livemode AND e.instance_id = i.id), '[]'),
  'order', (
     SELECT json_build_object('id', o.id, 'total', o.total, 'currency', o.currency, 'status', o.status,
              'created_at', o.created_at, 'discounted_price', o.discounted_price,
              'cashfunds_used', o.cashfunds_used, 'credits_used', o.credits_used,
              'items', coalesce((SELECT json_agg(json_build_object('product_id', it.product_id,
                                   'quantity', it.quantity, 'price', it.price) ORDER BY it.line)
                                 FROM order_items it WHERE it.account_id = o.account_id
                                   AND it.livemode = o.livemode AND it.order_id = o.id), '[]'))
     FROM orders o WHERE o.account_id = i.account_id AND o.livemode = i.livemode AND o.instance_id = i.id),
  'insider_rewards', coalesce((
     SELECT json_agg(json_build_object('id', w.id, 'insider_id', w.insider_id, 'type', w.type, 'amount', w.amount,
              'currency', w.currency, 'status', w.status, 'created_at', w.created_at) ORDER BY w.created_at, w.id)
     FROM insider_rewards w WHERE w.account_id = i.account_id AND w.livemode = i.livemode
       AND w.instance_id = i.id), '[]')
) ORDER BY array_position(%(ids)s::uuid[], i.id))::text AS body
FROM instances i WHERE i.account_id = %(a)s AND i.livemode = %(l)s AND i.id = ANY(%(ids)s::uuid[])
"""


def best_details(conn: psycopg.Connection, r: Resolved, ids: list[uuid.UUID]) -> tuple[int, str]:
    found, body = conn.execute(BEST_DETAILS, {"a": r.tenant.account_id, "l": r.tenant.livemode, "ids": ids}).fetchone()
    return found, body


# ---------------------------------------------------------------------------------------
# Requests to the service


def list_request(r: Resolved) -> api.ListInstanceAnalyticsRequest:
    return api.ListInstanceAnalyticsRequest(**r.params)


def details_request(ids: list[uuid.UUID]) -> api.GetInstanceDetailsRequest:
    values = struct_pb2.ListValue(values=[struct_pb2.Value(string_value=str(i)) for i in ids])
    return api.GetInstanceDetailsRequest(
        events="all", body=api.GetInstanceDetailsBody(instance_ids=struct_pb2.Value(list_value=values))
    )


def details_body(ids: list[uuid.UUID]) -> bytes:
    return json.dumps({"instance_ids": [str(i) for i in ids]}).encode()


# ---------------------------------------------------------------------------------------
# Normalized answers, to check that every layer answers the same


def _answer_list(ids: list[str], total: int) -> dict[str, Any]:
    return {"ids": [str(i) for i in ids], "total": int(total)}


def _answer_details(items: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    return [(str(a), int(b), int(c), int(d)) for a, b, c, d in items]


def answers(r: Resolved, env: "Env") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.case.kind == "list":
        j = env.http.get(PATH, params=r.params, headers=env.headers(r)).json()
        out["gateway"] = _answer_list([d["instance_id"] for d in j["data"]], j["pagination"]["total"])
        g = env.stub.ListInstanceAnalytics(list_request(r), metadata=env.md(r), timeout=60)
        out["grpc"] = _answer_list([d.instance_id for d in g.data], g.pagination.total)
        rows, total = env.loop.run_until_complete(env.service_list(r))
        out["service"] = _answer_list([x.instance_id for x in rows], total)
        rows, total = naive_list(env.raw, r)
        out["raw_naive"] = _answer_list([x[1] for x in rows], total)
        rows, total = best_list(env.raw, r)
        out["raw_best"] = _answer_list([x[1] for x in rows], total)
        return out
    ids = r.id_sets[0]
    j = env.http.post(PATH, params=r.params, content=details_body(ids), headers={**env.headers(r), **JSON}).json()
    out["gateway"] = _answer_details([
        (d["instance_id"], len(d["events"]), len((d["order"] or {}).get("items", [])), len(d["insider_rewards"]))
        for d in j["data"]
    ])
    g = env.stub.GetInstanceDetails(details_request(ids), metadata=env.md(r), timeout=60)
    out["grpc"] = _answer_details([
        (d.instance_id, len(d.events),
         len(d.order.struct_value["items"]) if d.order.WhichOneof("kind") == "struct_value" else 0,
         len(d.insider_rewards))
        for d in g.data
    ])
    found = env.loop.run_until_complete(env.service_details(r, ids))
    out["service"] = _answer_details([(d.instance_id, len(d.events), _items(d), len(d.rewards)) for d in found])
    inst, events, orders, items, rewards = naive_details(env.raw, r, ids)
    ev = {i: 0 for i in ids}
    for e in events:
        ev[e[0]] += 1
    order_of = {o[3]: o[2] for o in orders}  # instance_id -> order id
    it: dict[uuid.UUID, int] = {}
    for x in items:
        it[x[0]] = it.get(x[0], 0) + 1
    rw = {i: 0 for i in ids}
    for w in rewards:
        rw[w[3]] += 1
    out["raw_naive"] = _answer_details([(i, ev[i], it.get(order_of.get(i), 0), rw[i]) for i in ids]) \
        if len(inst) == len(ids) else []
    _, body = best_details(env.raw, r, ids)
    out["raw_best"] = _answer_details([
        (d["instance_id"], len(d["events"]), len((d["order"] or {}).get("items", [])), len(d["insider_rewards"]))
        for d in json.loads(body)
    ])
    return out


def _items(d: Any) -> int:
    """Order items of a query-function Details, whichever shape it has."""
    if hasattr(d, "items") and isinstance(d.items, list):
        return len(d.items)
    order = getattr(d, "order", None)
    if isinstance(order, dict):
        return len(order.get("items", []))
    return 0


def agreement(r: Resolved, got: dict[str, Any]) -> dict[str, Any]:
    """Whether every layer gave the reference (gateway) answer. The 24 h window slides by
    a few milliseconds between layers, so its total may differ by a row or two."""
    ref = got["gateway"]
    result: dict[str, Any] = {"all_agree": True, "differences": {}}
    for layer, answer in got.items():
        if r.case.kind == "list":
            same_ids = answer["ids"] == ref["ids"]
            tolerance = 0 if r.custom else 2
            same_total = abs(answer["total"] - ref["total"]) <= tolerance
            ok = same_ids and same_total
            if not ok:
                result["differences"][layer] = {
                    "ids_equal": same_ids, "total": answer["total"], "ref_total": ref["total"]}
        else:
            ok = answer == ref
            if not ok:
                result["differences"][layer] = "per-instance counts differ"
        result["all_agree"] &= ok
    if r.case.kind == "list":
        result["rows_on_page"] = len(ref["ids"])
        result["total"] = ref["total"]
    else:
        result["events_in_answer"] = sum(x[1] for x in ref)
        result["instances_in_answer"] = len(ref)
    return result


JSON = {"content-type": "application/json"}


@dataclass
class Env:
    """Clients of every layer, made once."""

    loop: asyncio.AbstractEventLoop
    gateway_url: str
    grpc_port: int
    database_url: str
    http: httpx.Client = field(init=False)
    stub: api_grpc.InstanceAnalyticsServiceStub = field(init=False)
    raw: psycopg.Connection = field(init=False)
    engine: Any = field(init=False)
    sessions: Any = field(init=False)
    _channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        from platform_core import db

        self.http = httpx.Client(base_url=self.gateway_url, timeout=60)
        self._channel = grpc.insecure_channel(
            f"127.0.0.1:{self.grpc_port}", options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self.stub = api_grpc.InstanceAnalyticsServiceStub(self._channel)
        self.raw = connect(self.database_url)
        # The same engine settings as the service (jit off, psycopg, pool).
        self.engine = db.create_engine(self.database_url, pool_size=2)
        self.sessions = db.sessionmaker(self.engine)

    def md(self, r: Resolved) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {r.tenant.key}"),)

    def headers(self, r: Resolved) -> dict[str, str]:
        return {"authorization": f"Bearer {r.tenant.key}"}

    def principal(self, r: Resolved) -> Principal:
        return Principal(account_id=r.tenant.account_id, key_id=uuid.uuid4(), mode="test", scopes=frozenset(SCOPES))

    def _reader(self):
        """What the servicer reads through: `Deps.reader()` (an autocommit connection of the
        engine) when the platform has it, else an ORM session, as before it did."""
        from platform_core.server import Deps

        if hasattr(Deps, "reader"):
            return Deps.reader(types.SimpleNamespace(engine=self.engine))  # type: ignore[arg-type]
        return self.sessions()

    async def service_list(self, r: Resolved):
        _, window, is_purchase, page = parse_list_request(list_request(r), dt.datetime.now(dt.timezone.utc))
        async with self._reader() as conn:
            return await queries.list_instances(conn, self.principal(r), window, is_purchase, page)

    async def service_details(self, r: Resolved, ids: list[uuid.UUID]):
        async with self._reader() as conn:
            return await queries.instance_details(conn, self.principal(r), ids, "all")

    def close(self) -> None:
        self.http.close()
        self._channel.close()
        self.raw.close()
        self.loop.run_until_complete(self.engine.dispose())


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:300]}")


def layer_calls(r: Resolved, env: Env) -> dict[str, Callable[[], Callable[[], Any]]]:
    """For each layer, a factory of a zero-argument call (a fresh id rotation per series)."""
    headers = env.headers(r)
    md = env.md(r)
    if r.case.kind == "list":
        request = list_request(r)

        def gateway() -> Callable[[], Any]:
            return lambda: _check(env.http.get(PATH, params=r.params, headers=headers))

        def grpc_call() -> Callable[[], Any]:
            return lambda: env.stub.ListInstanceAnalytics(request, metadata=md, timeout=60)

        def service() -> Callable[[], Any]:
            return lambda: env.service_list(r)

        def naive() -> Callable[[], Any]:
            return lambda: naive_list(env.raw, r)

        def best() -> Callable[[], Any]:
            return lambda: best_list(env.raw, r)

        return {"gateway": gateway, "grpc": grpc_call, "service": service, "raw_naive": naive, "raw_best": best}

    bodies = [details_body(ids) for ids in r.id_sets]
    requests = [details_request(ids) for ids in r.id_sets]
    post_headers = {**headers, **JSON}

    def rotating(fn: Callable[[int], Any]) -> Callable[[], Any]:
        counter = itertools.count()
        return lambda: fn(next(counter) % len(r.id_sets))

    return {
        "gateway": lambda: rotating(
            lambda i: _check(env.http.post(PATH, params=r.params, content=bodies[i], headers=post_headers))),
        "grpc": lambda: rotating(lambda i: env.stub.GetInstanceDetails(requests[i], metadata=md, timeout=60)),
        "service": lambda: rotating(lambda i: env.service_details(r, r.id_sets[i])),
        "raw_naive": lambda: rotating(lambda i: naive_details(env.raw, r, r.id_sets[i])),
        "raw_best": lambda: rotating(lambda i: best_details(env.raw, r, r.id_sets[i])),
    }


def measure_layer(
    layer: str, factory: Callable[[], Callable[[], Any]], env: Env, n: int, warmup: int, max_s: float, cpu: CpuMeter
) -> tuple[list[float], dict[str, float]]:
    call = factory()
    before = cpu.snapshot()
    if layer == "service":
        samples = env.loop.run_until_complete(arun_series(call, n, warmup, max_s))
    else:
        samples = run_series(call, n, warmup, max_s)
    after = cpu.snapshot()
    return samples, {"cpu_s": CpuMeter.delta(before, after), "calls": len(samples) + warmup}


def run_reads(
    env: Env,
    tenants: list[Tenant],
    anchor: dt.datetime,
    *,
    rounds: int,
    requests: int,
    warmup: int,
    max_series_s: float,
    cpu: CpuMeter,
    progress: Callable[[str], None],
    cases: tuple[Case, ...] = CASES,
) -> dict[str, Any]:
    """Every case x layer x tenant, `rounds` times, interleaved so that drift shows as spread."""
    resolved: dict[tuple[str, str], Resolved] = {}
    out: dict[str, Any] = {}
    for tenant in tenants:
        out[tenant.label] = {}
        for case in cases:
            r = resolve(env.raw, case, tenant, anchor)
            resolved[(tenant.label, case.name)] = r
            agree = agreement(r, answers(r, env))
            out[tenant.label][case.name] = {
                "title": case.title, "setup": r.describe(), "page": r.page, "limit": case.limit,
                "params": r.params, "window_rows": r.total, "agreement": agree,
                "layers": {layer: {"rounds": [], "cpu": []} for layer in LAYERS},
            }
            if not agree["all_agree"]:
                progress(f"  WARNING {tenant.label}/{case.name}: layers disagree: {agree['differences']}")
    samples: dict[tuple[str, str, str], list[float]] = {}
    for rnd in range(rounds):
        t0 = time.monotonic()
        for tenant in tenants:
            for case in cases:
                r = resolved[(tenant.label, case.name)]
                calls = layer_calls(r, env)
                order = LAYERS[rnd % len(LAYERS):] + LAYERS[:rnd % len(LAYERS)]  # rotate layer order per round
                for layer in order:
                    s, cpu_used = measure_layer(layer, calls[layer], env, requests,
                                              warmup * 4 if rnd == 0 else warmup, max_series_s, cpu)
                    entry = out[tenant.label][case.name]["layers"][layer]
                    entry["rounds"].append(summary(s))
                    entry["cpu"].append(cpu_used)
                    samples.setdefault((tenant.label, case.name, layer), []).extend(s)
        progress(f"  round {rnd + 1}/{rounds} done in {time.monotonic() - t0:.0f} s")
    for (label, case_name, layer), s in samples.items():
        entry = out[label][case_name]["layers"][layer]
        entry["pooled"] = summary(s)
        entry["p50_rounds"] = spread([x["p50"] for x in entry["rounds"]])
        entry["cpu_us_per_request"] = aggregate_us(entry["cpu"])
    return {"by_tenant": out, "resolved": resolved}


# ---------------------------------------------------------------------------------------
# Concurrency: 4 clients at once through the gateway


async def _concurrent(url: str, r: Resolved, n: int, workers: int, warmup: int, max_s: float):
    headers = {"authorization": f"Bearer {r.tenant.key}"}
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        if r.case.kind == "list":
            async def call():
                _check(await client.get(PATH, params=r.params, headers=headers))
        else:
            bodies = [details_body(ids) for ids in r.id_sets]
            counter = itertools.count()
            post_headers = {**headers, **JSON}

            async def call():
                body = bodies[next(counter) % len(bodies)]
                _check(await client.post(PATH, params=r.params, content=body, headers=post_headers))
        return await arun_concurrent(call, n, workers, warmup, max_s)


def run_concurrency(
    env: Env, targets: list[tuple[str, Resolved]], *, workers: int, rounds: int, requests: int, warmup: int,
    max_s: float, cpu: CpuMeter,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in targets:
        rows = []
        for _ in range(rounds):
            before = cpu.snapshot()
            s, wall = env.loop.run_until_complete(_concurrent(env.gateway_url, r, requests, workers, warmup, max_s))
            after = cpu.snapshot()
            rows.append({**summary(s), "req_per_s": round(len(s) / wall, 1),
                         "cpu_s": CpuMeter.delta(before, after), "calls": len(s) + warmup})
        out[name] = {"title": r.case.title, "tenant": r.tenant.label, "rounds": rows,
                     "cpu_us_per_request": aggregate_us(rows),
                     "req_per_s": spread([x["req_per_s"] for x in rows]),
                     "p50": spread([x["p50"] for x in rows])}
    return out


# ---------------------------------------------------------------------------------------
# EXPLAIN (ANALYZE, BUFFERS) of what the service really sends


_KEY = re.compile(r"(Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan|Seq Scan|Sort|Limit|Aggregate|"
                  r"WindowAgg|Nested Loop|Hash Join|Execution Time|Planning Time|Heap Fetches|Buffers)")


def explain_service(env: Env, targets: list[Resolved]) -> list[dict[str, Any]]:
    """Captures the statements `queries.py` sends for each target and EXPLAINs each (warm)."""
    captured: list[tuple[str, str, Any]] = []
    current = {"label": ""}

    def listener(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SET TRANSACTION"):
            captured.append((current["label"], statement, parameters))

    event.listen(env.engine.sync_engine, "before_cursor_execute", listener)
    try:
        for r in targets:
            current["label"] = r.case.name
            if r.case.kind == "list":
                env.loop.run_until_complete(env.service_list(r))
            else:
                env.loop.run_until_complete(env.service_details(r, r.id_sets[0]))
    finally:
        event.remove(env.engine.sync_engine, "before_cursor_execute", listener)
    plans = []
    for label, statement, parameters in captured:
        plans.append(_explain(env.raw, label, "service", statement, parameters))
    # The raw SQL variants of the deepest 90-day case, for contrast.
    for r in targets:
        if r.case.kind == "list" and r.case.deep and r.custom is not None and r.case.purchased is None:
            lo, hi = r.window()
            p = {**_base(r), "lo": lo, "hi": hi, "limit": r.case.limit, "off": (r.page - 1) * r.case.limit}
            where = "account_id = %(a)s AND livemode = %(l)s AND started_at >= %(lo)s AND started_at < %(hi)s"
            plans.append(_explain(env.raw, r.case.name, "raw_naive",
                                  "SELECT started_at, id, is_purchase, insider_id, purchased_insider_id FROM instances "
                                  f"WHERE {where} ORDER BY started_at DESC, id LIMIT %(limit)s OFFSET %(off)s", p))
            plans.append(_explain(env.raw, r.case.name, "raw_naive",
                                  f"SELECT count(*) FROM instances WHERE {where}", p))
            sql, params = best_list_sql(r, lo, hi)
            plans.append(_explain(env.raw, r.case.name, "raw_best", sql, params))
    return plans


def _explain(conn: psycopg.Connection, label: str, source: str, statement: str, parameters: Any) -> dict[str, Any]:
    text = ""
    for _ in range(2):  # the second run is the warm one
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
        text = "\n".join(row[0] for row in rows)
    key = [line for line in text.splitlines() if _KEY.search(line)]
    exec_ms = re.search(r"Execution Time: ([\d.]+) ms", text)
    indexes = sorted(set(re.findall(r"using (\w+) on", text)) | set(re.findall(r"Bitmap Index Scan on (\w+)", text)))
    seq = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
    return {
        "case": label, "source": source, "sql": " ".join(statement.split()), "plan": text, "key_lines": key,
        "execution_ms": float(exec_ms.group(1)) if exec_ms else None, "indexes": indexes, "seq_scans": seq,
    }
