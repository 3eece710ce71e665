"""JSON (one array of objects) and JSON Lines, streamed with native types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson

from exports.formats.base import iso_date, iso_datetime
from exports.models import ColumnSpec


def _native(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return iso_date(value)
    return value


class _JsonBase:
    content_encoding: str | None = None

    def __init__(self, columns: Sequence[ColumnSpec], state: dict[str, Any]) -> None:
        self._names = [col.name for col in columns]
        self._rows_so_far = int(state.get("rows", 0))

    def _objects(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        names = self._names
        return [orjson.dumps({name: _native(value) for name, value in zip(names, row, strict=True)}) for row in rows]

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
