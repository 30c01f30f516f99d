"""Data exports: the voucher family's documented export queue, its file writers and its worker.

The queue is the platform's (platform_core/export_queue.py: the two-step claim under a
lease renewed while the file is written, the rename into place on completion, the
expiry sweep) over this family's own table, `voucher_exports`: a request inserts a
`processing` row (`create_export`), a worker builds its file from the voucher's daily
rows (`build_file`). Completed files expire after 24 hours and are deleted.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import pathlib
import secrets
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from platform_core.accounts import Principal
# The spreadsheet formula guard, shared with the export service's writers.
from platform_core.export_files import neutralise
from platform_core.export_queue import Progress, QueuedJob, QueueTable, QueueWorker, fetch_batches
from services.voucher import queries
from services.voucher.config import VoucherSettings
from services.voucher.periods import Period

FORMATS = ("csv", "json", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def new_export_id() -> str:
    return "export_" + secrets.token_hex(8)


def human_size(size: int) -> str:
    """`file_size` as the document shows it ("2.5MB"), in binary units."""
    if size < 1024:
        return f"{size}B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f}KB"
    return f"{size / (1024 * 1024):.1f}MB"


# --------------------------------------------------------------------------- the rows


@dataclass
class ExportJob(QueuedJob):
    """A `voucher_exports` row: the queue's columns (platform_core/export_queue.py) and the request's."""

    voucher_ids: list[str]
    metrics: list[str]
    period_start: dt.date
    period_end: dt.date
    record_count: int
    estimated_completion: dt.datetime

    @property
    def period(self) -> Period:
        return Period(self.period_start, self.period_end)


# `processing` from the request on (the document shows no queued state); a completion
# sets `record_count`; times in whole seconds, as the document shows them.
QUEUE = QueueTable(name="voucher_exports", job=ExportJob, whole_seconds=True)


def estimate(now: dt.datetime, records: int) -> dt.datetime:
    """A generous guess: a few seconds, plus one per 20,000 records."""
    return (now + dt.timedelta(seconds=5 + records // 20_000)).replace(microsecond=0)


async def create_export(
    session: AsyncSession, who: Principal, *, voucher_ids: list[str], metrics: list[str], fmt: str,
    period: Period, now: dt.datetime,
) -> ExportJob:
    row = (await session.execute(
        text(
            "INSERT INTO voucher_exports (account_id, livemode, id, status, format, voucher_ids, metrics, "
            "period_start, period_end, record_count, created_at, estimated_completion) "
            "VALUES (:a, :l, :id, 'processing', :f, :v, :m, :ps, :pe, :n, :now, :eta) "
            f"RETURNING {', '.join(QUEUE.columns)}"
        ),
        {"a": who.account_id, "l": who.livemode, "id": new_export_id(), "f": fmt, "v": voucher_ids, "m": metrics,
         "ps": period.first_day, "pe": period.last_day, "n": len(voucher_ids) * period.days, "now": now,
         "eta": estimate(now, len(voucher_ids) * period.days)},
    )).one()
    await session.commit()  # acknowledged only once the job is durable
    return QUEUE.job_of(row)


async def get_export(conn: AsyncConnection, who: Principal, export_id: str) -> ExportJob | None:
    return await QUEUE.get(conn, who, export_id)


# --------------------------------------------------------------------------- the files

_EXPORT_ROWS = """
WITH ids AS (
    SELECT id, ord FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS x(id, ord)
), days AS (
    SELECT d::date AS day FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
), t AS (
    SELECT voucher_id, day, uses, discount, gross, validations
    FROM voucher_daily
    WHERE account_id = %(a)s AND livemode = %(l)s AND voucher_id = ANY(%(ids)s::text[])
      AND day >= %(first)s AND day <= %(last)s
), c AS (
    -- Distinct customers do not add up across days: counted from the rows, when asked for.
    SELECT voucher_id, (redeemed_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT customer_id) AS customers
    FROM voucher_redemptions
    WHERE %(with_customers)s AND account_id = %(a)s AND livemode = %(l)s AND voucher_id = ANY(%(ids)s::text[])
      AND redeemed_at >= %(s)s AND redeemed_at < %(e)s
    GROUP BY 1, 2
)
SELECT ids.id, vo.code, days.day, coalesce(t.uses, 0), coalesce(t.discount, 0), coalesce(t.gross, 0),
       coalesce(c.customers, 0), coalesce(t.validations, 0)
FROM ids
JOIN vouchers vo ON vo.account_id = %(a)s AND vo.livemode = %(l)s AND vo.id = ids.id
CROSS JOIN days
LEFT JOIN t ON t.voucher_id = ids.id AND t.day = days.day
LEFT JOIN c ON c.voucher_id = ids.id AND c.day = days.day
ORDER BY ids.ord, days.day
"""


def metric_values(metrics: list[str], uses: int, discount: int, gross: int, customers: int, validations: int) -> list:
    """The requested metrics of one voucher-day, by the API's definitions."""
    values = {
        "uses": uses,
        "discount": discount,
        "orders": validations,
        "conversion_rate": queries.fraction(uses, validations),
        "avg_order_value": queries.average(gross, uses),
        "revenue_impact": gross - discount,
        "unique_customers": customers,
    }
    return [values[m] for m in metrics]


def export_rows(conninfo: str, job: ExportJob, settings: VoucherSettings, stop: threading.Event) -> Iterator[list]:
    """The file's rows (voucher_id, code, date, metrics...), streamed from a server-side cursor."""
    period = job.period
    batches = fetch_batches(conninfo, job, _EXPORT_ROWS, {
        "ids": job.voucher_ids, "first": period.first_day, "last": period.last_day, "a": job.account_id,
        "l": job.livemode, "s": period.start, "e": period.end, "with_customers": "unique_customers" in job.metrics,
    }, settings, stop)
    for rows in batches:
        for voucher_id, code, day, uses, discount, gross, customers, validations in rows:
            yield [voucher_id, code, day.isoformat(),
                   *metric_values(job.metrics, int(uses), int(discount), int(gross), customers, int(validations))]


def write_file(fmt: str, path: pathlib.Path, job: ExportJob, rows: Iterable[list]) -> int:
    """Writes the rows in `fmt`, streaming (memory does not grow with the rows); returns the count."""
    header = ["voucher_id", "code", "date", *job.metrics]
    count = 0
    if fmt == "csv":
        # A byte-order mark so that spreadsheet tools read UTF-8 codes correctly.
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([neutralise(v) for v in row])
                count += 1
    elif fmt == "json":
        with open(path, "w", encoding="utf-8") as handle:
            head = {"export_id": job.id, "format": "json", "time_period": {
                "start": f"{job.period_start.isoformat()}T00:00:00Z", "end": f"{job.period_end.isoformat()}T23:59:59Z"},
                "metrics": job.metrics}
            handle.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "records": [')
            for row in rows:
                handle.write(("," if count else "") + "\n" + json.dumps(dict(zip(header, row)), ensure_ascii=False))
                count += 1
            handle.write("\n]}\n")
    elif fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        # write_only streams rows to disk; cells are typed strings so nothing is a formula.
        book = Workbook(write_only=True)
        sheet = book.create_sheet("export")
        sheet.append(header)
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=neutralise(value))
                if isinstance(value, str):
                    cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
            count += 1
        book.save(path)
    else:  # pragma: no cover - the format is checked when the export is requested
        raise ValueError(fmt)
    return count


def build_file(
    conninfo: str, job: ExportJob, tmp: pathlib.Path, settings: VoucherSettings, stop: threading.Event
) -> int:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    return write_file(job.format, tmp, job, export_rows(conninfo, job, settings, stop))


class ExportWorker(QueueWorker):
    """Claims voucher export jobs and builds their files, one at a time (no events)."""

    table = QUEUE
    log = logging.getLogger("services.voucher.exports")

    def build(self, job: ExportJob, tmp: pathlib.Path, stop: threading.Event, progress: Progress) -> int:
        return build_file(self._conninfo, job, tmp, self._settings, stop)
