"""The export file writers: CSV, JSON Lines, XLSX and Parquet (docs/exports.md, "Formats").

Each writer takes the rows as an iterator and writes them as they come, so memory does
not grow with the number of rows: CSV and JSON Lines line by line, XLSX through
openpyxl's write-only mode (rows go to a temporary sheet file), Parquet in row groups
of `PARQUET_ROW_GROUP` rows. `progress(n)` is called after every `PROGRESS_EVERY` rows
and at the end with the rows written so far.

Cell values by column kind (platform_core/export_sources.py):

| kind | CSV, XLSX | JSON Lines | Parquet |
| --- | --- | --- | --- |
| string | text (a UUID as its canonical text) | string | string |
| integer | number | number | int64 |
| decimal | exact decimal text / number | string (exact) | decimal128(18, 2) |
| boolean | true / false | true / false | bool |
| timestamp | RFC 3339 UTC text, microseconds | same text | timestamp[us, UTC] |
| json | JSON text | nested value | JSON text |

An empty value (NULL) is an empty CSV cell, an empty XLSX cell, `null` in JSON Lines
and a null in Parquet. Text that a spreadsheet would run as a formula is prefixed with
`'` in CSV and XLSX (OWASP CSV injection), never in JSON Lines or Parquet.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import pathlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from platform_core.export_sources import Column

FORMATS = ("csv", "jsonl", "xlsx", "parquet")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
PARQUET_ROW_GROUP = 10_000
# The most records a format holds: an XLSX sheet has 1,048,576 rows, the first of them the
# header (openpyxl's write-only mode does not stop there; Excel would refuse the file).
MAX_ROWS = {"xlsx": 1_048_575}
PROGRESS_EVERY = 5_000
# Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection); the
# voucher family's exports use the same guard (services/voucher/exports.py).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int], None]


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return utc_text(value)
    raise TypeError(type(value).__name__)


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def plain(kind: str, value: Any) -> Any:
    """A value as JSON Lines writes it (None stays None)."""
    if value is None:
        return None
    if kind == "string":
        return str(value)
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return str(value)
    if kind == "boolean":
        return bool(value)
    if kind == "timestamp":
        return utc_text(value)
    return value  # json: the nested value itself


def cell(kind: str, value: Any) -> Any:
    """A value as a CSV or XLSX cell (None: an empty cell)."""
    if value is None:
        return None
    if kind == "json":
        return json_text(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "decimal":
        return str(value)
    if kind == "integer":
        return int(value)
    if kind == "timestamp":
        return utc_text(value)
    return neutralise(str(value))


def _counted(rows: Iterable[Sequence[Any]], progress: Progress | None) -> Iterable[Sequence[Any]]:
    count = 0
    for row in rows:
        yield row
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)


def write_csv(path: pathlib.Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    kinds = [c.kind for c in columns]
    # A byte-order mark so that spreadsheet tools read UTF-8 correctly.
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.name for c in columns])
        for row in rows:
            writer.writerow(["" if v is None else cell(k, v) for k, v in zip(kinds, row)])
            count += 1
    return count


def write_jsonl(path: pathlib.Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    names = [c.name for c in columns]
    kinds = [c.kind for c in columns]
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json_text({n: plain(k, v) for n, k, v in zip(names, kinds, row)}) + "\n")
            count += 1
    return count


class TooManyRows(ValueError):
    """More rows than the format holds (MAX_ROWS)."""


def row_limit(fmt: str, max_records: int) -> int:
    """The most records an export in `fmt` may hold: the service's limit or the format's."""
    return min(max_records, MAX_ROWS.get(fmt, max_records))


def write_xlsx(path: pathlib.Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    count = 0
    limit = MAX_ROWS["xlsx"]
    kinds = [c.kind for c in columns]
    # write_only streams rows to disk; text cells are typed strings so nothing is a formula.
    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append([c.name for c in columns])
    for row in rows:
        if count == limit:  # rows added after the job was counted: never a sheet Excel refuses
            sheet.close()  # ends openpyxl's row stream (its temporary file goes at exit, as on any failure)
            raise TooManyRows(f"an XLSX sheet holds at most {limit} records")
        cells = []
        for kind, value in zip(kinds, row):
            item = WriteOnlyCell(sheet, value=cell(kind, value))
            if isinstance(item.value, str):
                item.data_type = "s"
            cells.append(item)
        sheet.append(cells)
        count += 1
    book.save(path)
    return count


def _arrow_type(kind: str):
    import pyarrow as pa

    return {
        "string": pa.string(), "integer": pa.int64(), "decimal": pa.decimal128(18, 2), "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"), "json": pa.string(),
    }[kind]


def _arrow_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "string":
        return str(value)
    if kind == "json":
        return json_text(value)
    if kind == "decimal":
        return decimal.Decimal(value).quantize(decimal.Decimal("0.01"))
    return value


def write_parquet(path: pathlib.Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c.name, _arrow_type(c.kind)) for c in columns])
    kinds = [c.kind for c in columns]
    count = 0
    group: list[list[Any]] = [[] for _ in columns]

    def flush(writer) -> None:
        arrays = [pa.array(values, type=field.type) for values, field in zip(group, schema)]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        for values in group:
            values.clear()

    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for row in rows:
            for values, kind, value in zip(group, kinds, row):
                values.append(_arrow_value(kind, value))
            count += 1
            if count % PARQUET_ROW_GROUP == 0:
                flush(writer)
        if count % PARQUET_ROW_GROUP or count == 0:
            flush(writer)
    return count


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "xlsx": write_xlsx, "parquet": write_parquet}


def write_file(fmt: str, path: pathlib.Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]],
               progress: Progress | None = None) -> int:
    """Writes `rows` to `path` in `fmt`, streaming; returns how many it wrote."""
    count = WRITERS[fmt](path, columns, _counted(rows, progress))
    if progress is not None:
        progress(count)
    return count
