"""The streaming writers: bytes per chunk, independent of how chunks were grouped into batches."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from exports.formats import FormatOptions, content_type, file_extension, writer_for
from exports.models import ColumnSpec, Compression, ExportFormat
from tests.support.format_cases import COLUMNS as ALL_TYPES
from tests.support.format_cases import ROWS as AWKWARD_ROWS
from tests.support.format_cases import write_file

COLUMNS = [
    ColumnSpec(name="id", label="ID", data_type="TEXT"),
    ColumnSpec(name="n", label="N", data_type="INTEGER"),
    ColumnSpec(name="ok", label="OK", data_type="BOOLEAN"),
    ColumnSpec(name="at", label="At", data_type="DATETIME"),
]
ROWS: list[list[Any]] = [
    ["a,b", 1, True, datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)],
    ['quote "me"', -7, False, None],
    ["line\nbreak", None, None, datetime(1899, 12, 31, tzinfo=UTC)],
    ["Zoë 🎉 東京", 12345678901234, True, datetime(2024, 1, 1, 12, tzinfo=UTC)],
]
GZIP = FormatOptions(compression=Compression.GZIP)
EVERY_WRITER = [
    *[pytest.param(fmt, None, id=fmt.value) for fmt in ExportFormat],
    *[pytest.param(fmt, GZIP, id=f"{fmt.value}-gzip") for fmt in ExportFormat if fmt is not ExportFormat.XLSX],
]


def write(fmt: ExportFormat, rows: list[list[Any]] = ROWS, **kwargs: Any) -> bytes:
    return write_file(fmt, rows, columns=COLUMNS, chunk_rows=1, **kwargs)


class TestResumingABatch:
    @pytest.mark.parametrize(("fmt", "options"), EVERY_WRITER)
    def test_the_bytes_do_not_depend_on_where_batches_were_cut(
        self, fmt: ExportFormat, options: FormatOptions | None
    ) -> None:
        whole = write_file(fmt, AWKWARD_ROWS, columns=ALL_TYPES, options=options)
        for cuts in ([1], [1, 2, 3], [0, 4], [3]):
            assert write_file(fmt, AWKWARD_ROWS, columns=ALL_TYPES, options=options, cuts=cuts) == whole

    @pytest.mark.parametrize(("fmt", "options"), EVERY_WRITER)
    def test_an_empty_chunk_writes_nothing_and_changes_nothing(
        self, fmt: ExportFormat, options: FormatOptions | None
    ) -> None:
        writer = writer_for(fmt, COLUMNS, {}, options)
        writer.begin()
        before = writer.state()
        assert writer.write([]) == b""
        assert writer.state() == before

    @pytest.mark.parametrize(("fmt", "options"), EVERY_WRITER)
    def test_the_state_stays_small_however_many_rows_were_written(
        self, fmt: ExportFormat, options: FormatOptions | None
    ) -> None:
        writer = writer_for(fmt, COLUMNS, {}, options)
        writer.begin()
        for _ in range(200):
            writer.write(ROWS)
        assert len(json.dumps(writer.state())) < 1_000


class TestCsv:
    def test_csv_is_rfc_4180_with_a_bom_and_crlf(self) -> None:
        data = write(ExportFormat.CSV)
        assert data.startswith(b"\xef\xbb\xbfid,n,ok,at\r\n")
        assert b'"a,b",1,true,2024-02-29T23:59:59Z\r\n' in data
        assert b'"quote ""me""",-7,false,\r\n' in data
        rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
        assert rows[3] == ["line\nbreak", "", "", "1899-12-31T00:00:00Z"]
        assert rows[4][0] == "Zoë 🎉 東京" and rows[4][1] == "12345678901234"

    def test_the_byte_order_mark_can_be_left_out(self) -> None:
        assert write(ExportFormat.CSV, options=FormatOptions(csv_bom=False)).startswith(b"id,n,ok,at\r\n")

    @pytest.mark.parametrize("delimiter", [";", "\t", "|"])
    def test_the_delimiter_can_be_chosen_and_fields_holding_it_are_quoted(self, delimiter: str) -> None:
        rows = [[f"a{delimiter}b", 1, True, None]]
        data = write(ExportFormat.CSV, rows, options=FormatOptions(csv_delimiter=delimiter))
        d = delimiter
        assert data.decode("utf-8-sig") == f'id{d}n{d}ok{d}at\r\n"a{d}b"{d}1{d}true{d}\r\n'

    def test_currency_keeps_the_patterns_decimals_without_symbol_or_grouping(self) -> None:
        columns = [
            ColumnSpec(name="usd", label="USD", data_type="CURRENCY", format_pattern="$#,##0.00"),
            ColumnSpec(name="yen", label="JPY", data_type="CURRENCY", format_pattern="¥#,##0"),
            ColumnSpec(name="plain", label="Plain", data_type="CURRENCY"),
            ColumnSpec(name="share", label="Share", data_type="PERCENTAGE", format_pattern="0.0%"),
            ColumnSpec(name="ratio", label="Ratio", data_type="NUMBER", format_pattern="#,##0.000"),
        ]
        rows: list[list[Any]] = [[1234.5, 1234.5, 0.125, 0.2534, 2.0], [-0.004, 99.5, 1e6, -1.5, -1234.56789]]
        data = write_file(ExportFormat.CSV, rows, columns=columns).decode("utf-8-sig")
        assert data.splitlines()[1:] == ["1234.50,1235,0.13,0.2534,2.000", "0.00,100,1000000.00,-1.5,-1234.568"]


class TestJson:
    def test_json_is_one_valid_array_of_typed_objects(self) -> None:
        document = json.loads(write_file(ExportFormat.JSON, ROWS, columns=COLUMNS, cuts=[1]))
        assert document[0] == {"id": "a,b", "n": 1, "ok": True, "at": "2024-02-29T23:59:59Z"}
        assert document[2]["n"] is None and len(document) == 4

    def test_an_empty_json_export_is_an_empty_array(self) -> None:
        assert json.loads(write(ExportFormat.JSON, [])) == []

    def test_json_lines_has_one_object_per_line(self) -> None:
        lines = write(ExportFormat.JSONL).decode().splitlines()
        assert [json.loads(line)["id"] for line in lines] == [row[0] for row in ROWS]


class TestGzip:
    @pytest.mark.parametrize("fmt", [ExportFormat.CSV, ExportFormat.JSON, ExportFormat.JSONL])
    def test_gzip_holds_exactly_the_plain_file(self, fmt: ExportFormat) -> None:
        packed = write_file(fmt, AWKWARD_ROWS, columns=ALL_TYPES, options=GZIP, cuts=[2])
        assert gzip.decompress(packed) == write_file(fmt, AWKWARD_ROWS, columns=ALL_TYPES)

    def test_zcat_reads_it(self) -> None:
        packed = write_file(ExportFormat.CSV, AWKWARD_ROWS, columns=ALL_TYPES, options=GZIP, cuts=[1, 3])
        unpacked = subprocess.run(["zcat"], input=packed, capture_output=True, check=True).stdout
        assert unpacked == write_file(ExportFormat.CSV, AWKWARD_ROWS, columns=ALL_TYPES)

    def test_the_header_has_no_time_and_no_file_name(self) -> None:
        packed = write(ExportFormat.JSONL, options=GZIP)
        assert packed[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def test_an_empty_export_is_a_valid_gzip_of_nothing(self) -> None:
        assert gzip.decompress(write(ExportFormat.JSONL, [], options=GZIP)) == b""

    @pytest.mark.parametrize("fmt", [ExportFormat.CSV, ExportFormat.JSON, ExportFormat.JSONL])
    def test_the_file_is_named_and_typed_as_gzip(self, fmt: ExportFormat) -> None:
        assert file_extension(fmt, GZIP) == f"{fmt.value.lower()}.gz"
        assert content_type(fmt, GZIP) == "application/gzip"
        assert writer_for(fmt, COLUMNS, {}, GZIP).extension == f"{fmt.value.lower()}.gz"

    def test_xlsx_is_never_gzipped(self) -> None:
        with pytest.raises(ValueError, match="already compressed"):
            writer_for(ExportFormat.XLSX, COLUMNS, {}, GZIP)
