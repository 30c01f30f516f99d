"""The export writers' limits (platform_core/export_files.py): an XLSX file never holds
more rows than a sheet does."""

from __future__ import annotations

import openpyxl
import pytest

from platform_core import export_files
from platform_core.export_sources import Column

COLUMNS = [Column("name", "string", "a name"), Column("n", "integer", "a number")]


def test_an_xlsx_export_may_hold_at_most_a_sheets_rows_and_other_formats_the_service_limit():
    assert export_files.row_limit("xlsx", 10_000_000) == 1_048_575  # 1,048,576 rows, one the header
    assert export_files.row_limit("xlsx", 6) == 6
    assert {fmt: export_files.row_limit(fmt, 10_000_000) for fmt in ("csv", "jsonl", "parquet")} == {
        "csv": 10_000_000, "jsonl": 10_000_000, "parquet": 10_000_000}


def test_the_xlsx_writer_writes_a_full_sheet_and_refuses_one_row_more(monkeypatch, tmp_path):
    monkeypatch.setitem(export_files.MAX_ROWS, "xlsx", 2)
    full = tmp_path / "full.xlsx"
    assert export_files.write_file("xlsx", full, COLUMNS, [("a", 1), ("b", 2)]) == 2
    sheet = openpyxl.load_workbook(full, read_only=True)["export"]
    assert [tuple(c.value for c in row) for row in sheet.rows] == [("name", "n"), ("a", 1), ("b", 2)]
    with pytest.raises(export_files.TooManyRows):
        export_files.write_file("xlsx", tmp_path / "over.xlsx", COLUMNS, [("a", 1), ("b", 2), ("c", 3)])
