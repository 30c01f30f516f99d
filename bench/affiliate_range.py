"""Long affiliate ranges: `stats` and `charts` over 10 years of daily rollups.

`python -m bench.affiliate_range` (`.venv/bin/python -m bench.affiliate_range`). The
affiliate document bounds `from`/`to` only by from <= to <= today, and the service serves
any such range (docs/architecture.md, "Affiliate analytics: decisions", "Parameters").
This measures what a long one costs: one account with `affiliate_daily_counts` rows on
every day of the last 10 years (the `total` row and the labels of every dimension a
shop of this size has each day), then `stats` and `charts` over 30 days, 1 year and 10
years, through the real gateway (Envoy, the transcoder, the service) and as the
service's statements run directly (psycopg, one autocommit connection).

Embedded PostgreSQL in DATA_DIR (default .data/bench-affiliate-range, made fresh) unless
DATABASE_URL is set (then a database `partnerlytics_range` on that server, dropped and
re-created). Figures: docs/performance-affiliate.md, "Long ranges".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import time

import httpx

from bench.affiliate import PREAGG, RATE_LIMIT, _params
from bench.dataset import connect, create_account, open_database
from bench.measure import run_series, summary
from stack.run import ROOT, SERVICES, Stack, free_port, migrate

YEARS = 10
WINDOWS = {"30 days": 30, "1 year": 366, "10 years": 3653}
# The longest range a `charts` answer with daily series may have (MAX_SERIES_DAYS): data
# on every one of its days.
LONGEST = {"20 years": 7305}
# Labels per day of each dimension: a shop with a few affiliates and products.
LABELS = {"device": 3, "country": 12, "browser": 6, "os": 5, "source": 4, "page": 60, "code": 8, "product": 24}

_TOTAL = """
INSERT INTO affiliate_daily_counts (account_id, livemode, dimension, day, label, clicks, pageviews, visitors,
  product_views, add_to_carts, remove_from_carts, thank_you_views, conversions, revenue, commission)
SELECT %(a)s, false, 'total', d::date, '', 300 + (random() * 200)::int, 900 + (random() * 300)::int,
       400 + (random() * 100)::int, 200 + (random() * 50)::int, 40 + (random() * 10)::int, (random() * 10)::int,
       20 + (random() * 5)::int, 10 + (random() * 5)::int, round((1000 + random() * 500)::numeric, 2),
       round((100 + random() * 50)::numeric, 2)
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
"""

_LABELLED = """
INSERT INTO affiliate_daily_counts (account_id, livemode, dimension, day, label, clicks, pageviews,
  product_views, add_to_carts, conversions, revenue, commission)
SELECT %(a)s, false, %(dim)s::text, d::date, %(dim)s::text || '_' || n, (random() * 40)::int, (random() * 90)::int,
       (random() * 20)::int, (random() * 5)::int, (random() * 2)::int, round((random() * 100)::numeric, 2),
       round((random() * 10)::numeric, 2)
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d, generate_series(1, %(n)s) AS n
"""


def load(url: str, account_id, today: dt.date) -> dict[str, float | int]:
    first = today - dt.timedelta(days=WINDOWS["10 years"] * 2)  # trends compare with the period before
    started = time.perf_counter()
    with connect(url) as conn:
        conn.execute(_TOTAL, {"a": account_id, "first": first, "last": today})
        for dim, n in LABELS.items():
            conn.execute(_LABELLED, {"a": account_id, "dim": dim, "n": n, "first": first, "last": today})
        conn.execute("VACUUM ANALYZE affiliate_daily_counts")
        rows = conn.execute("SELECT count(*) FROM affiliate_daily_counts WHERE account_id = %s",
                            (account_id,)).fetchone()[0]
    return {"rows": rows, "days": (today - first).days + 1, "load_s": round(time.perf_counter() - started, 1)}


def measure(gateway_url: str, url: str, account_id, key: str, requests: int) -> dict[str, dict]:
    today = dt.datetime.now(dt.timezone.utc).date()
    out: dict[str, dict] = {}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway_url, timeout=60) as http, connect(url) as conn:
        for window, days in {**WINDOWS, **LONGEST}.items():
            params = _params(account_id, days, today)
            for section in ("stats", "charts"):
                query = {"section": section, "from": str(params["first"]), "to": str(params["last"])}
                size = 0

                def gateway() -> None:
                    nonlocal size
                    response = http.get("/v1/affiliate/analytics", params=query, headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:300]}")
                    size = len(response.content)

                def preagg() -> None:
                    for statement in PREAGG[section]:
                        conn.execute(statement, params).fetchall()

                n = requests if window in WINDOWS else max(5, requests // 10)
                g = summary(run_series(gateway, n, 1, 120))
                s = summary(run_series(preagg, n, 1, 120))
                out[f"{section}/{window}"] = {"gateway": g, "preagg_sql": s, "response_bytes": size}
                print(f"  {section:6} {window:8}: gateway p50 {g['p50']:.2f} ms (p95 {g['p95']:.2f}), "
                      f"SQL p50 {s['p50']:.2f} ms, {size:,} bytes", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "50")))
    args = parser.parse_args()
    data_dir = pathlib.Path(os.environ.get("DATA_DIR") or ROOT / ".data" / "bench-affiliate-range").resolve()
    db = open_database(data_dir, fresh=True, name="partnerlytics_range")
    stack = None
    try:
        migrate(db.url)
        loop = asyncio.new_event_loop()
        account_id, key = create_account(loop, db.url, "ten years of affiliate data")
        loop.close()
        today = dt.datetime.now(dt.timezone.utc).date()
        data = load(db.url, account_id, today)
        print(f"data: {data['rows']:,} rows of affiliate_daily_counts over {data['days']:,} days "
              f"({data['load_s']} s)", flush=True)
        stack = Stack(data_dir=data_dir / "stack", gateway_port=free_port(), admin_port=free_port(),
                      service_ports={s.name: [free_port()] for s in SERVICES}, database_url=db.url,
                      extra_env={"RATE_LIMITS": RATE_LIMIT, "RATE_LIMIT_STORE": "memory",
                                 "VOUCHER_EXPORT_WORKERS": "0", "LOG_LEVEL": "WARNING"},
                      log_dir=data_dir / "logs")
        stack.start_services()
        stack.start_gateway()
        results = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                   "data": data, "requests": args.requests,
                   "reads": measure(stack.gateway_url, db.url, account_id, key, args.requests)}
        out = ROOT / "bench" / "results" / "affiliate-range.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written: {out.relative_to(ROOT)}")
    finally:
        if stack is not None:
            stack.stop()
        db.stop()


if __name__ == "__main__":
    main()
