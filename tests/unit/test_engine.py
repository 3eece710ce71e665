"""The batch loop: where batches end, and blocks staged in the background."""

from __future__ import annotations

from typing import Any

import pytest

from exports.engine import BatchResult, ExportBatch, block_ids
from exports.formats.json_writer import JsonArrayWriter
from exports.models import ColumnSpec
from tests.support.fakes import FakeBlobSink

COLUMNS = [ColumnSpec(name="n", label="N", data_type="INTEGER")]


def units(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"key": f"{n:06d}", "n": n} for n in range(start, start + count)]


def run_batch(
    sink: FakeBlobSink, index: int, rows: list[dict[str, Any]], state: dict[str, Any], *, block_size: int = 64 * 1024
) -> tuple[BatchResult, dict[str, Any]]:
    writer = JsonArrayWriter(COLUMNS, state)
    batch = ExportBatch(
        blob_name="file.json",
        batch_index=index,
        writer=writer,
        sink=sink,
        build_rows=lambda unit: [[unit["n"]]],
        starts_file=index == 0,
        row_limit=100,
        chunk_rows=10,
        block_size=block_size,
        out_of_time=lambda: False,
    )
    return batch.run(rows), writer.state()


def export(sink: FakeBlobSink, total: int, *, block_size: int = 64 * 1024) -> tuple[bytes, list[int]]:
    parts: list[int] = []
    state: dict[str, Any] = {}
    after = -1
    while True:
        result, state = run_batch(sink, len(parts), units(total - after - 1, after + 1), state, block_size=block_size)
        parts.append(result.parts)
        if result.finished:
            break
        after = int(result.cursor or "0")
    sink.commit("file.json", block_ids(parts), content_type="application/json", content_disposition="attachment")
    return sink.blobs["file.json"], parts


def test_a_batch_that_reaches_the_end_of_the_source_exactly_finishes_the_file() -> None:
    data, parts = export(FakeBlobSink(), 200)
    assert len(parts) == 2, "two full batches, and no empty third one"
    assert data.startswith(b"[") and data.rstrip().endswith(b"]")


def test_the_file_is_the_same_wherever_the_batches_and_blocks_fall() -> None:
    one_block, _ = export(FakeBlobSink(), 250)
    many_blocks, parts = export(FakeBlobSink(), 250, block_size=64)
    assert sum(parts) > len(parts), "small blocks: several per batch"
    assert many_blocks == one_block


def test_an_upload_that_fails_in_the_background_fails_the_batch() -> None:
    sink = FakeBlobSink(fail_after_stages=2)
    with pytest.raises(ConnectionError):
        run_batch(sink, 0, units(100), {}, block_size=64)
