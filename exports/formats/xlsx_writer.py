"""XLSX (SpreadsheetML in a ZIP), written part by part and resumable from a small state.

openpyxl's write-only mode keeps the open worksheet and the ZIP in one process, so it cannot carry a
file across worker invocations. This writer produces the parts itself: worksheets are streamed as
ZIP entries with data descriptors (deflated chunk by chunk, see `deflate.py`); the small parts that
depend on the number of sheets (workbook, relationships, content types) and the central directory
are written by `end()`. The state is the running offset, the open sheet's CRC and sizes, and one
small record per finished ZIP entry: a few hundred bytes whatever the row count.

Rules:
- One header row (the column labels, bold), frozen, with an autofilter over the sheet's rows.
- A sheet holds at most 1,048,576 rows including its header; further rows continue on `Sheet2`, ...
  each with the same header.
- Column widths come from the header and the data type, since later rows are not known yet.
- Numbers are numbers; CURRENCY/PERCENTAGE/NUMBER/INTEGER use the column's pattern as number format
  (defaults `#,##0.00` and `0.00%`); an integer or Decimal with more than 15 significant digits, which
  Excel would round, is text holding every digit; booleans are booleans; DATETIME is an Excel serial of the instant's
  wall-clock time in the export's zone (UTC by default; a serial has no zone), DATE the serial of the date,
  both with a date format. Dates before 1900-03-01 are ISO 8601 text (Excel's 1900 date system has no
  serials before 1900 and a phantom 1900-02-29, which LibreOffice does not share).
- Text is an inline string with XML-forbidden characters removed, formula triggers neutralised,
  truncated to Excel's 32,767 characters with a visible marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from math import isfinite
from typing import Any

from exports.formats.base import iso_date, iso_datetime
from exports.formats.cells import (
    EXCEL_DIGITS,
    FORMULA_TRIGGERS,
    excel_date_format,
    excel_loses_digits,
    excel_number_format,
    neutralize,
    plain_number,
    wall_time,
)
from exports.formats.deflate import (
    DESCRIPTOR_SIZE,
    FLAG_DESCRIPTOR,
    LIMIT_32,
    Crc,
    central_directory,
    data_descriptor,
    local_header,
)
from exports.models import ColumnSpec
from shared.errors import ExportFailed

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_SHEET_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767
TRUNCATED = "… [truncated]"

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# XML 1.0 forbids these (and lone surrogates could not even be encoded as UTF-8).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Excel and openpyxl read `_xHHHH_` in a string as an escaped character; escape the underscore to keep it literal.
_X_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
# Text with none of these goes into a cell as it is (most text does): no character to escape or drop.
_NEEDS_CARE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]|_x")
# Longer text may be over Excel's limit in UTF-16 units and is measured.
_SURELY_SHORT = MAX_CELL_CHARS // 2

_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_EPOCH_DATE = _EXCEL_EPOCH.date()
_FIRST_SERIAL = datetime(1900, 3, 1)  # from here on, serials mean the same in Excel and LibreOffice
_FIRST_SERIAL_DATE = _FIRST_SERIAL.date()
_US_PER_DAY = 86_400_000_000
_EXACT_LIMIT = 10**EXCEL_DIGITS  # integers below it keep every digit in Excel

DEFAULT_FORMATS = {
    "DATETIME": "yyyy-mm-dd hh:mm:ss",
    "DATE": "yyyy-mm-dd",
    "CURRENCY": "#,##0.00",
    "PERCENTAGE": "0.00%",
}
_WIDTHS = {
    "TEXT": 24,
    "INTEGER": 10,
    "NUMBER": 12,
    "CURRENCY": 14,
    "PERCENTAGE": 10,
    "DATETIME": 20,
    "DATE": 12,
    "BOOLEAN": 9,
}
# Room for the autofilter's drop-down button and the bold header font.
_HEADER_PADDING = 4
_MAX_WIDTH = 60
# A sheet's XML must stay below 4 GiB (no ZIP64): leave room for the closing tags.
MAX_SHEET_XML_BYTES = LIMIT_32 - 1_000_000


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def clean_text(text: str) -> str:
    """Text without XML-forbidden characters, at most 32,767 characters (as Excel counts them, in UTF-16)."""
    if _FORBIDDEN.search(text):
        text = _FORBIDDEN.sub("", text)
    if len(text) > MAX_CELL_CHARS // 2 and _utf16_length(text) > MAX_CELL_CHARS:
        room = MAX_CELL_CHARS - len(TRUNCATED)
        kept = text[:room]
        while _utf16_length(kept) > room:
            kept = kept[: -max(1, (_utf16_length(kept) - room) // 2)]
        text = kept + TRUNCATED
    return text


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _escape(text: str) -> str:
    if "_x" in text:
        text = _X_ESCAPE.sub(r"_x005F_\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;") if "\r" in text else text


def _digits(ref: str, digits: str) -> str:
    """A number Excel would round (more than 15 significant digits) as text holding every digit.

    No formula quote even for `-123...`: a run of digits is no formula, and the quote would be a
    character the number does not have.
    """
    return _inline(ref, digits)


def _attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _inline(ref: str, text: str, style: str = "") -> str:
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


class _Styles:
    """cellXfs: 0 default, 1 bold header, then one per distinct number format."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    def index_of(self, code: str | None) -> int:
        if code is None or code == "General":
            return 0
        if code not in self.codes:
            self.codes.append(code)
        return 2 + self.codes.index(code)

    def xml(self) -> str:
        fmts = "".join(
            f'<numFmt numFmtId="{164 + i}" formatCode="{_attr(code)}"/>' for i, code in enumerate(self.codes)
        )
        xfs = "".join(
            f'<xf numFmtId="{164 + i}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            for i in range(len(self.codes))
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_XML_DECL}<styleSheet xmlns="{_MAIN}">'
            + (f'<numFmts count="{len(self.codes)}">{fmts}</numFmts>' if self.codes else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{2 + len(self.codes)}">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            f"{xfs}</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


CellRenderer = Callable[[str, Any], str]


class XlsxWriter:
    content_type = CONTENT_TYPE
    extension = "xlsx"
    content_encoding: str | None = None

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        state: dict[str, Any],
        *,
        neutralize_formulas: bool = True,
        max_sheet_rows: int | None = None,
        zone: tzinfo = UTC,
    ) -> None:
        self._columns = list(columns)
        self._zone = zone
        self._neutralize = neutralize_formulas
        # Read when the writer is made, so tests can lower the module's limit to cross sheets in a few rows.
        self._max_rows = max_sheet_rows or MAX_SHEET_ROWS
        self._letters = [column_letter(i) for i in range(len(self._columns))]
        self._styles = _Styles()
        datetime_style = self._styles.index_of(DEFAULT_FORMATS["DATETIME"])
        date_style = self._styles.index_of(DEFAULT_FORMATS["DATE"])
        self._renderers = [self._renderer(col, datetime_style, date_style) for col in self._columns]
        # Resumable state.
        self._offset: int = int(state.get("offset", 0))
        self._entries: list[list[Any]] = [list(entry) for entry in state.get("entries", [])]
        self._sheet_rows: list[int] = [int(n) for n in state.get("sheets", [])]
        self._rows: int = int(state.get("rows", 0))  # rows in the open sheet, header included
        self._sheet = Crc.load(state.get("sheet"))
        # A shard's part of the file (`shard_start_state`): offsets are the shard's own, and where a sheet
        # ends the data descriptor is left out (its CRC and sizes cover other shards' parts too): the
        # finalizing step stages it there (`take_cuts` says where), with what follows the last sheet.
        self._shard = bool(state.get("shard"))
        self._segments: list[list[int]] = [list(segment) for segment in state.get("segments", [])]
        self._cuts: list[int] = []

    # ---- the FormatWriter protocol ---------------------------------------------------------------

    def begin(self) -> bytes:
        return self._open_sheet()

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        out: list[bytes] = []
        pending: list[bytes] = []
        pending_size = 0
        # A shard sees only its own part of a sheet: the finalizing step checks the whole sheet's size.
        max_bytes = LIMIT_32 if self._shard else MAX_SHEET_XML_BYTES
        for row in rows:
            xml = self._row_xml(row, self._rows + 1)
            if self._rows >= self._max_rows or self._sheet.size + pending_size + len(xml) > max_bytes:
                out.append(self._deflate(b"".join(pending)))
                pending, pending_size = [], 0
                out.append(self._close_sheet())
                if self._shard:
                    self._cuts.append(sum(map(len, out)))
                out.append(self._open_sheet())
                xml = self._row_xml(row, self._rows + 1)
            pending.append(xml)
            pending_size += len(xml)
            self._rows += 1
        out.append(self._deflate(b"".join(pending)))
        return b"".join(out)

    def end(self) -> bytes:
        out = [self._close_sheet()]
        sheets = len(self._sheet_rows)
        out.append(self._part("xl/workbook.xml", self._workbook_xml()))
        out.append(self._part("xl/_rels/workbook.xml.rels", self._workbook_rels(sheets)))
        out.append(self._part("xl/styles.xml", self._styles.xml()))
        out.append(self._part("[Content_Types].xml", _content_types(sheets)))
        out.append(self._part("_rels/.rels", _ROOT_RELS))
        directory = central_directory(self._entries, self._offset)
        self._check_size(len(directory))
        return b"".join(out) + directory

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "offset": self._offset,
            "entries": self._entries,
            "sheets": self._sheet_rows,
            "rows": self._rows,
            "sheet": self._sheet.dump(),
        }
        if self._shard:
            state |= {"shard": True, "segments": self._segments}
        return state

    def take_cuts(self) -> list[int]:
        """Offsets in the bytes the last `write` returned where a sheet's data descriptor belongs (shards only)."""
        cuts, self._cuts = self._cuts, []
        return cuts

    # ---- ZIP entries -----------------------------------------------------------------------------

    def _open_sheet(self) -> bytes:
        index = len(self._sheet_rows) + 1
        header = local_header(f"xl/worksheets/sheet{index}.xml", FLAG_DESCRIPTOR)
        self._sheet = Crc()
        self._entries.append([f"xl/worksheets/sheet{index}.xml", FLAG_DESCRIPTOR, 0, 0, 0, self._offset])
        self._advance(len(header))
        self._rows = 1
        return header + self._deflate(self._sheet_head(index) + self._header_row())

    def _close_sheet(self) -> bytes:
        last = f"{column_letter(max(len(self._columns), 1) - 1)}{self._rows}"
        tail = f'</sheetData><autoFilter ref="A1:{last}"/>' if self._columns else "</sheetData>"
        tail += '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
        body = self._deflate(tail.encode())
        final = self._sheet.finish()
        self._advance(len(final))
        if self._shard:
            self._segments.append([len(self._sheet_rows) + 1, *self._sheet.dump()])
            self._advance(DESCRIPTOR_SIZE)  # staged in its place when the shards are committed
            self._sheet_rows.append(self._rows)
            self._rows = 0
            return body + final
        descriptor = data_descriptor(self._sheet)
        self._advance(len(descriptor))
        entry = self._entries[-1]
        entry[2], entry[3], entry[4] = self._sheet.crc, self._sheet.size, self._sheet.compressed
        self._sheet_rows.append(self._rows)
        self._rows = 0
        return body + final + descriptor

    def _deflate(self, data: bytes) -> bytes:
        out = self._sheet.deflate(data)
        self._advance(len(out))
        return out

    def _part(self, name: str, xml: str) -> bytes:
        """A small part known whole: CRC and sizes go in the local header."""
        data = xml.encode("utf-8")
        crc = Crc()
        body = crc.deflate(data) + crc.finish()
        header = local_header(name, 0, crc.crc, crc.compressed, crc.size)
        self._entries.append([name, 0, crc.crc, crc.size, crc.compressed, self._offset])
        self._advance(len(header) + len(body))
        return header + body

    def _advance(self, count: int) -> None:
        self._offset += count
        self._check_size(0)

    def _check_size(self, extra: int) -> None:
        if self._offset + extra > LIMIT_32:
            raise ExportFailed(
                "The XLSX file would pass 4 GiB, more than a workbook this service writes can hold; "
                "export CSV or JSONL (with gzip) instead, or narrow the export with filters."
            )

    # ---- worksheet XML ---------------------------------------------------------------------------

    def _sheet_head(self, index: int) -> bytes:
        selected = ' tabSelected="1"' if index == 1 else ""
        cols = "".join(
            f'<col min="{i + 1}" max="{i + 1}" width="{_width(col)}" customWidth="1"/>'
            for i, col in enumerate(self._columns)
        )
        return (
            f'{_XML_DECL}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
            f'<sheetViews><sheetView workbookViewId="0"{selected}>'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            '<sheetFormatPr defaultRowHeight="15"/>' + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>"
        ).encode()

    def _header_row(self) -> bytes:
        cells = "".join(
            _inline(f"{letter}1", self._text(col.label), ' s="1"')
            for letter, col in zip(self._letters, self._columns, strict=True)
        )
        return f'<row r="1">{cells}</row>'.encode()

    def _row_xml(self, row: Sequence[Any], number: int) -> bytes:
        suffix = str(number)
        cells = [
            (handlers.get(type(value)) or render)(letter + suffix, value)
            for (handlers, render), letter, value in zip(self._renderers, self._letters, row, strict=True)
            if value is not None
        ]
        return f'<row r="{suffix}">{"".join(cells)}</row>'.encode()

    def _text(self, value: str) -> str:
        value = clean_text(value)
        if self._neutralize:
            neutral = neutralize(value)
            if neutral is not value:
                value = clean_text(neutral)
        return value

    def _renderer(
        self, col: ColumnSpec, datetime_style: int, date_style: int
    ) -> tuple[dict[type, CellRenderer], CellRenderer]:
        kind = col.data_type.upper()
        pattern = col.format_pattern
        code: str | None
        if kind in ("DATETIME", "DATE"):
            code = excel_date_format(pattern) if pattern else DEFAULT_FORMATS[kind]
            number_style = 0
        else:
            code = excel_number_format(pattern) if pattern else DEFAULT_FORMATS.get(kind)
            number_style = self._styles.index_of(code)
        if kind == "DATETIME":
            datetime_style = self._styles.index_of(code)
        elif kind == "DATE":
            date_style = self._styles.index_of(code)
        number_attr = f' s="{number_style}"' if number_style else ""
        datetime_attr = f' s="{datetime_style}"'
        date_attr = f' s="{date_style}"'
        text = self._text
        zone = self._zone

        triggers = FORMULA_TRIGGERS if self._neutralize else ()
        needs_care = _NEEDS_CARE.search

        def string(ref: str, value: str) -> str:
            # The same cell `_inline(ref, text(value))` makes, without its passes over text that needs none.
            if (
                len(value) <= _SURELY_SHORT
                and not value[:1].isspace()
                and not value[-1:].isspace()
                and not value.startswith(triggers)
                and needs_care(value) is None
            ):
                return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
            return _inline(ref, text(value))

        def boolean(ref: str, value: bool) -> str:
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'

        def integer(ref: str, value: int) -> str:
            if (value >= _EXACT_LIMIT or value <= -_EXACT_LIMIT) and excel_loses_digits(value):
                return _digits(ref, str(value))
            return f'<c r="{ref}"{number_attr}><v>{value}</v></c>'

        def floating(ref: str, value: float) -> str:
            if not isfinite(value):
                return ""
            return f'<c r="{ref}"{number_attr}><v>{value!r}</v></c>'

        def decimal(ref: str, value: Decimal) -> str:
            if not value.is_finite():
                return ""
            if excel_loses_digits(value):
                return _digits(ref, plain_number(value))
            return f'<c r="{ref}"{number_attr}><v>{value}</v></c>'

        def moment(ref: str, value: datetime) -> str:
            local = wall_time(value, zone)
            if local < _FIRST_SERIAL:
                return _inline(ref, iso_datetime(value, zone))
            return f'<c r="{ref}"{datetime_attr}><v>{_datetime_serial(local)}</v></c>'

        def day(ref: str, value: date) -> str:
            if value < _FIRST_SERIAL_DATE:
                return _inline(ref, iso_date(value))
            return f'<c r="{ref}"{date_attr}><v>{(value - _EXCEL_EPOCH_DATE).days}</v></c>'

        handlers: dict[type, CellRenderer] = {
            str: string,
            bool: boolean,
            int: integer,
            float: floating,
            Decimal: decimal,
            datetime: moment,
            date: day,
        }

        def render(ref: str, value: Any) -> str:
            # Subclasses (IntEnum, pandas-like timestamps, ...): the same rules by isinstance.
            for cls, fallback in handlers.items():
                if isinstance(value, cls):
                    return fallback(ref, value)
            return _inline(ref, text(str(value)))

        # The row loop looks the exact type up itself and calls `render` only for anything else.
        return handlers, render

    def _workbook_xml(self) -> str:
        sheets = "".join(
            f'<sheet name="Sheet{i}" sheetId="{i}" r:id="rId{i}"/>' for i in range(1, len(self._sheet_rows) + 1)
        )
        last = column_letter(max(len(self._columns), 1) - 1)
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"Sheet{i + 1}!$A$1:${last}${rows}</definedName>"
            for i, rows in enumerate(self._sheet_rows)
        )
        return (
            f'{_XML_DECL}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{sheets}</sheets>"
            + (f"<definedNames>{names}</definedNames>" if self._columns else "")
            + "</workbook>"
        )

    @staticmethod
    def _workbook_rels(sheets: int) -> str:
        worksheet = f"{_REL}/worksheet"
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{worksheet}" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, sheets + 1)
        )
        styles = f'<Relationship Id="rId{sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        return f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}">{rels}{styles}</Relationships>'


def _datetime_serial(moment: datetime) -> str:
    delta = moment - _EXCEL_EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micros % _US_PER_DAY == 0:
        return str(micros // _US_PER_DAY)
    return repr(micros / _US_PER_DAY)


def _width(col: ColumnSpec) -> int:
    return min(_MAX_WIDTH, max(_WIDTHS.get(col.data_type.upper(), 16), len(col.label) + _HEADER_PADDING))


_ROOT_RELS = (
    f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)


def _content_types(sheets: int) -> str:
    ns = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{ns}.worksheet+xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        f'{_XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{ns}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{ns}.styles+xml"/>'
        f"{overrides}</Types>"
    )
