"""The streaming writers: bytes per chunk, independent of how chunks were grouped into batches."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from exports.formats import writer_for
from exports.models import ColumnSpec, ExportFormat

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


def write_in_batches(fmt: ExportFormat, batches: list[list[list[Any]]]) -> bytes:
    """Each batch gets a fresh writer restored from the previous one's state, as across invocations."""
    output = b""
    state: dict[str, Any] = {}
    for index, batch in enumerate(batches):
        writer = writer_for(fmt, COLUMNS, state)
        if index == 0:
            output += writer.begin()
        output += writer.write(batch)
        if index == len(batches) - 1:
            output += writer.end()
        state = writer.state()
    return output


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_the_bytes_do_not_depend_on_where_batches_were_cut(fmt: ExportFormat) -> None:
    whole = write_in_batches(fmt, [ROWS])
    assert write_in_batches(fmt, [ROWS[:1], ROWS[1:3], ROWS[3:]]) == whole
    assert write_in_batches(fmt, [[], ROWS[:2], [], ROWS[2:], []]) == whole


def test_csv_is_rfc_4180_with_a_bom_and_crlf() -> None:
    data = write_in_batches(ExportFormat.CSV, [ROWS])
    assert data.startswith(b"\xef\xbb\xbfid,n,ok,at\r\n")
    assert b'"a,b",1,true,2024-02-29T23:59:59Z\r\n' in data
    assert b'"quote ""me""",-7,false,\r\n' in data
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert rows[3] == ["line\nbreak", "", "", "1899-12-31T00:00:00Z"]
    assert rows[4][0] == "Zoë 🎉 東京" and rows[4][1] == "12345678901234"


def test_json_is_one_valid_array_of_typed_objects() -> None:
    document = json.loads(write_in_batches(ExportFormat.JSON, [ROWS[:2], ROWS[2:]]))
    assert document[0] == {"id": "a,b", "n": 1, "ok": True, "at": "2024-02-29T23:59:59Z"}
    assert document[2]["n"] is None and len(document) == 4


def test_an_empty_json_export_is_an_empty_array() -> None:
    assert json.loads(write_in_batches(ExportFormat.JSON, [[]])) == []


def test_json_lines_has_one_object_per_line() -> None:
    lines = write_in_batches(ExportFormat.JSONL, [ROWS]).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [row[0] for row in ROWS]
