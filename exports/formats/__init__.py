"""One streaming writer per export format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exports.formats.base import FormatWriter
from exports.formats.csv_writer import CsvWriter
from exports.formats.json_writer import JsonArrayWriter, JsonLinesWriter
from exports.models import ColumnSpec, ExportFormat


def writer_for(fmt: ExportFormat, columns: Sequence[ColumnSpec], state: dict[str, Any]) -> FormatWriter:
    if fmt is ExportFormat.CSV:
        return CsvWriter(columns, state)
    if fmt is ExportFormat.JSON:
        return JsonArrayWriter(columns, state)
    if fmt is ExportFormat.JSONL:
        return JsonLinesWriter(columns, state)
    raise ValueError(f"no writer for {fmt}")


def file_extension(fmt: ExportFormat) -> str:
    return {ExportFormat.CSV: "csv", ExportFormat.JSON: "json", ExportFormat.JSONL: "jsonl"}[fmt]


def content_type(fmt: ExportFormat) -> str:
    return {
        ExportFormat.CSV: CsvWriter.content_type,
        ExportFormat.JSON: JsonArrayWriter.content_type,
        ExportFormat.JSONL: JsonLinesWriter.content_type,
    }[fmt]
