"""A fixed dataset of every column type and awkward value, and helpers to write it as a file."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from exports.formats import FormatOptions, writer_for
from exports.models import ColumnSpec, ExportFormat

COLUMNS = [
    ColumnSpec(name="text", label="Text", data_type="TEXT"),
    ColumnSpec(name="count", label="Count", data_type="INTEGER"),
    ColumnSpec(name="score", label="Score", data_type="NUMBER"),
    ColumnSpec(name="at", label="Happened At", data_type="DATETIME"),
    ColumnSpec(name="day", label="Day", data_type="DATE", format_pattern="YYYY-MM-DD"),
    ColumnSpec(name="ok", label="OK", data_type="BOOLEAN"),
    ColumnSpec(name="amount", label="Amount", data_type="CURRENCY", format_pattern="$#,##0.00"),
    ColumnSpec(name="share", label="Share", data_type="PERCENTAGE", format_pattern="0.0%"),
]
NAMES = [col.name for col in COLUMNS]

CET = timezone(timedelta(hours=1))
LONG_TEXT = "long " * 10_000  # 50,000 characters: more than an Excel cell holds

ROWS: list[list[Any]] = [
    [
        "Zoë 🎉 東京 Ünïcødé",
        1,
        3.25,
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        date(2024, 2, 29),
        True,
        Decimal("1234.50"),
        0.25,
    ],
    [
        'say "cheese", then leave',
        -7,
        -0.5,
        datetime(2024, 7, 1, 9, 30, tzinfo=CET),
        date(1900, 3, 1),
        False,
        Decimal("-99.99"),
        -0.125,
    ],
    ["line\nbreak and\r\nwindows break", None, None, None, None, None, None, None],
    [
        "00123",
        12_345_678_901_234,
        1.0e20,
        datetime(1899, 12, 31, 23, 0, tzinfo=UTC),
        date(1899, 12, 31),
        True,
        Decimal("0.01"),
        1.5,
    ],
    [
        LONG_TEXT,
        -9_007_199_254_740_991,
        -1.5e-10,
        datetime(2000, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC),
        date(9999, 12, 31),
        False,
        1_000_000,
        0.0,
    ],
    ["  spaces around  ", 0, 0.1, datetime(1900, 3, 1, tzinfo=UTC), date(2024, 12, 31), None, Decimal("0.00"), 1.0],
    [
        "tab\tinside; semi;colon",
        2_147_483_648,
        123456.789,
        datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC),
        date(1970, 1, 1),
        True,
        12.34,
        0.333,
    ],
    ["", None, None, None, None, None, None, None],
]


def chunks(rows: Sequence[Sequence[Any]], size: int) -> list[list[Sequence[Any]]]:
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def write_file(
    fmt: ExportFormat,
    rows: Sequence[Sequence[Any]] = ROWS,
    *,
    columns: Sequence[ColumnSpec] = COLUMNS,
    options: FormatOptions | None = None,
    chunk_rows: int = 2,
    cuts: Sequence[int] = (),
) -> bytes:
    """Writes `rows` as the engine does: one write() per chunk, a fresh writer per batch.

    `cuts` are the chunk indexes where a new batch (a new worker invocation) starts; the state passes
    between batches through JSON, as it does through the job record.
    """
    output = b""
    state: dict[str, Any] = {}
    parts = chunks(rows, chunk_rows)
    starts = [0, *sorted(set(cuts)), len(parts)]
    batches = list(itertools.pairwise(starts))
    for batch, (start, stop) in enumerate(batches):
        writer = writer_for(fmt, columns, state, options)
        if batch == 0:
            output += writer.begin()
        for chunk in parts[start:stop]:
            output += writer.write(chunk)
        if batch == len(batches) - 1:
            output += writer.end()
        state = json.loads(json.dumps(writer.state()))
    return output


def utc(value: datetime) -> datetime:
    """The instant as naive UTC, as Excel holds it."""
    return value.astimezone(UTC).replace(tzinfo=None)
