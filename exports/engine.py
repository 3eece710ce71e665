"""The batch loop: read rows -> build cells -> format -> stage blocks. Pure: ports only, no Azure."""

from __future__ import annotations

import base64
import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from exports.digest import FileDigest
from exports.formats.base import FormatWriter
from exports.ports import KEY, BlobSink

Entity = dict[str, Any]


def block_id(batch_index: int, part: int, shard: int | None = None) -> str:
    """Deterministic, equal-length ids (Blob storage requires one length per blob), in file order.

    A sharded export prefixes every id with its shard, so all ids of its blob are again one length.
    """
    name = f"{batch_index:07d}-{part:05d}" if shard is None else f"{shard:04d}-{batch_index:07d}-{part:05d}"
    return base64.b64encode(name.encode()).decode("ascii")


def block_ids(parts_per_batch: Sequence[int], shard: int | None = None) -> list[str]:
    return [block_id(batch, part, shard) for batch, count in enumerate(parts_per_batch) for part in range(count)]


def joining_block_id(shard: int, kind: str, number: int = 0) -> str:
    """A block the finalizing step of a sharded export stages (`kind` of at most 6 letters, in shard
    `shard`): the same length as `block_id(…, shard)`, never equal to one (a letter where it has digits)."""
    return base64.b64encode(f"{shard:04d}-x{kind:_<6}-{number:05d}".encode()).decode("ascii")


@dataclass
class BatchResult:
    rows: int = 0
    bytes_staged: int = 0
    parts: int = 0
    cursor: str | None = None
    finished: bool = False
    # Shards of an XLSX: after how many of this batch's parts a block the finalizing step stages belongs.
    holes: list[int] = field(default_factory=list)


@dataclass
class ExportBatch:
    """One bounded batch of one export; everything it needs comes from the job's checkpoint.

    `row_limit` and `chunk_rows` count source units; `BatchResult.rows` counts output rows.
    Blocks are staged by one background thread while the next block is formatted (at most one block
    in flight, so memory stays at about two blocks); the batch returns only once every block is staged.
    """

    blob_name: str
    batch_index: int
    writer: FormatWriter
    sink: BlobSink
    build_rows: Callable[[Entity], Sequence[Sequence[Any]]]
    starts_file: bool
    row_limit: int
    chunk_rows: int
    block_size: int
    out_of_time: Callable[[], bool]
    # A shard other than the last one stops at its key range's end without ending the file.
    ends_file: bool = True
    shard: int | None = None
    # The file's running SHA-256, fed every staged block in file order; None where the blocks are not
    # staged in file order (shards), whose file is hashed once committed.
    digest: FileDigest | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _result: BatchResult = field(default_factory=BatchResult)
    _uploader: ThreadPoolExecutor | None = None
    _in_flight: Future[None] | None = None

    def run(self, units: Iterable[Entity]) -> BatchResult:
        """Consumes source units (a case, a ticket: one or more output rows each) in key order."""
        self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-block")
        try:
            result = self._run(units)
            self._wait_for_upload()
            return result
        finally:
            self._uploader.shutdown(wait=True)
            self._uploader = None

    def _run(self, units: Iterable[Entity]) -> BatchResult:
        if self.starts_file:
            self._append(self.writer.begin())
        chunk: list[Sequence[Any]] = []
        units_in_chunk = 0
        units_done = 0
        finished = True
        remaining = iter(units)
        for unit in remaining:
            chunk.extend(self.build_rows(unit))
            units_in_chunk += 1
            self._result.cursor = str(unit[KEY])
            if units_in_chunk == self.chunk_rows:
                self._write(chunk)
                units_done += units_in_chunk
                chunk, units_in_chunk = [], 0
                # Cut only at whole chunks, so the bytes never depend on where a batch ended.
                if units_done >= self.row_limit or self.out_of_time():
                    # A batch that stops exactly where the source ends finishes the file now: the same
                    # bytes as an empty next batch would add, one queue step sooner.
                    finished = next(remaining, None) is None
                    break
        if finished:
            if chunk:
                self._write(chunk)
            if self.ends_file:
                self._append(self.writer.end())
            self._result.finished = True
        self._stage()
        return self._result

    def _write(self, chunk: list[Sequence[Any]]) -> None:
        self._append(self.writer.write(chunk))
        self._result.rows += len(chunk)
        if len(self._buffer) >= self.block_size:
            self._stage()

    def _append(self, data: bytes) -> None:
        """Buffers a writer's bytes; where the writer leaves a hole (`take_cuts`), the block ends there."""
        take_cuts = getattr(self.writer, "take_cuts", None)
        start = 0
        for cut in take_cuts() if take_cuts is not None else ():
            self._buffer += data[start:cut]
            self._stage()
            self._result.holes.append(self._result.parts)
            start = cut
        self._buffer += data[start:] if start else data

    def _stage(self) -> None:
        if not self._buffer:
            return
        self._wait_for_upload()
        data = bytes(self._buffer)
        name = block_id(self.batch_index, self._result.parts, self.shard)
        if self.digest is not None:
            self.digest.update(data)
        if self._uploader is None:
            self.sink.stage(self.blob_name, name, data)
        else:
            # In the batch's context, so the upload's log lines carry the job, organization and step.
            stage = contextvars.copy_context().run
            self._in_flight = self._uploader.submit(stage, self.sink.stage, self.blob_name, name, data)
        self._result.parts += 1
        self._result.bytes_staged += len(self._buffer)
        self._buffer = bytearray()

    def _wait_for_upload(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()  # raises the upload's error here, in the batch
