"""gzip around any text writer, built chunk by chunk: header, full-flushed deflate chunks, trailer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exports.formats.base import FormatWriter
from exports.formats.deflate import GZIP_HEADER, Crc, gzip_trailer


class GzipWriter:
    """A gzip member (RFC 1952) holding the inner writer's bytes; resumes from `state()` alone.

    Deterministic: mtime 0, no file name, a fresh compressor per chunk. `gzip.decompress` and `zcat`
    read it as one member.
    """

    content_type = "application/gzip"
    content_encoding: str | None = None

    def __init__(self, inner: FormatWriter, state: dict[str, Any]) -> None:
        """`inner` was restored from `state["inner"]`; this writer keeps its own part under "gzip"."""
        self._inner = inner
        self._crc = Crc.load(state.get("gzip"))
        self.extension = f"{inner.extension}.gz"

    def begin(self) -> bytes:
        return GZIP_HEADER + self._crc.deflate(self._inner.begin())

    def write(self, rows: Sequence[Sequence[Any]]) -> bytes:
        return self._crc.deflate(self._inner.write(rows))

    def end(self) -> bytes:
        body = self._crc.deflate(self._inner.end())
        return body + self._crc.finish() + gzip_trailer(self._crc)

    def state(self) -> dict[str, Any]:
        return {"inner": self._inner.state(), "gzip": self._crc.dump()}
