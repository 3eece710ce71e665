"""The streaming writer interface every format implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol


class FormatWriter(Protocol):
    """Turns rows into bytes, chunk by chunk, across invocations that share only `state()`.

    `begin()` is called once per file, `write()` for every chunk of rows, `end()` once after the last.
    The bytes of a chunk depend only on the rows and the state at its start, never on how the
    chunks were grouped into batches, so a resumed export is byte-identical to an undisturbed one.
    """

    content_type: str
    extension: str
    content_encoding: str | None

    def begin(self) -> bytes: ...

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes: ...

    def end(self) -> bytes: ...

    def state(self) -> dict[str, Any]: ...


def iso_datetime(value: datetime, zone: tzinfo = UTC) -> str:
    """The instant in ISO 8601 with `zone`'s offset at that instant; in UTC (the default) with a `Z`.

    A naive value is taken to be UTC already. Only the zone UTC writes `Z`: another zone at offset zero
    (Europe/London in winter) writes `+00:00`, which says the offset is that zone's, not UTC's.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if zone is UTC:
        text = value.astimezone(UTC).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value.astimezone(zone).isoformat()


def iso_date(value: date) -> str:
    return value.isoformat()
