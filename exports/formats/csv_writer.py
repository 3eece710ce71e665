"""CSV as RFC 4180: comma-separated, CRLF line ends, fields quoted when they need it, UTF-8."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from exports.formats.base import iso_date, iso_datetime
from exports.models import ColumnSpec

UTF8_BOM = "\ufeff".encode()


class CsvWriter:
    content_type = "text/csv; charset=utf-8"
    extension = "csv"
    content_encoding: str | None = None

    def __init__(self, columns: Sequence[ColumnSpec], state: dict[str, Any], *, bom: bool = True) -> None:
        self._columns = list(columns)
        self._bom = bom

    def begin(self) -> bytes:
        header = self._encode([[col.name for col in self._columns]])
        return UTF8_BOM + header if self._bom else header

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        return self._encode([[_cell(value) for value in row] for row in rows])

    def end(self) -> bytes:
        return b""

    def state(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _encode(rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return iso_date(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
