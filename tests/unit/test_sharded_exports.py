"""Sharded exports: key ranges written by separate message chains, committed as one file."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from datetime import timedelta
from typing import Any

import openpyxl
import orjson
import pytest

from exports.formats import xlsx_writer
from exports.models import CreateExportRequest, JobStatus, WorkMessage, manifest_blob_name
from shared.auth import Principal
from shared.errors import BadMessage
from tests.unit.conftest import ORG_A, World, make_world


def request(fmt: str = "CSV", **fields: Any) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": fmt, **fields})


def export_bytes(world: World, analyst: Principal, body: CreateExportRequest, cases: int) -> tuple[bytes, Any]:
    world.load_cases(ORG_A, cases)
    job, _ = world.service.create(analyst, body)
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, stored
    return world.sink.blobs[job.blob_name], stored


@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
def test_a_sharded_export_writes_the_same_file_as_an_unsharded_one(analyst: Principal, fmt: str) -> None:
    expected, unsharded = export_bytes(make_world(max_shards=1), analyst, request(fmt), 3_500)
    actual, sharded = export_bytes(make_world(shard_rows=1_000), analyst, request(fmt), 3_500)
    assert unsharded.checkpoint.shards == []
    assert len(sharded.checkpoint.shards) == 4  # 1,000 + 1,000 + 1,000 + 500 rows
    assert [shard.rows for shard in sharded.checkpoint.shards] == [1_000, 1_000, 1_000, 500]
    assert actual == expected
    assert sharded.total_rows == sharded.processed_rows == 3_500 and sharded.progress == 100


def test_shards_that_run_in_any_order_and_twice_still_make_the_same_file(analyst: Principal) -> None:
    expected, _ = export_bytes(make_world(max_shards=1), analyst, request(), 4_600)

    world = make_world(shard_rows=2_000)  # shards of 2,000, 2,000 and 600 rows, batches of 1,000
    world.load_cases(ORG_A, 4_600)
    job, _ = world.service.create(analyst, request())
    delivered = world.drain_shuffled_twice(seed=6)
    assert len(delivered) == 1 + 2 + 2 + 1  # counting, then each shard's batches
    assert world.sink.blobs[job.blob_name] == expected


def test_a_source_that_ends_on_a_shard_bound_makes_no_empty_shard(world: World, analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    _, job = export_bytes(world, analyst, request(), 2_000)
    assert [shard.rows for shard in job.checkpoint.shards] == [1_000, 1_000]


def test_neighbouring_shards_merge_so_their_number_stays_bounded(analyst: Principal) -> None:
    expected, _ = export_bytes(make_world(max_shards=1), analyst, request(), 9_500)
    actual, job = export_bytes(make_world(shard_rows=1_000, max_shards=4), analyst, request(), 9_500)
    assert job.checkpoint.shard_size == 4_000
    assert [shard.rows for shard in job.checkpoint.shards] == [4_000, 4_000, 1_500]
    assert actual == expected


def test_a_per_record_export_is_not_sharded(analyst: Principal) -> None:
    # Its count is of records, so where a shard's rows start is not known from a count of keys.
    body = request("CSV", exportType="INVESTIGATIONS_ONLY")
    _, job = export_bytes(make_world(shard_rows=1_000), analyst, body, 2_500)
    assert job.checkpoint.shards == []


def test_a_lost_shard_message_is_redriven_by_the_timer(world: World, analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    expected, _ = export_bytes(make_world(max_shards=1), analyst, request(), 2_500)
    world.load_cases(ORG_A, 2_500)
    job, _ = world.service.create(analyst, request())
    world.step()  # counting: one message per shard
    assert sorted(message.shard for message in world.queue.messages if message.shard is not None) == [0, 1, 2]
    world.queue.messages.pop(1)  # shard 1's message is lost
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.RUNNING
    world.clock.advance(timedelta(minutes=20))
    assert world.service.redrive_stalled() == 1
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.COMPLETED
    assert world.sink.blobs[job.blob_name] == expected


def test_cancelling_a_sharded_export_stops_every_shard(world: World, analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, request())
    world.step()
    world.step()
    world.service.cancel(analyst, job.job_id)
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.CANCELLED
    assert job.blob_name not in world.sink.blobs


def test_progress_of_a_sharded_export_sums_its_shards(world: World, analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, request())
    world.step()
    world.step()
    world.step()
    view = world.service.get(analyst, job.job_id)
    assert (view.total_rows, view.processed_rows, view.progress) == (3_000, 2_000, 66)


def test_a_stale_shard_message_redrives_its_shard_once_the_job_stopped_moving(analyst: Principal) -> None:
    world = make_world(shard_rows=2_000)
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, request())
    world.step()  # counting: shards of 2,000 and 1,000 rows
    first = next(message for message in world.queue.messages if message.shard == 0)
    world.queue.messages.remove(first)
    world.service.run_step(first)
    world.queue.messages = [m for m in world.queue.messages if m.shard != 0]  # shard 0's next step was lost
    world.service.run_step(first)
    assert [m.shard for m in world.queue.messages] == [1], "a job that is moving is left alone"
    world.clock.advance(timedelta(minutes=5))
    world.service.run_step(first)
    assert [(m.shard, m.seq) for m in world.queue.messages] == [(1, 0), (0, 1)]
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.COMPLETED


def test_a_message_naming_a_shard_the_export_does_not_have_is_a_bad_message(analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    world.load_cases(ORG_A, 2_500)
    job, _ = world.service.create(analyst, request())
    world.step()  # counting: three shards
    before = world.jobs.get(ORG_A, job.job_id)
    with pytest.raises(BadMessage, match=r"names shard 3 of export .* which has 3"):
        world.service.run_step(WorkMessage(org_id=ORG_A, job_id=job.job_id, seq=0, shard=3))
    assert world.jobs.get(ORG_A, job.job_id) == before, "the job is left exactly as it was"
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.COMPLETED


def test_a_shard_message_for_an_export_that_is_not_sharded_is_a_bad_message(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 100)
    job, _ = world.service.create(analyst, request())
    with pytest.raises(BadMessage, match=r"names shard 0 of export .* which has 0"):
        world.service.run_step(WorkMessage(org_id=ORG_A, job_id=job.job_id, seq=0, shard=0))
    assert world.service.get(analyst, job.job_id).status is JobStatus.QUEUED


def export_with_broken_cases(world: World, analyst: Principal, broken: list[int], *, shuffled: bool) -> Any:
    entities = world.load_cases(ORG_A, 4_600)
    world.source.add("cases", [dict(entities[n], CreatedAt=f"not a date {n}") for n in broken])
    job, _ = world.service.create(analyst, request())
    if shuffled:
        world.drain_shuffled_twice(seed=9)
    else:
        world.drain()
    return world.service.get(analyst, job.job_id), world.sink.blobs[job.blob_name], world.jobs.get(ORG_A, job.job_id)


def test_warnings_of_shards_run_in_any_order_and_twice_are_those_of_an_unsharded_export(analyst: Principal) -> None:
    # Shards of 2,000, 2,000 and 600 cases; the later shards' warnings come first in time when shuffled.
    broken = [3, 150, 1_999, 2_000, 2_001, *range(2_500, 2_520), 4_599]
    expected_view, expected_file, _ = export_with_broken_cases(
        make_world(max_shards=1), analyst, broken, shuffled=False
    )
    view, file, stored = export_with_broken_cases(make_world(shard_rows=2_000), analyst, broken, shuffled=True)

    assert stored is not None and len(stored.checkpoint.shards) == 3
    assert [shard.warnings for shard in stored.checkpoint.shards] == [3, 22, 1]
    assert view.status is JobStatus.COMPLETED and file == expected_file
    assert view.warnings == expected_view.warnings == len(broken)
    assert view.warning_samples == expected_view.warning_samples
    assert [sample.record for sample in view.warning_samples] == [f"{n + 1:010d}" for n in broken[:10]]
    # The checkpoint holds no more samples than the job shows, whatever the number of shards.
    assert sum(len(shard.warning_samples) for shard in stored.checkpoint.shards) == 10


# ---- every format in shards --------------------------------------------------------------------------

FORMATS = {
    "csv": request("CSV"),
    "jsonl": request("JSONL"),
    "json": request("JSON"),
    "csv-gzip": request("CSV", compression="gzip"),
    "jsonl-gzip": request("JSONL", compression="gzip"),
    "json-gzip": request("JSON", compression="gzip"),
    "xlsx": request("XLSX"),
}


def shuffled_export(
    world: World, analyst: Principal, body: CreateExportRequest, cases: int, seed: int
) -> tuple[bytes, Any]:
    world.load_cases(ORG_A, cases)
    job, _ = world.service.create(analyst, body)
    world.drain_shuffled_twice(seed=seed)
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, stored
    return world.sink.blobs[job.blob_name], stored


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("seed", [1, 2])
def test_every_format_sharded_and_run_in_any_order_and_twice_writes_the_unsharded_file(
    analyst: Principal, name: str, seed: int
) -> None:
    expected, _ = export_bytes(make_world(max_shards=1), analyst, FORMATS[name], 3_500)
    world = make_world(shard_rows=1_000)
    actual, job = shuffled_export(world, analyst, FORMATS[name], 3_500, seed)
    assert [shard.rows for shard in job.checkpoint.shards] == [1_000, 1_000, 1_000, 500]
    assert job.checkpoint.shards_dropped == 0, "joined as written, not written again as one chain"
    assert actual == expected
    manifest = orjson.loads(world.sink.blobs[manifest_blob_name(job)])
    assert job.file_sha256 == hashlib.sha256(actual).hexdigest() == manifest["file"]["sha256"]
    assert manifest["file"]["sizeBytes"] == len(actual)


def test_a_sharded_gzip_file_is_one_member_with_every_row(analyst: Principal) -> None:
    plain, _ = export_bytes(make_world(max_shards=1), analyst, request("JSON"), 3_500)
    packed, _ = export_bytes(make_world(shard_rows=1_000), analyst, request("JSON", compression="gzip"), 3_500)
    assert gzip.decompress(packed) == plain
    assert zlib.decompress(packed, wbits=31) == plain  # one member: zlib stops at the first member's end


@pytest.mark.parametrize("sheet_rows", [701, 1_001, 1_500], ids=["inside-shards", "on-shard-bounds", "one-crossing"])
def test_a_sharded_xlsx_splits_sheets_where_an_unsharded_one_does(
    analyst: Principal, monkeypatch: pytest.MonkeyPatch, sheet_rows: int
) -> None:
    monkeypatch.setattr(xlsx_writer, "MAX_SHEET_ROWS", sheet_rows)
    expected, _ = export_bytes(make_world(max_shards=1), analyst, request("XLSX"), 3_500)
    actual, job = shuffled_export(make_world(shard_rows=1_000), analyst, request("XLSX"), 3_500, seed=4)
    assert len(job.checkpoint.shards) == 4
    assert actual == expected
    workbook = openpyxl.load_workbook(io.BytesIO(actual), read_only=True)
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets]
    assert len(sheets) == -(-3_500 // (sheet_rows - 1))
    assert all(rows[0] == sheets[0][0] for rows in sheets), "every sheet has the header row"
    assert sum(len(rows) - 1 for rows in sheets) == 3_500
    workbook.close()


def delete_cases(world: World, numbers: range) -> None:
    """Deletes cases (1-based, in key order) from the source, as another user could while an export runs."""
    partitions = world.source.tables["cases"]
    for partition in partitions.values():
        for key in [f"{n:010d}" for n in numbers]:
            partition.pop(key, None)


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("deleted", [range(1, 1_001), range(1_001, 2_001), range(1_001, 1_501)],
                         ids=["first-shard-empty", "middle-shard-empty", "shard-shorter"])
def test_shards_of_a_source_that_changed_after_counting_still_make_the_unsharded_file(
    analyst: Principal, name: str, deleted: range
) -> None:
    reference = make_world(max_shards=1)
    reference.load_cases(ORG_A, 3_500)
    delete_cases(reference, deleted)
    job, _ = reference.service.create(analyst, FORMATS[name])
    reference.drain()
    expected = reference.sink.blobs[job.blob_name]

    world = make_world(shard_rows=1_000)
    world.load_cases(ORG_A, 3_500)
    job, _ = world.service.create(analyst, FORMATS[name])
    world.step()  # counted: four shards of 1,000, 1,000, 1,000 and 500 cases
    delete_cases(world, deleted)
    world.drain_shuffled_twice(seed=5)
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, stored
    assert world.sink.blobs[job.blob_name] == expected
    assert stored.file_sha256 == hashlib.sha256(expected).hexdigest()
    # Only where the count shows in a shard's bytes (XLSX row numbers, gzip JSON's first comma) is the
    # export written again as one chain; every other format joins its shards as they are.
    rewritten = name == "xlsx" or (name == "json-gzip" and deleted.start == 1)
    assert stored.checkpoint.shards_dropped == (4 if rewritten else 0)
    assert len(stored.checkpoint.shards) == (0 if rewritten else 4)


def test_a_late_shard_message_after_the_export_went_on_as_one_chain_is_stale(analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    world.load_cases(ORG_A, 2_500)
    job, _ = world.service.create(analyst, request("XLSX"))
    world.step()  # counted: three shards
    delete_cases(world, range(1, 11))  # shard 1 no longer starts at row 1,001
    late = next(message for message in world.queue.messages if message.shard == 2)
    while not world.jobs.get(ORG_A, job.job_id).checkpoint.shards_dropped:  # type: ignore[union-attr]
        world.step()
    restarted = world.jobs.get(ORG_A, job.job_id)
    assert restarted is not None and restarted.status is JobStatus.RUNNING and restarted.checkpoint.shards == []
    world.service.run_step(late)  # no bad message: a copy of a step the export is past
    assert world.jobs.get(ORG_A, job.job_id) == restarted
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.total_rows == 2_490
