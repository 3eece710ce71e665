"""External merge sort for sorted exports, in memory bounded by bytes, not rows.

The counting stage turns each matching unit into one line: its sort key, encoded so that comparing the
bytes compares the keys, then the few properties its row needs (no entity dict is kept). It holds lines
until they take `EXPORTS_SORT_RUN_BYTES`, sorts them as bytes and writes them as a run. The exporting
stage merges the runs, one read window per run, the windows sharing `MERGE_BUFFER_BYTES`; its cursor is
the byte offset reached in every run, so a later invocation resumes the merge exactly where the last one
stopped.

A line is `escape(key) 0x00 payload`. `escape` keeps the order of keys and leaves no byte below 0x0B in
them, so a line holds no newline before its payload (JSON, whose text has none either) and the 0x00 after
the key sorts before any byte of a longer key: comparing whole lines compares their keys.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from exports.ports import KEY, RunStore

READ_SIZE = 256 * 1024
# What the merge's read windows take together: with more runs than this holds at READ_SIZE, each run's
# window shrinks, down to MIN_READ_SIZE (then the merge holds MIN_READ_SIZE a run: 1,024 runs in 16 MiB).
MERGE_BUFFER_BYTES = 16 * 1024 * 1024
MIN_READ_SIZE = 16 * 1024
CURSOR_PREFIX = "merge:"
SEPARATOR = b"\x00"
# What a held line costs beyond its bytes: the bytes object's header and the list's pointer to it.
LINE_OVERHEAD = 33 + 8

_ESCAPE = 0x0B
_LOW = [bytes([low]) for low in range(_ESCAPE)]
_INVERT = bytes(range(255, -1, -1))


def run_name(prefix: str, job_blob: str, index: int) -> str:
    return f"{prefix}/{job_blob}/{index:05d}.jsonl"


def write_run(store: RunStore, name: str, lines: list[bytes]) -> None:
    """Sorts the lines and writes them as one run; empties `lines`, so only the run's bytes stay held."""
    lines.sort()
    lines.append(b"")  # the last line's newline, without copying the whole run once more
    data = b"\n".join(lines)
    lines.clear()
    store.write(name, data)


# ---- order-preserving keys ---------------------------------------------------------------------------


def escape(key: bytes) -> bytes:
    """The key without bytes below 0x0B: each such byte becomes 0x0B, 0x40 + byte (0x0B itself too).

    Byte for byte a prefix code that keeps the order of bytes (0x0B 0x4x sorts below every byte it leaves
    as it is), so escaped keys compare as the keys do.
    """
    key = key.replace(b"\x0b", b"\x0b\x4b")
    for low, byte in enumerate(_LOW):
        key = key.replace(byte, bytes((_ESCAPE, 0x40 + low)))
    return key


def text_key(text: str) -> bytes:
    """Text in code point order (Python's), closed by 0x00 0x00 so that no text's key begins another's."""
    return text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\x01") + b"\x00\x00"


def int_key(value: int) -> bytes:
    """An integer of any size in numeric order: sign, length of the magnitude, magnitude (inverted if negative)."""
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "big")
    if value >= 0:
        return b"\x01" + len(magnitude).to_bytes(4, "big") + magnitude
    return b"\x00" + (0xFFFFFFFF - len(magnitude)).to_bytes(4, "big") + magnitude.translate(_INVERT)


def descending(key: bytes) -> bytes:
    """The reverse order, for keys none of which begins another (those above)."""
    return key.translate(_INVERT)


def run_line(key: bytes, payload: bytes) -> bytes:
    return escape(key) + SEPARATOR + payload


def split_run_line(line: bytes) -> tuple[bytes, bytes]:
    """A line's (escaped) key and its payload."""
    key, _, payload = line.partition(SEPARATOR)
    return key, payload


# ---- the merge ---------------------------------------------------------------------------------------


class RunReader:
    """Reads one run line by line from a byte offset, a window at a time."""

    def __init__(self, store: RunStore, name: str, offset: int, read_size: int = READ_SIZE) -> None:
        self._store, self._name = store, name
        self._read_size = read_size
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
            chunk = self._store.read(self._name, self._position + len(rest), self._read_size)
            if len(chunk) < self._read_size:
                self._done = True
            self._buffer_start = self._position
            self._buffer = rest + chunk


def read_size_for(runs: int) -> int:
    """Each run's read window, so that all of them stay within MERGE_BUFFER_BYTES (but not below MIN_READ_SIZE)."""
    return max(MIN_READ_SIZE, min(READ_SIZE, MERGE_BUFFER_BYTES // max(1, runs)))


def merge(
    store: RunStore,
    names: Sequence[str],
    cursor: str | None,
    split: Callable[[bytes], tuple[bytes, bytes]],
    decode: Callable[[bytes], dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """Units in global sort order; each carries the merge cursor that resumes right after it.

    `split` gives a line's key and payload, `decode` the unit of a payload: only the unit being written
    is decoded, the heap holds one key and payload a run.
    """
    offsets = orjson.loads(cursor[len(CURSOR_PREFIX) :]) if cursor else [0] * len(names)
    read_size = read_size_for(len(names))
    readers = [RunReader(store, name, offset, read_size) for name, offset in zip(names, offsets, strict=True)]
    positions = list(offsets)
    heap: list[tuple[bytes, int, bytes, int]] = []
    for index, reader in enumerate(readers):
        _push(heap, reader, index, split)
    while heap:
        _, index, payload, end = heapq.heappop(heap)
        positions[index] = end
        _push(heap, readers[index], index, split)
        yield {KEY: CURSOR_PREFIX + orjson.dumps(positions).decode(), "entity": decode(payload)}


def _push(
    heap: list[tuple[bytes, int, bytes, int]],
    reader: RunReader,
    index: int,
    split: Callable[[bytes], tuple[bytes, bytes]],
) -> None:
    line = reader.next_line()
    if line is not None:
        key, payload = split(line)
        heapq.heappush(heap, (key, index, payload, reader.position))
