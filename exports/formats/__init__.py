"""One streaming writer per export format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exports.dates import zone_named
from exports.formats.base import FormatWriter
from exports.formats.csv_writer import CsvWriter
from exports.formats.gzip_writer import GzipWriter
from exports.formats.json_writer import JsonArrayWriter, JsonLinesWriter
from exports.formats.xlsx_writer import XlsxWriter
from exports.models import ColumnSpec, Compression, CreateExportRequest, ExportFormat


@dataclass(frozen=True)
class FormatOptions:
    """The file options of one export, snapshotted with its request."""

    csv_bom: bool = True
    csv_delimiter: str = ","
    compression: Compression = Compression.NONE
    neutralize_formulas: bool = True
    # The IANA zone times are written in (exports/dates.py `zone_named`); from the request, so every batch has it.
    time_zone: str = "UTC"

    @classmethod
    def of(cls, request: CreateExportRequest) -> FormatOptions:
        return cls(
            csv_bom=request.csv_bom,
            csv_delimiter=request.csv_delimiter,
            compression=request.compression,
            neutralize_formulas=request.neutralize_formulas,
            time_zone=request.time_zone,
        )


def writer_for(
    fmt: ExportFormat, columns: Sequence[ColumnSpec], state: dict[str, Any], options: FormatOptions | None = None
) -> FormatWriter:
    """The writer for one batch, restored from the state the previous batch left (`{}` for the first)."""
    options = options or FormatOptions()
    if options.compression is Compression.GZIP:
        if fmt is ExportFormat.XLSX:
            raise ValueError("XLSX is already compressed; gzip applies to CSV, JSON and JSONL")
        return GzipWriter(_plain_writer(fmt, columns, state.get("inner", {}), options), state)
    return _plain_writer(fmt, columns, state, options)


def _plain_writer(
    fmt: ExportFormat, columns: Sequence[ColumnSpec], state: dict[str, Any], options: FormatOptions
) -> FormatWriter:
    zone = zone_named(options.time_zone)
    if fmt is ExportFormat.CSV:
        return CsvWriter(
            columns,
            state,
            bom=options.csv_bom,
            delimiter=options.csv_delimiter,
            neutralize_formulas=options.neutralize_formulas,
            zone=zone,
        )
    if fmt is ExportFormat.XLSX:
        return XlsxWriter(columns, state, neutralize_formulas=options.neutralize_formulas, zone=zone)
    if fmt is ExportFormat.JSON:
        return JsonArrayWriter(columns, state, zone=zone)
    if fmt is ExportFormat.JSONL:
        return JsonLinesWriter(columns, state, zone=zone)
    raise ValueError(f"no writer for {fmt}")


def file_extension(fmt: ExportFormat, options: FormatOptions | None = None) -> str:
    base = {ExportFormat.CSV: "csv", ExportFormat.XLSX: "xlsx", ExportFormat.JSON: "json", ExportFormat.JSONL: "jsonl"}
    extension = base[fmt]
    if options is not None and options.compression is Compression.GZIP:
        extension += ".gz"
    return extension


def content_type(fmt: ExportFormat, options: FormatOptions | None = None) -> str:
    if options is not None and options.compression is Compression.GZIP:
        return "application/gzip"
    return {
        ExportFormat.CSV: CsvWriter.content_type,
        ExportFormat.XLSX: XlsxWriter.content_type,
        ExportFormat.JSON: JsonArrayWriter.content_type,
        ExportFormat.JSONL: JsonLinesWriter.content_type,
    }[fmt]
