"""The list query's count-and-seek over hourly counts equals naive OFFSET and count(*)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from sqlalchemy import text

from platform_core.accounts import Principal
from platform_core.paging import PageRequest, Window
from services.instance import queries
from tests.support import factories as f


def _moment(micros: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)


async def naive(session, who, window, is_purchase, page):
    where = "account_id = :a AND livemode = :l AND started_at >= :lo AND started_at < :hi"
    params = {"a": who.account_id, "l": who.livemode, "lo": window.start, "hi": window.end}
    if is_purchase is not None:
        where += " AND is_purchase = :p"
        params["p"] = is_purchase
    total = (await session.execute(text(f"SELECT count(*) FROM instances WHERE {where}"), params)).scalar_one()
    rows = await session.execute(
        text(f"SELECT started_at, id FROM instances WHERE {where} ORDER BY started_at DESC, id LIMIT :n OFFSET :o"),
        {**params, "n": page.limit, "o": page.offset},
    )
    return [(r.started_at, r.id) for r in rows], total


async def test_seek_matches_naive_offset_on_random_windows_and_pages(channel, make_tenant, deps):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    ingest = f.Ingest(channel, tenant.test_key)
    moments = f.spread(2500, now - dt.timedelta(days=6), now, seed=7)
    records = [f.instance(m) for m in moments]
    for start in range(0, len(records), 1000):
        await ingest.instances(records[start:start + 1000])
    purchased = records[::4]
    await ingest.orders([f.order(r.id, r.insider_id, now) for r in purchased])
    who = Principal(tenant.account_id, tenant.account_id, "test", frozenset())
    rng = random.Random(11)
    checked = 0
    for _ in range(150):
        a = now - dt.timedelta(seconds=rng.randint(0, 7 * 86400))
        b = now - dt.timedelta(seconds=rng.randint(0, 7 * 86400))
        if rng.random() < 0.2:  # hour-aligned edges
            a = a.replace(minute=0, second=0, microsecond=0)
        window = Window(min(a, b), max(a, b) + dt.timedelta(seconds=rng.choice([0, 1, 3600])))
        is_purchase = rng.choice([None, True, False])
        page = PageRequest(rng.choice([1, 1, 2, 5, 17, 60, 400]), rng.choice([1, 7, 20, 100]))
        async with deps.reader() as conn:
            rows, total = await queries.list_instances(conn, who, window, is_purchase, page)
        async with deps.sessions() as session:
            expected_rows, expected_total = await naive(session, who, window, is_purchase, page)
        assert total == expected_total, (window, is_purchase, page)
        assert [(_moment(r.timestamp_us), uuid.UUID(r.instance_id)) for r in rows] == expected_rows, (window, is_purchase, page)
        checked += bool(expected_rows)
    assert checked > 50  # most cases returned rows, so the comparison had teeth
