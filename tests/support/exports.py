"""What the export tests share (tests/exports/): a whole stack on a database of its own,
creating an export and waiting for it, and reading a downloaded file back into rows of
one canonical form whatever its format (csv, json, openpyxl, pyarrow)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import datetime as dt
import decimal
import io
import json
from collections.abc import Callable, Iterator

import httpx
import openpyxl
import pyarrow.parquet as pq

from platform_core.export_files import utc_text
from platform_core.roles import DatabaseUrls
from services.exports.sources import SOURCES
from stack.run import Stack, migrate
from tests.conftest import whole_stack
from tests.support.databases import scratch_database


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@contextlib.contextmanager
def stack_of_its_own(database_server: str, data, prefix: str, seed: Callable[[DatabaseUrls], object] | None = None,
                     **env: str) -> Iterator[tuple[DatabaseUrls, Stack]]:
    """The whole stack on a migrated database of its own: the rows a module seeds are
    seen by its export workers and read APIs only, never by the session's. `seed(urls)`,
    if given, loads data in a thread while the services start (they need only the
    schema), and is done before the stack is handed over."""
    with scratch_database(database_server, prefix) as urls:
        migrate(urls.owner)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            seeded = pool.submit(seed, urls) if seed else None
            with whole_stack(urls, data, **env) as stack:
                if seeded:
                    seeded.result()
                yield urls, stack


async def wait_for_export(http: httpx.AsyncClient, key: str, export_id: str) -> dict:
    """Polls the job until it is completed or failed; its percent stays below 100 meanwhile."""
    for _ in range(300):
        response = await http.get(f"/v1/exports/{export_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        job = response.json()["export"]
        if job["status"] in ("completed", "failed"):
            return job
        assert 0 <= job["percent"] < 100
        await asyncio.sleep(0.1)
    raise AssertionError(f"export {export_id} not done")


def canon(kind: str, value):
    """A cell of any format in one form: None for empty, parsed JSON, bool, Decimal, int, text."""
    if value is None or value == "":
        return None
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "boolean":
        return value if isinstance(value, bool) else value == "true"
    if kind == "decimal":
        return decimal.Decimal(str(value))
    if kind == "integer":
        return int(value)
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return utc_text(value)
    if isinstance(value, str) and value.startswith("'="):  # the spreadsheet guard (CSV, XLSX)
        return value[1:]
    return value


def read_rows(fmt: str, content: bytes, source: str) -> list[dict]:
    """A downloaded file's rows as dicts of canonical cells, its header checked against
    the source's columns."""
    columns = SOURCES[source].columns
    if fmt == "csv":
        assert content.startswith(b"\xef\xbb\xbf")
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        header, *rows = list(reader)
    elif fmt == "jsonl":
        lines = [json.loads(line) for line in content.decode().splitlines()]
        header = [c.name for c in columns]
        assert all(list(line) == header for line in lines)
        rows = [[line[name] for name in header] for line in lines]
    elif fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
        header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    else:
        table = pq.read_table(io.BytesIO(content))
        header = table.column_names
        rows = [list(r.values()) for r in table.to_pylist()]
    assert list(header) == [c.name for c in columns]
    if fmt in ("csv", "xlsx"):  # no cell a spreadsheet would run as a formula
        assert not any(isinstance(v, str) and v.startswith("=") for row in rows for v in row)
    return [{c.name: canon(c.kind, v) for c, v in zip(columns, row)} for row in rows]
