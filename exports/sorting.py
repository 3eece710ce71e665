"""External merge sort for sorted exports, with memory bounded by one batch and one buffer per run.

The counting stage reads the matching units batch by batch, sorts each batch in memory and writes it
as a run (JSON lines). The exporting stage merges the runs; its cursor is the byte offset reached in
every run, so a later invocation resumes the merge exactly where the last one stopped.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from exports.ports import KEY, RunStore

READ_SIZE = 256 * 1024
CURSOR_PREFIX = "merge:"


def run_name(prefix: str, job_blob: str, index: int) -> str:
    return f"{prefix}/{job_blob}/{index:05d}.jsonl"


def write_run(store: RunStore, name: str, lines: Sequence[bytes]) -> None:
    store.write(name, b"".join(line + b"\n" for line in lines))


class RunReader:
    """Reads one run line by line from a byte offset, a buffer at a time."""

    def __init__(self, store: RunStore, name: str, offset: int) -> None:
        self._store, self._name = store, name
        self._buffer = b""
        self._buffer_start = offset
        self._position = offset  # offset of the next unread line
        self._done = False

    @property
    def position(self) -> int:
        return self._position

    def next_line(self) -> bytes | None:
        while True:
            cut = self._buffer.find(b"\n", self._position - self._buffer_start)
            if cut >= 0:
                start = self._position - self._buffer_start
                line = self._buffer[start:cut]
                self._position = self._buffer_start + cut + 1
                return line
            if self._done:
                return None
            rest = self._buffer[self._position - self._buffer_start :]
            chunk = self._store.read(self._name, self._position + len(rest), READ_SIZE)
            if len(chunk) < READ_SIZE:
                self._done = True
            self._buffer_start = self._position
            self._buffer = rest + chunk


def merge(
    store: RunStore,
    names: Sequence[str],
    cursor: str | None,
    decode: Callable[[bytes], dict[str, Any]],
    sort_key: Callable[[dict[str, Any]], Any],
) -> Iterator[dict[str, Any]]:
    """Units in global sort order; each carries the merge cursor that resumes right after it."""
    offsets = orjson.loads(cursor[len(CURSOR_PREFIX) :]) if cursor else [0] * len(names)
    readers = [RunReader(store, name, offset) for name, offset in zip(names, offsets, strict=True)]
    positions = list(offsets)
    heap: list[tuple[Any, int, dict[str, Any], int]] = []
    for index, reader in enumerate(readers):
        _push(heap, reader, index, decode, sort_key)
    while heap:
        _, index, entity, end = heapq.heappop(heap)
        positions[index] = end
        _push(heap, readers[index], index, decode, sort_key)
        yield {KEY: CURSOR_PREFIX + orjson.dumps(positions).decode(), "entity": entity}


def _push(
    heap: list[tuple[Any, int, dict[str, Any], int]],
    reader: RunReader,
    index: int,
    decode: Callable[[bytes], dict[str, Any]],
    sort_key: Callable[[dict[str, Any]], Any],
) -> None:
    line = reader.next_line()
    if line is not None:
        entity = decode(line)
        heapq.heappush(heap, (sort_key(entity), index, entity, reader.position))
