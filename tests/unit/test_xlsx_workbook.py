"""The XLSX writer's workbook: a valid ZIP, sheets that continue past Excel's row limit, safe text."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.formats.cells import excel_date_format, excel_number_format, neutralize
from exports.formats.xlsx_writer import XlsxWriter, _inline, clean_text, column_letter
from exports.models import ColumnSpec
from shared.errors import ExportFailed

COLUMNS = [
    ColumnSpec(name="id", label="ID", data_type="TEXT"),
    ColumnSpec(name="n", label="N", data_type="INTEGER"),
]


def xlsx(rows: list[list[Any]], *, max_sheet_rows: int = 1_048_576, cuts: tuple[int, ...] = ()) -> bytes:
    """One row per chunk; a fresh writer (from JSON state) at each cut."""
    out = b""
    state: dict[str, Any] = {}
    writer = XlsxWriter(COLUMNS, state, max_sheet_rows=max_sheet_rows)
    out += writer.begin()
    for index, row in enumerate(rows):
        if index in cuts:
            state = json.loads(json.dumps(writer.state()))
            writer = XlsxWriter(COLUMNS, state, max_sheet_rows=max_sheet_rows)
        out += writer.write([row])
    return out + writer.end()


def read(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


class TestTheZip:
    def test_every_entry_passes_its_crc_check(self) -> None:
        archive = zipfile.ZipFile(io.BytesIO(xlsx([["a", 1], ["b", 2]], cuts=(1,))))
        assert archive.testzip() is None
        assert set(archive.namelist()) == {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
        }

    def test_an_export_with_no_rows_is_a_workbook_with_just_the_header(self) -> None:
        sheet = read(xlsx([])).active
        assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [["ID", "N"]]

    def test_a_workbook_past_4_gib_fails_with_a_readable_reason(self) -> None:
        writer = XlsxWriter(COLUMNS, {})
        writer.begin()
        state = writer.state()
        state["offset"] = 0xFFFFFFFF - 10
        with pytest.raises(ExportFailed, match="4 GiB"):
            XlsxWriter(COLUMNS, state).write([["a" * 1000, 1]])


class TestSheetsPastTheRowLimit:
    def test_rows_past_a_full_sheet_continue_on_further_sheets_with_the_same_header(self) -> None:
        rows = [[f"r{i}", i] for i in range(7)]
        workbook = read(xlsx(rows, max_sheet_rows=3, cuts=(2, 3, 5)))
        assert workbook.sheetnames == ["Sheet1", "Sheet2", "Sheet3", "Sheet4"]
        values = [[[cell.value for cell in row] for row in workbook[name].iter_rows()] for name in workbook.sheetnames]
        assert values == [
            [["ID", "N"], ["r0", 0], ["r1", 1]],
            [["ID", "N"], ["r2", 2], ["r3", 3]],
            [["ID", "N"], ["r4", 4], ["r5", 5]],
            [["ID", "N"], ["r6", 6]],
        ]
        assert [workbook[name].auto_filter.ref for name in workbook.sheetnames] == ["A1:B3", "A1:B3", "A1:B3", "A1:B2"]
        assert all(workbook[name].freeze_panes == "A2" for name in workbook.sheetnames)

    def test_the_bytes_do_not_depend_on_where_batches_were_cut_across_sheets(self) -> None:
        rows = [[f"r{i}", i] for i in range(7)]
        whole = xlsx(rows, max_sheet_rows=3)
        assert xlsx(rows, max_sheet_rows=3, cuts=(1, 2, 3, 4, 5, 6)) == whole
        assert xlsx(rows, max_sheet_rows=3, cuts=(3,)) == whole

    def test_a_sheet_holds_excels_limit_by_default(self) -> None:
        assert XlsxWriter(COLUMNS, {})._max_rows == 1_048_576


class TestText:
    def test_characters_xml_forbids_never_reach_the_file(self) -> None:
        sheet = read(xlsx([["a\x00b\x01c\x08d\x0be\x0cf\x1fg\ufffeh", 1]])).active
        assert sheet["A2"].value == "abcdefgh"

    def test_tabs_newlines_and_carriage_returns_are_kept(self) -> None:
        sheet = read(xlsx([["a\tb\nc\r\nd", 1]])).active
        assert sheet["A2"].value == "a\tb\nc\r\nd"

    def test_markup_and_leading_spaces_are_text(self) -> None:
        sheet = read(xlsx([["  <b>&amp;</b> ", 1]])).active
        assert sheet["A2"].value == "  <b>&amp;</b> "

    def test_excel_escape_sequences_in_text_stay_literal(self) -> None:
        archive = zipfile.ZipFile(io.BytesIO(xlsx([["id_x0041_", 1]])))
        assert b"id_x005F_x0041_" in archive.read("xl/worksheets/sheet1.xml")

    @settings(max_examples=300, deadline=None)
    @given(
        text=st.one_of(
            st.text(),
            st.text(alphabet=st.sampled_from(list("ab _x0041&<>\r\t\n=+-@ \x00\x01\ufffe\ud800é😀"))),
            st.text(min_size=16_380, max_size=16_400, alphabet=st.sampled_from(["a", "😀", "&"])),
        ),
        neutralize_formulas=st.booleans(),
    )
    def test_plain_text_takes_the_short_way_to_the_same_cell(self, text: str, neutralize_formulas: bool) -> None:
        columns = [ColumnSpec(name="t", label="T", data_type="TEXT")]
        writer = XlsxWriter(columns, {}, neutralize_formulas=neutralize_formulas)
        handlers, _ = writer._renderers[0]
        kept = clean_text(text)
        if neutralize_formulas and neutralize(kept) is not kept:
            kept = clean_text(neutralize(kept))
        assert handlers[str]("A2", text) == _inline("A2", kept)

    def test_the_limit_counts_utf16_units_as_excel_does(self) -> None:
        cut = clean_text("😀" * 20_000)
        assert len(cut.encode("utf-16-le")) // 2 <= 32_767
        assert cut.endswith("… [truncated]") and cut.startswith("😀")


class TestDates:
    def test_datetimes_are_serials_in_utc(self) -> None:
        columns = [ColumnSpec(name="at", label="At", data_type="DATETIME")]
        writer = XlsxWriter(columns, {})
        data = writer.begin() + writer.write([[datetime(2024, 1, 1, 12, tzinfo=UTC)]]) + writer.end()
        xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
        assert b"<v>45292.5</v>" in xml

    def test_a_date_pattern_becomes_an_excel_number_format(self) -> None:
        columns = [ColumnSpec(name="d", label="D", data_type="DATE", format_pattern="DD/MM/YYYY")]
        writer = XlsxWriter(columns, {})
        sheet = read(writer.begin() + writer.write([[date(2024, 5, 17)]]) + writer.end()).active
        assert sheet["A2"].number_format == "dd/mm/yyyy"
        assert sheet["A2"].value == datetime(2024, 5, 17)


def test_column_letters_run_past_z() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


@pytest.mark.parametrize(
    ("pattern", "code"),
    [
        ("$#,##0.00", "$#,##0.00"),
        ("€#,##0.00", '"€"#,##0.00'),
        ("EUR #,##0.00", '"EUR" #,##0.00'),
        ("0.00E+00", "0.00E+00"),
        ("[$€-2] #,##0.00", "[$€-2] #,##0.00"),
        ("0.0%", "0.0%"),
    ],
)
def test_a_number_pattern_becomes_an_excel_format_with_its_literal_text_quoted(pattern: str, code: str) -> None:
    assert excel_number_format(pattern) == code


@pytest.mark.parametrize(
    ("pattern", "code"),
    [("YYYY-MM-DD", "yyyy-mm-dd"), ("DD/MM/YYYY HH:mm", "dd/mm/yyyy hh:mm"), ("MMM d, yyyy h:mm AM/PM", None)],
)
def test_a_date_pattern_becomes_an_excel_date_format(pattern: str, code: str | None) -> None:
    assert excel_date_format(pattern) == (code or "mmm d, yyyy h:mm AM/PM")
