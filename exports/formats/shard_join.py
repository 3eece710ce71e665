"""Writing one file in shards: where each shard's writer starts, and what joins the shards into the file.

Every shard writes its key range with its own writer and state; the bytes of a chunk depend only on its
rows and the state at its start (base.py), so a shard whose start state is the one an unsharded writer
would have there writes exactly the unsharded bytes. What a shard cannot know, because it depends on
other shards' bytes, is staged by the finalizing step as extra blocks:

- CSV, JSONL: nothing (their parts concatenate; the end is empty).
- JSON: each shard starts as if first (its first chunk opens with a line break); a `,` block goes
  before every non-empty shard after the first non-empty one, and the end (`\\n]\\n`, or `]\\n` for no
  rows) after the last shard. Empty shards need nothing.
- gzip: each shard deflates its own chunks (full-flush blocks share no dictionary) and keeps its own
  CRC-32 and length; the end block is the inner format's end, deflated, the final empty deflate block
  and the trailer with the CRC-32s combined (`deflate.crc32_combine`). A gzip JSON shard's first chunk
  must say whether rows came before it: it starts from the count (shard 0 first, every other shard
  not), checked at commit.
- XLSX: a shard's rows are numbered from its first row, known from the count (one row per key), which
  also says in which sheet it starts and how full that sheet is, so sheets still split every
  1,048,576 rows, inside a shard too. Where a sheet ends the shard leaves out the 16-byte data
  descriptor (its CRC and sizes cover every shard's part of that sheet); the finalizing step stages it
  there, and after the last shard the last sheet's end, the workbook parts and the central directory
  (offsets: each shard's own plus the shards' before it).

A start taken from the count holds as long as the source still has the counted keys when the shards
read it. `ShardedFile.consistent` checks it at commit; if it fails, the export is written again as one
chain, so the file is never wrong (exports/job_writer.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exports.formats import FormatOptions, writer_for
from exports.formats import xlsx_writer as xlsx
from exports.formats.deflate import Crc, combine, data_descriptor
from exports.models import ColumnSpec, Compression, ExportFormat


def shard_start_state(fmt: ExportFormat, options: FormatOptions, first_row: int) -> dict[str, Any]:
    """The writer state a shard starts from, whose first data row is `first_row` (from 0) by the count."""
    if options.compression is Compression.GZIP:
        inner = {"rows": first_row} if fmt is ExportFormat.JSON else {}
        return {"inner": inner, "gzip": Crc().dump()}
    if fmt is ExportFormat.XLSX:
        return _xlsx_start(first_row)
    return {}


def _xlsx_start(first_row: int) -> dict[str, Any]:
    if first_row == 0:
        return {"shard": True}
    data_rows = xlsx.MAX_SHEET_ROWS - 1  # per sheet, under its header row
    sheet = (first_row - 1) // data_rows + 1  # the sheet open after `first_row` rows (it may be full)
    return {
        "shard": True,
        "sheets": [xlsx.MAX_SHEET_ROWS] * (sheet - 1),
        "rows": first_row - (sheet - 1) * data_rows + 1,
    }


class ShardedFile:
    """The shards of one export, once every shard is done: the blocks that join them into the file."""

    def __init__(
        self,
        fmt: ExportFormat,
        columns: Sequence[ColumnSpec],
        options: FormatOptions,
        *,
        states: Sequence[dict[str, Any]],
        rows: Sequence[int],
        first_rows: Sequence[int],
    ) -> None:
        self._format = fmt
        self._columns = columns
        self._options = options
        self._states = states
        self._rows = rows
        self._first_rows = first_rows
        self._gzip = options.compression is Compression.GZIP

    def consistent(self) -> bool:
        """Whether every start a shard took from the count was right (else: write the file as one chain)."""
        before = [sum(self._rows[:index]) for index in range(len(self._rows))]
        if self._format is ExportFormat.XLSX:
            if before != list(self._first_rows):
                return False
            sheets = self._xlsx_sheets()
            return all(sheet.size <= xlsx.MAX_SHEET_XML_BYTES for sheet in sheets.values())
        if self._gzip and self._format is ExportFormat.JSON:
            # Only whether rows came before a non-empty shard shows in its bytes (`,` or not).
            starts = zip(self._first_rows, before, self._rows, strict=True)
            return all((first > 0) == (rows_before > 0) for first, rows_before, rows in starts if rows)
        return True

    def separator(self, index: int) -> bytes:
        """What goes before shard `index`'s blocks."""
        if self._format is not ExportFormat.JSON or self._gzip or not self._rows[index]:
            return b""
        return b"," if any(self._rows[:index]) else b""

    def hole(self, index: int, number: int) -> bytes:
        """The `number`-th data descriptor shard `index` left out: of the sheet it ended there."""
        sheet = self._states[index]["segments"][number][0]
        return data_descriptor(self._xlsx_sheets()[sheet])

    def end(self) -> bytes:
        """What follows the last shard: the end a writer holding every shard's state would write."""
        total = sum(self._rows)
        if self._gzip:
            parts = [Crc.load(state.get("gzip")) for state in self._states]
            state: dict[str, Any] = {"inner": {"rows": total}, "gzip": combine(parts).dump()}
        elif self._format is ExportFormat.XLSX:
            state = self._xlsx_state()
        else:
            state = {"rows": total}
        return writer_for(self._format, self._columns, state, self._options).end()

    # ---- XLSX ------------------------------------------------------------------------------------

    def _xlsx_sheets(self) -> dict[int, Crc]:
        """Each sheet's CRC and sizes over every shard's part of it, in shard order."""
        parts: dict[int, list[Crc]] = {}
        for state in self._states:
            for number, *values in state.get("segments", []):
                parts.setdefault(number, []).append(Crc(*values))
            parts.setdefault(len(state.get("sheets", [])) + 1, []).append(Crc.load(state.get("sheet")))
        return {number: combine(crcs) for number, crcs in parts.items()}

    def _xlsx_state(self) -> dict[str, Any]:
        """The state an unsharded writer would have after the last row: entries at their file offsets."""
        sheets = self._xlsx_sheets()
        entries: list[list[Any]] = []
        offset = 0
        for state in self._states:
            for name, flags, _crc, _size, _compressed, local in state.get("entries", []):
                number = int(str(name).removeprefix("xl/worksheets/sheet").removesuffix(".xml"))
                whole = sheets[number]
                entries.append([name, flags, whole.crc, whole.size, whole.compressed, offset + local])
            offset += int(state.get("offset", 0))
        last = self._states[-1]
        return {
            "offset": offset,
            "entries": entries,
            "sheets": last.get("sheets", []),
            "rows": last.get("rows", 0),
            "sheet": sheets[len(last.get("sheets", [])) + 1].dump(),
        }

