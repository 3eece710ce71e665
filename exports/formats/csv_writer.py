"""CSV as RFC 4180: CRLF line ends, fields quoted when they need it, UTF-8 (with a BOM by default).

Values stay machine-readable, whatever the column's display pattern:
- INTEGER as digits; NUMBER as the shortest text that reads back as the same number, or with the
  pattern's decimal places when it has one (`#,##0.00` -> `1234.50`); never a thousands separator.
- CURRENCY with the pattern's decimal places (default 2), rounded half away from zero, without the
  currency symbol or grouping: `$#,##0.00` and 1234.5 -> `1234.50`.
- PERCENTAGE as the fraction (0.25 for 25%), as in JSON and as the number under an XLSX cell.
- DATETIME as ISO 8601 with the export zone's offset at that instant (`2024-02-29T23:59:59Z` in UTC,
  `2024-03-01T00:59:59+01:00` in Europe/Paris), DATE as `2024-02-29`; BOOLEAN `true`/`false`.
- The decimal point is always `.`, also with `;` as delimiter.
- Text starting with = + - @ tab or CR gets a leading `'` (formula neutralisation, on by default).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from types import NoneType
from typing import Any

from exports.formats.base import iso_date, iso_datetime
from exports.formats.cells import FORMULA_TRIGGERS, fixed_point, is_finite, neutralize, pattern_decimals, plain_number
from exports.models import ColumnSpec

UTF8_BOM = "\ufeff".encode()

Formatter = Callable[[Any], str]
ColumnFormatter = Callable[[tuple[Any, ...]], Sequence[Any]]
BOOLEAN_TEXT = {True: "true", False: "false"}


class CsvWriter:
    content_type = "text/csv; charset=utf-8"
    extension = "csv"
    content_encoding: str | None = None

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        state: dict[str, Any],
        *,
        bom: bool = True,
        delimiter: str = ",",
        neutralize_formulas: bool = True,
        zone: tzinfo = UTC,
    ) -> None:
        self._columns = list(columns)
        self._zone = zone
        self._bom = bom
        self._delimiter = delimiter
        self._neutralize = neutralize_formulas
        self._formatters = [self._formatter(col) for col in self._columns]

    def begin(self) -> bytes:
        header = self._encode([[self._text(col.name) for col in self._columns]])
        return UTF8_BOM + header if self._bom else header

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        if not rows:
            return b""
        # Column by column: a column's values usually share one type, so one C-speed type scan
        # picks a path for the whole column, and None, plain text and integers go to the csv module as they
        # are (it writes None as an empty field and an int as str() would).
        columns = zip(*rows, strict=True)
        formatted = [format_column(values) for format_column, values in zip(self._formatters, columns, strict=True)]
        return self._encode(zip(*formatted, strict=True))

    def end(self) -> bytes:
        return b""

    def state(self) -> dict[str, Any]:
        return {}

    def _encode(self, rows: Iterable[Iterable[Any]]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerows(rows)
        return buffer.getvalue().encode("utf-8")

    def _text(self, value: str) -> str:
        return neutralize(value) if self._neutralize else value

    def _formatter(self, col: ColumnSpec) -> ColumnFormatter:
        kind = col.data_type.upper()
        decimals = pattern_decimals(col.format_pattern)
        if kind == "CURRENCY" and decimals is None:
            decimals = 2
        if kind in ("INTEGER", "PERCENTAGE"):
            decimals = None
        text = self._text

        def number(value: int | float | Decimal) -> str:
            if not is_finite(value):
                return ""
            return plain_number(value) if decimals is None else fixed_point(value, decimals)

        def floating(value: float) -> str:
            if not math.isfinite(value):
                return ""
            return repr(value) if decimals is None else fixed_point(value, decimals)

        def boolean(value: bool) -> str:
            return "true" if value else "false"

        zone = self._zone

        def moment(value: datetime) -> str:
            return iso_datetime(value, zone)

        handlers: dict[type, Formatter] = {
            str: text,
            bool: boolean,
            int: number if decimals is not None else str,
            float: floating,
            Decimal: number,
            datetime: moment,
            date: iso_date,
        }

        def format_cell(value: Any) -> str:
            handler = handlers.get(type(value))
            if handler is not None:
                return handler(value)
            # Subclasses (pandas-like timestamps, IntEnum, ...): the same rules by isinstance.
            for cls, fallback in handlers.items():
                if isinstance(value, cls):
                    return fallback(value)
            return text(str(value))

        # The common case stays one C-level startswith per value; only text starting with a space needs the rest.
        triggers = FORMULA_TRIGGERS if self._neutralize else ()
        neutral = neutralize
        ints_as_they_are = handlers[int] is str

        def format_column(values: tuple[Any, ...]) -> Sequence[Any]:
            kinds = set(map(type, values))
            kinds.discard(NoneType)
            if kinds <= {str}:
                if not triggers:
                    return values
                return [v if v is None or not (v.startswith(triggers) or v[:1] == " ") else neutral(v) for v in values]
            if ints_as_they_are and kinds <= {int}:
                return values
            if kinds <= {bool}:
                return list(map(BOOLEAN_TEXT.get, values))
            return [None if v is None else format_cell(v) for v in values]

        return format_column
