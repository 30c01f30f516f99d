"""Ingestion benchmark: BatchCreateEvents over gRPC vs COPY of the same rows.

The same records (built once, before any timing) are written by each variant into a
fresh account, so every variant inserts the same number of rows into the same tables
with the same indexes, foreign keys and the millions of rows already there:

* ``copy``: psycopg ``COPY instances (...) FROM STDIN`` (plus the hourly counts those
  instances need, from one ``INSERT ... SELECT ... GROUP BY``), then ``COPY events (...)
  FROM STDIN`` with ``write_row``, each in one transaction: the baseline;
* ``grpc bB cC``: BatchCreateInstances then BatchCreateEvents to the instance service
  (its own process, the production code path: authentication, rate limit, validation,
  the instances check, ``INSERT ... ON CONFLICT DO NOTHING``, one transaction per
  batch), in batches of B records from C concurrent client tasks.

Rounds interleave the variants, so that the tables' growth and the machine's noise
affect them alike. The events rate is the figure the target is about.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import grpc
import psycopg

from bench.dataset import HOURLY_COUNTS, Tenant
from bench.measure import CpuMeter, spread
from partnerlytics.instance.v1 import instance_ingestion_pb2 as pb
from partnerlytics.instance.v1 import instance_ingestion_pb2_grpc as pb_grpc

EVENTS_PER_INSTANCE = 10
TRACKERS = {
    "page_view": pb.TRACKER_TYPE_PAGE_VIEW,
    "click_tracking": pb.TRACKER_TYPE_CLICK_TRACKING,
    "scroll_tracking": pb.TRACKER_TYPE_SCROLL_TRACKING,
    "time_tracking": pb.TRACKER_TYPE_TIME_TRACKING,
}
NAMES = {"page_view": "page view", "click_tracking": "product click", "scroll_tracking": "scroll",
         "time_tracking": "time on page"}


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # "copy" or "grpc"
    batch: int = 0
    concurrency: int = 1


VARIANTS = (
    Variant("copy", "copy"),
    Variant("grpc b1000 c1", "grpc", 1000, 1),
    Variant("grpc b5000 c1", "grpc", 5000, 1),
    Variant("grpc b1000 c4", "grpc", 1000, 4),
    Variant("grpc b5000 c2", "grpc", 5000, 2),
)


def _ts(moment: dt.datetime):
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromDatetime(moment.astimezone(dt.timezone.utc).replace(tzinfo=None))
    return t


def _metadata(kind: str, rng: random.Random, product: str) -> dict[str, Any]:
    if kind == "page_view":
        return {"url": f"https://shop.example.com/p/{product}?utm_source=insider&utm_medium=share_link",
                "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                              "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                "referrer": rng.choice(["https://www.instagram.com/", "https://t.co/", "direct"]),
                "country": rng.choice(["US", "GB", "DE", "FR"])}
    if kind == "click_tracking":
        return {"product_id": product, "price": round(rng.uniform(5, 200), 2), "element": "add-to-cart"}
    if kind == "scroll_tracking":
        return {"scroll_depth": float(rng.randint(5, 100)), "max_scroll": 100.0,
                "page_height": float(rng.randint(2400, 5400)), "viewport_height": 844.0,
                "scroll_speed": rng.choice(["slow", "medium", "fast"])}
    return {"time_spent": round(rng.uniform(5, 600), 1), "active_time": round(rng.uniform(0, 300), 1),
            "idle_time": round(rng.uniform(0, 120), 1), "session_duration": round(rng.uniform(30, 900), 1),
            "engagement_score": round(rng.random(), 2)}


@dataclass
class Records:
    instances: list[pb.InstanceRecord]
    events: list[pb.EventRecord]
    copy_instances: list[tuple]
    copy_events: list[tuple]


def build_records(n_events: int, now: dt.datetime, seed: int = 7) -> Records:
    """n_events events of n_events/10 instances started over the last 6 days."""
    rng = random.Random(seed)
    n_instances = max(1, n_events // EVENTS_PER_INSTANCE)
    campaigns = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(24)]
    insiders = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(500)]
    out = Records([], [], [], [])
    oldest = now - dt.timedelta(days=6)
    starts = sorted(oldest + dt.timedelta(seconds=rng.random() * 6 * 86400 - 3600) for _ in range(n_instances))
    for started in starts:
        iid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        campaign, insider = rng.choice(campaigns), rng.choice(insiders)
        out.instances.append(
            pb.InstanceRecord(id=iid, campaign_id=campaign, insider_id=insider, timestamp=_ts(started)))
        out.copy_instances.append((uuid.UUID(iid), uuid.UUID(campaign), uuid.UUID(insider), started))
    for k in range(n_events):
        inst = out.copy_instances[k % n_instances]
        step = dt.timedelta(seconds=(k // n_instances + 1) * rng.uniform(15, 105))
        at = min(inst[3] + step, now - dt.timedelta(seconds=1))
        kind = "page_view" if k < n_instances else rng.choice(list(TRACKERS))
        product = f"prod_{rng.randint(0, 399):03d}"
        meta = _metadata(kind, rng, product)
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ref = f"ref_{rng.getrandbits(64):016x}" if rng.random() < 0.3 else None
        record = pb.EventRecord(id=eid, instance_id=str(inst[0]), name=NAMES[kind], tracker_type=TRACKERS[kind],
                                created_at=_ts(at))
        if ref is not None:
            record.reference_id = ref
        record.metadata.update(meta)
        out.events.append(record)
        out.copy_events.append((uuid.UUID(eid), inst[0], NAMES[kind], kind, ref, at, at, json.dumps(meta)))
    return out


def copy_once(conn: psycopg.Connection, account_id: uuid.UUID, records: Records) -> dict[str, float]:
    """COPY the instances (and their hourly counts), commit; COPY the events, commit."""
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(
            "COPY instances (account_id, livemode, id, campaign_id, insider_id, started_at) FROM STDIN"
        ) as cp:
            for row in records.copy_instances:
                cp.write_row((account_id, False, *row))
        cur.execute(HOURLY_COUNTS, {"a": account_id, "l": False})
    conn.commit()
    t_instances = time.perf_counter() - t0
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(
            "COPY events (account_id, livemode, id, instance_id, name, tracker_type, reference_id, created_at, "
            "updated_at, metadata) FROM STDIN"
        ) as cp:
            for row in records.copy_events:
                cp.write_row((account_id, False, *row))
    conn.commit()
    t_events = time.perf_counter() - t0
    return {"instances_s": t_instances, "events_s": t_events}


async def _send(batches: list[Any], call: Callable, md, concurrency: int, deadline: float) -> int:
    it = iter(batches)
    created = [0]

    async def worker() -> None:
        for request in it:
            if time.monotonic() > deadline:
                raise TimeoutError("ingestion exceeded its time budget")
            result = await call(request, metadata=md, timeout=300)
            created[0] += result.created_count

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created[0]


async def grpc_once(
    port: int, key: str, instance_batches, event_batches, concurrency: int, max_s: float
) -> dict[str, float]:
    md = (("authorization", f"Bearer {key}"),)
    size = 64 * 1024 * 1024
    options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
    deadline = time.monotonic() + max_s
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = pb_grpc.InstanceIngestionServiceStub(channel)
        t0 = time.perf_counter()
        n_inst = await _send(instance_batches, stub.BatchCreateInstances, md, concurrency, deadline)
        t_instances = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_events = await _send(event_batches, stub.BatchCreateEvents, md, concurrency, deadline)
        t_events = time.perf_counter() - t0
    return {"instances_s": t_instances, "events_s": t_events, "instances_created": n_inst, "events_created": n_events}


def run_ingest(
    loop: asyncio.AbstractEventLoop,
    url: str,
    grpc_port: int,
    new_tenant: Callable[[str], Tenant],
    *,
    n_events: int,
    rounds: int,
    max_variant_s: float,
    cpu: CpuMeter,
    progress: Callable[[str], None],
    variants: tuple[Variant, ...] = VARIANTS,
) -> dict[str, Any]:
    t0 = time.monotonic()
    records = build_records(n_events, dt.datetime.now(dt.timezone.utc))
    build_s = time.monotonic() - t0
    batches: dict[int, tuple[list, list]] = {}
    for v in variants:
        if v.kind == "grpc" and v.batch not in batches:
            batches[v.batch] = (
                [pb.BatchCreateInstancesRequest(instances=records.instances[i:i + v.batch])
                 for i in range(0, len(records.instances), v.batch)],
                [pb.BatchCreateEventsRequest(events=records.events[i:i + v.batch])
                 for i in range(0, len(records.events), v.batch)],
            )
    progress(f"  built {len(records.events):,} events of {len(records.instances):,} instances in {build_s:.1f} s")
    out: dict[str, Any] = {v.name: {"rounds": []} for v in variants}
    for rnd in range(rounds):
        for v in variants:
            tenant = new_tenant(f"ingest {v.name} r{rnd + 1}")
            if v.kind == "copy":
                with psycopg.connect(url, options="-c jit=off") as conn:
                    before = cpu.snapshot()
                    res = copy_once(conn, tenant.account_id, records)
                    after = cpu.snapshot()  # before the backend exits with the connection
                res.update(instances_created=len(records.instances), events_created=len(records.events))
            else:
                inst_b, ev_b = batches[v.batch]
                before = cpu.snapshot()
                res = loop.run_until_complete(
                    grpc_once(grpc_port, tenant.key, inst_b, ev_b, v.concurrency, max_variant_s))
                after = cpu.snapshot()
            cpu_s = {k: round(after[k] - before[k], 2) for k in before}
            res.update(
                events_per_s=round(len(records.events) / res["events_s"]),
                instances_per_s=round(len(records.instances) / res["instances_s"]),
                cpu_s=cpu_s,
            )
            if res["events_created"] != len(records.events) or res["instances_created"] != len(records.instances):
                raise RuntimeError(f"{v.name}: created {res['events_created']} events / {res['instances_created']} "
                                   f"instances, expected {len(records.events)} / {len(records.instances)}")
            out[v.name]["rounds"].append(res)
            progress(f"  round {rnd + 1} {v.name}: {res['events_per_s']:,} events/s, "
                     f"{res['instances_per_s']:,} instances/s")
    for v in variants:
        rows = out[v.name]["rounds"]
        out[v.name].update(
            kind=v.kind, batch=v.batch, concurrency=v.concurrency,
            events_per_s=spread([r["events_per_s"] for r in rows]),
            instances_per_s=spread([r["instances_per_s"] for r in rows]),
        )
    return {"n_events": len(records.events), "n_instances": len(records.instances), "variants": out,
            "build_records_s": round(build_s, 1)}
