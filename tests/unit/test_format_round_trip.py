"""Every format read back by an independent reader gives back the values of a dataset of awkward values."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pandas as pd
import pytest

from exports.formats.xlsx_writer import MAX_CELL_CHARS, TRUNCATED
from exports.models import ExportFormat
from tests.support.format_cases import COLUMNS, LONG_TEXT, NAMES, ROWS, utc, write_file

FIRST_EXCEL_SERIAL = datetime(1900, 3, 1)


def by_name(row: list[Any]) -> dict[str, Any]:
    return dict(zip(NAMES, row, strict=True))


def source_rows() -> list[dict[str, Any]]:
    return [by_name(row) for row in ROWS]


class TestCsvReadBack:
    def test_the_csv_module_reads_back_every_value(self) -> None:
        data = write_file(ExportFormat.CSV, cuts=[2])
        assert data.startswith(b"\xef\xbb\xbf")
        header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert header == NAMES
        assert len(rows) == len(ROWS)
        for text_row, source in zip(rows, source_rows(), strict=True):
            read = dict(zip(NAMES, text_row, strict=True))
            assert read["text"] == (source["text"] or "")
            assert read["count"] == ("" if source["count"] is None else str(source["count"]))
            assert (float(read["score"]) if read["score"] else None) == source["score"]
            at = datetime.fromisoformat(read["at"]) if read["at"] else None
            assert at == source["at"]
            assert (date.fromisoformat(read["day"]) if read["day"] else None) == source["day"]
            assert read["ok"] == {True: "true", False: "false", None: ""}[source["ok"]]
            assert (Decimal(read["amount"]) if read["amount"] else None) == (
                None if source["amount"] is None else Decimal(str(source["amount"]))
            )
            assert (float(read["share"]) if read["share"] else None) == source["share"]

    def test_currency_shows_the_patterns_two_decimals(self) -> None:
        rows = list(csv.DictReader(io.StringIO(write_file(ExportFormat.CSV).decode("utf-8-sig"), newline="")))
        assert [row["amount"] for row in rows] == ["1234.50", "-99.99", "", "0.01", "1000000.00", "0.00", "12.34", ""]

    def test_pandas_reads_back_every_value_with_its_type(self) -> None:
        frame = pd.read_csv(
            io.BytesIO(write_file(ExportFormat.CSV, cuts=[1, 3])),
            encoding="utf-8-sig",
            dtype={"text": "string", "count": "Int64", "score": "float64", "ok": "boolean", "amount": "float64"},
            keep_default_na=False,
            na_values={name: [""] for name in NAMES if name != "text"},
            true_values=["true"],
            false_values=["false"],
        )
        assert list(frame.columns) == NAMES
        at = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        for index, source in enumerate(source_rows()):
            assert frame["text"][index] == (source["text"] or "")
            assert _value(frame["count"][index]) == source["count"]
            assert _value(frame["score"][index]) == source["score"]
            assert _value(at[index]) == source["at"]
            assert _value(frame["ok"][index]) == source["ok"]
            amount = source["amount"]
            assert _value(frame["amount"][index]) == (None if amount is None else float(amount))
            assert _value(frame["share"][index]) == source["share"]


def _value(cell: Any) -> Any:
    if cell is pd.NA or cell is pd.NaT or (isinstance(cell, float) and math.isnan(cell)):
        return None
    if isinstance(cell, pd.Timestamp):
        return cell.to_pydatetime()
    return cell.item() if hasattr(cell, "item") else cell


class TestJsonReadBack:
    @pytest.mark.parametrize("fmt", [ExportFormat.JSON, ExportFormat.JSONL])
    def test_json_reads_back_native_values(self, fmt: ExportFormat) -> None:
        data = write_file(fmt, cuts=[1, 2])
        if fmt is ExportFormat.JSON:
            objects = json.loads(data, parse_float=Decimal)
        else:
            objects = [json.loads(line, parse_float=Decimal) for line in data.decode("utf-8").splitlines()]
        assert len(objects) == len(ROWS)
        for read, source in zip(objects, source_rows(), strict=True):
            assert list(read) == NAMES
            assert read["text"] == source["text"]
            assert read["count"] == source["count"]
            assert _float(read["score"]) == source["score"]
            assert (datetime.fromisoformat(read["at"]) if read["at"] else None) == source["at"]
            assert (date.fromisoformat(read["day"]) if read["day"] else None) == source["day"]
            assert read["ok"] is source["ok"]
            assert read["amount"] == (None if source["amount"] is None else Decimal(str(source["amount"])))
            assert _float(read["share"]) == source["share"]

    def test_a_decimal_keeps_its_exact_digits(self) -> None:
        assert b'"amount":1234.50' in write_file(ExportFormat.JSONL)

    def test_datetimes_are_iso_8601_in_utc(self) -> None:
        second = json.loads(write_file(ExportFormat.JSON))[1]
        assert second["at"] == "2024-07-01T08:30:00Z"


def _float(value: Decimal | int | None) -> float | None:
    return None if value is None else float(value)


@pytest.fixture(scope="module")
def sheet() -> Any:
    workbook = openpyxl.load_workbook(io.BytesIO(write_file(ExportFormat.XLSX, cuts=[1, 3])))
    assert workbook.sheetnames == ["Sheet1"]
    return workbook["Sheet1"]


class TestXlsxReadBack:
    def test_openpyxl_reads_back_every_value_with_its_type(self, sheet: Any) -> None:
        rows = list(sheet.iter_rows(min_row=2))
        assert len(rows) == len(ROWS)
        for cells, source in zip(rows, source_rows(), strict=True):
            read = dict(zip(NAMES, cells, strict=True))
            text = source["text"]
            if len(text) > MAX_CELL_CHARS:
                assert read["text"].value == text[: MAX_CELL_CHARS - len(TRUNCATED)] + TRUNCATED
            else:
                assert read["text"].value == text
            count = source["count"]
            # Excel keeps 15 significant digits: a longer integer is text holding every digit.
            too_long = count is not None and len(str(abs(count)).rstrip("0")) > 15
            assert read["count"].value == (str(count) if too_long else count)
            assert read["score"].value == source["score"]
            assert read["ok"].value is source["ok"]
            amount = source["amount"]
            assert read["amount"].value == (None if amount is None else float(amount))
            assert read["share"].value == source["share"]
            at = source["at"]
            if at is None:
                assert read["at"].value is None
            elif utc(at) < FIRST_EXCEL_SERIAL:
                assert read["at"].value == at.isoformat().replace("+00:00", "Z")
            else:
                assert read["at"].value == utc(at)
            day = source["day"]
            if day is None:
                assert read["day"].value is None
            elif day < FIRST_EXCEL_SERIAL.date():
                assert read["day"].value == day.isoformat()
            else:
                assert read["day"].value == datetime.combine(day, datetime.min.time())

    def test_cells_have_the_types_and_number_formats_of_their_columns(self, sheet: Any) -> None:
        first = {name: cell for name, cell in zip(NAMES, next(sheet.iter_rows(min_row=2, max_row=2)), strict=True)}
        assert {name: cell.data_type for name, cell in first.items()} == {
            "text": "s",
            "count": "n",
            "score": "n",
            "at": "d",
            "day": "d",
            "ok": "b",
            "amount": "n",
            "share": "n",
        }
        assert first["at"].number_format == "yyyy-mm-dd hh:mm:ss"
        assert first["day"].number_format == "yyyy-mm-dd"
        assert first["amount"].number_format == "$#,##0.00"
        assert first["share"].number_format == "0.0%"
        assert first["count"].number_format == "General"

    def test_text_over_the_cell_limit_is_cut_with_a_visible_marker(self, sheet: Any) -> None:
        value = sheet.cell(row=6, column=1).value
        assert len(value) == MAX_CELL_CHARS and value.endswith(TRUNCATED)
        assert LONG_TEXT.startswith(value[: -len(TRUNCATED)])

    def test_the_header_is_bold_frozen_and_filtered(self, sheet: Any) -> None:
        assert [cell.value for cell in sheet[1]] == [col.label for col in COLUMNS]
        assert all(cell.font.b for cell in sheet[1])
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:H{len(ROWS) + 1}"

    def test_column_widths_fit_the_header_and_the_data_type(self, sheet: Any) -> None:
        widths = {col.name: sheet.column_dimensions[chr(65 + i)].width for i, col in enumerate(COLUMNS)}
        assert widths["at"] >= len("2024-02-29 23:59:59")
        assert widths["text"] > widths["ok"]
        assert all(width >= len(col.label) + 2 for width, col in zip(widths.values(), COLUMNS, strict=True))
