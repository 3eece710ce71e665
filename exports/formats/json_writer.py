"""JSON (one array of objects) and JSON Lines, streamed with native types.

Numbers are JSON numbers (a Decimal keeps its exact digits, an integer beyond 64 bits too), booleans
are booleans, a missing value is null (so is a NaN or infinite float, which JSON cannot hold), and
DATETIME / DATE are ISO 8601 strings, a time with the export zone's offset at that instant
(`2024-02-29T23:59:59Z` in UTC, `2024-03-01T00:59:59+01:00` in Europe/Paris; `2024-02-29`). Keys are column
names. No formula neutralisation: JSON is not opened by spreadsheets as formulas.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

import orjson

from exports.formats.base import iso_date, iso_datetime
from exports.models import ColumnSpec

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def _native(value: Any, zone: tzinfo = UTC) -> Any:
    if isinstance(value, datetime):
        return iso_datetime(value, zone)
    if isinstance(value, date):
        return iso_date(value)
    if type(value) is int and not _INT64_MIN <= value <= _UINT64_MAX:
        return orjson.Fragment(str(value))
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # All its digits, never an exponent: `Decimal("0.00001")` is `0.00001`, not `1E-5`.
        return orjson.Fragment(format(value, "f")) if value.is_finite() else None
    raise TypeError(f"{type(value).__name__} is not a JSON value")


class _JsonBase:
    content_encoding: str | None = None

    def __init__(self, columns: Sequence[ColumnSpec], state: dict[str, Any], *, zone: tzinfo = UTC) -> None:
        self._names = [col.name for col in columns]
        self._zone = zone
        self._rows_so_far = int(state.get("rows", 0))

    def _objects(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        names, zone = self._names, self._zone
        return [
            orjson.dumps({name: _native(value, zone) for name, value in zip(names, row, strict=True)}, default=_default)
            for row in rows
        ]

    def state(self) -> dict[str, Any]:
        return {"rows": self._rows_so_far}


class JsonArrayWriter(_JsonBase):
    content_type = "application/json"
    extension = "json"

    def begin(self) -> bytes:
        return b"["

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        if not rows:
            return b""
        body = b",\n".join(self._objects(rows))
        prefix = b"\n" if self._rows_so_far == 0 else b",\n"
        self._rows_so_far += len(rows)
        return prefix + body

    def end(self) -> bytes:
        return b"\n]\n" if self._rows_so_far else b"]\n"


class JsonLinesWriter(_JsonBase):
    content_type = "application/x-ndjson"
    extension = "jsonl"

    def begin(self) -> bytes:
        return b""

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        self._rows_so_far += len(rows)
        return b"".join(obj + b"\n" for obj in self._objects(rows))

    def end(self) -> bytes:
        return b""
