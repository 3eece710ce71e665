"""Every completed export has a manifest: the file's SHA-256 as downloaded, what was asked for, and its rows."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import orjson
import pytest

from exports import job_writer
from exports.digest import FileDigest
from exports.models import CreateExportRequest, ExportJob, JobStatus, JobView, manifest_blob_name
from shared.auth import MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import Conflict, Forbidden
from tests.unit.conftest import ORG_A, World, make_world


def request(fmt: str = "CSV", **fields: Any) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": fmt, **fields})


def completed(world: World, analyst: Principal, body: CreateExportRequest, cases: int = 2_500) -> ExportJob:
    world.load_cases(ORG_A, cases)
    job, _ = world.service.create(analyst, body)
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, stored
    return stored


def manifest_of(world: World, job: ExportJob) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(world.sink.blobs[manifest_blob_name(job)])
    return document


# ---- the resumable hash ------------------------------------------------------------------------------


def test_a_hash_carried_through_saved_states_at_any_split_equals_hashlib() -> None:
    data = random.Random(7).randbytes(10_000)
    for cuts in ([0], [1, 63, 64, 65], [500, 4_096, 9_999], list(range(0, 10_000, 777))):
        digest, start = FileDigest(), 0
        for cut in [*cuts, len(data)]:
            digest.update(data[start:cut])
            digest = FileDigest(digest.state())  # as if the next batch ran in another worker
            start = cut
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("state", ["not base64!", "c2hvcnQ="])
def test_a_saved_hash_state_that_is_not_one_is_refused(state: str) -> None:
    with pytest.raises(ValueError, match="not a saved SHA-256 state"):
        FileDigest(state)


# ---- the file's hash ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [request("CSV"), request("CSV", compression="gzip"), request("XLSX"), request("JSONL"), request("JSON")],
    ids=["csv", "gzip", "xlsx", "jsonl", "json"],
)
def test_the_manifest_holds_the_sha256_of_the_file_exactly_as_written(
    analyst: Principal, body: CreateExportRequest
) -> None:
    world = make_world()
    job = completed(world, analyst, body)
    file = world.sink.blobs[job.blob_name]
    assert len(job.checkpoint.parts) > 2  # several batches: the hash was carried from batch to batch
    assert manifest_of(world, job)["file"]["sha256"] == hashlib.sha256(file).hexdigest() == job.file_sha256
    assert manifest_of(world, job)["file"]["sizeBytes"] == len(file) == job.file_size_bytes


def test_an_unsharded_file_is_hashed_while_written_and_never_read_back(
    analyst: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world()

    def no_reading(*_: Any) -> bytes:
        raise AssertionError("the file was read back")

    monkeypatch.setattr(world.sink, "read", no_reading)
    job = completed(world, analyst, request())
    assert job.file_sha256 == hashlib.sha256(world.sink.blobs[job.blob_name]).hexdigest()


def test_a_resumed_export_has_the_hash_of_its_file(analyst: Principal) -> None:
    undisturbed = make_world()
    expected = completed(undisturbed, analyst, request())

    world = make_world()
    world.load_cases(ORG_A, 2_500)
    job, _ = world.service.create(analyst, request())
    world.step()  # counting
    world.step()  # the first batch
    world.sink.fail_after_stages = world.sink.stage_calls + 3  # a worker dies mid-batch, after staging blocks
    message = world.queue.pop()
    with pytest.raises(ConnectionError):
        world.service.run_step(message)
    world.service.run_step(message, attempt=2)  # the queue delivers the message again
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    file = world.sink.blobs[stored.blob_name]
    assert file == undisturbed.sink.blobs[expected.blob_name]
    assert stored.file_sha256 == expected.file_sha256 == hashlib.sha256(file).hexdigest()


@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
def test_a_sharded_export_is_hashed_from_its_committed_file(analyst: Principal, fmt: str) -> None:
    world = make_world(shard_rows=1_000)
    job = completed(world, analyst, request(fmt), 3_500)
    assert len(job.checkpoint.shards) == 4
    assert job.file_sha256 == hashlib.sha256(world.sink.blobs[job.blob_name]).hexdigest()


def test_reading_a_large_file_back_goes_on_in_steps_within_the_time_budget(
    analyst: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_writer, "HASH_READ_BYTES", 4_096)
    world = make_world(shard_rows=1_000)
    ticks = itertools.count()
    # Every look at the clock is a second later, so each finalizing step reads one range and stops.
    world.service.monotonic = lambda: float(next(ticks))
    world.service.settings = world.service.settings.model_copy(update={"batch_time_budget_seconds": 0.5})
    reads: list[int] = []
    read = world.sink.read

    def counted_read(blob_name: str, offset: int, length: int) -> bytes:
        reads.append(offset)
        return read(blob_name, offset, length)

    monkeypatch.setattr(world.sink, "read", counted_read)
    job = completed(world, analyst, request(), 3_000)
    file = world.sink.blobs[job.blob_name]
    assert len(file) > 10 * 4_096
    # One range per finalizing step, each step going on from the saved offset and hash state.
    assert reads == list(range(0, len(file), 4_096))
    assert job.file_sha256 == hashlib.sha256(file).hexdigest()
    assert job.checkpoint.sha256_state is None


# ---- the manifest --------------------------------------------------------------------------------------


def test_the_manifest_says_what_was_asked_for_by_whom_and_what_the_file_holds(analyst: Principal) -> None:
    world = make_world()
    body = request("CSV", dateRange={"start": "2024-01-01", "end": "2025-12-31"}, callbackUrl=None)
    job = completed(world, analyst, body, 1_200)
    manifest = manifest_of(world, job)
    assert manifest["manifestVersion"] == 1
    assert (manifest["exportId"], manifest["organizationId"]) == (job.job_id, ORG_A)
    assert (manifest["dataset"], manifest["exportType"], manifest["format"]) == ("cases", "FLAT_FILE", "CSV")
    assert manifest["request"]["dateRange"] == {"start": "2024-01-01", "end": "2025-12-31"}
    assert manifest["requestedBy"] == {"id": analyst.user_id, "name": analyst.name}
    assert manifest["requestedAt"] == job.created_at.isoformat().replace("+00:00", "Z")
    assert manifest["dataAsOf"] is not None and manifest["requestedVia"] == "http"
    assert manifest["timeZone"] == "UTC"
    assert [column["name"] for column in manifest["columns"]] == [column.name for column in job.columns]
    assert manifest["file"]["name"] == job.file_name and manifest["file"]["rows"] == job.total_rows != 0
    assert manifest["shards"] is None
    assert world.sink.properties[manifest_blob_name(job)]["content_type"] == "application/json"
    assert "manifest.json" in str(world.sink.properties[manifest_blob_name(job)]["content_disposition"])


def test_tag_columns_in_the_manifest_carry_their_source_type_and_pattern(analyst: Principal) -> None:
    world = make_world()
    job = completed(world, analyst, request(), 50)
    tagged = [column for column in manifest_of(world, job)["columns"] if column["sourceEntityType"]]
    assert all({"dataType", "formatPattern", "sourceFieldPath"} <= column.keys() for column in tagged)


def test_a_callback_url_stays_out_of_the_manifest(analyst: Principal, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    job = completed(world, analyst, request(), 10)
    job.request = job.request.model_copy(update={"callback_url": "https://hooks.example.com/x?token=secret"})
    from exports.models import ExportManifest

    assert "callbackUrl" not in ExportManifest.of(job, size_bytes=1, sha256="0" * 64).request


def test_a_sharded_manifest_gives_each_shards_rows_in_file_order(analyst: Principal) -> None:
    world = make_world(shard_rows=1_000)
    job = completed(world, analyst, request(), 3_500)
    assert manifest_of(world, job)["shards"] == [
        {"shard": 0, "rows": 1_000, "firstRow": 1, "lastRow": 1_000},
        {"shard": 1, "rows": 1_000, "firstRow": 1_001, "lastRow": 2_000},
        {"shard": 2, "rows": 1_000, "firstRow": 2_001, "lastRow": 3_000},
        {"shard": 3, "rows": 500, "firstRow": 3_001, "lastRow": 3_500},
    ]


def test_the_job_view_shows_the_same_manifest_as_the_file_and_the_files_hash(analyst: Principal) -> None:
    world = make_world()
    job = completed(world, analyst, request("XLSX"), 300)
    raw = world.sink.blobs[manifest_blob_name(job)]
    view = JobView.of(job).model_dump(mode="json", by_alias=True)
    assert view["manifest"] == orjson.loads(raw)
    assert view["manifestSha256"] == hashlib.sha256(raw).hexdigest() == job.manifest_sha256


def test_a_job_that_did_not_complete_has_no_manifest(analyst: Principal) -> None:
    world = make_world()
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, request())
    assert JobView.of(job).manifest is None


def test_the_audit_trail_records_the_hashes_of_the_file_and_its_manifest(analyst: Principal) -> None:
    world = make_world()
    job = completed(world, analyst, request(), 100)
    (row,) = [entry for entry in world.audit.list_for_job(ORG_A, job.job_id) if entry.action == "completed"]
    assert (row.file_sha256, row.manifest_sha256) == (job.file_sha256, job.manifest_sha256)
    assert row.manifest_sha256 == hashlib.sha256(world.sink.blobs[manifest_blob_name(job)]).hexdigest()


def test_a_finalizing_step_that_runs_again_writes_the_same_manifest(
    analyst: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world()
    world.load_cases(ORG_A, 100)
    job, _ = world.service.create(analyst, request())
    replace = world.jobs.replace
    lost: list[bytes] = []

    def lose_the_completion_once(stored: ExportJob) -> ExportJob:
        if stored.status is JobStatus.COMPLETED and not lost:
            lost.append(world.sink.blobs[manifest_blob_name(stored)])
            raise ConnectionError("the job table did not answer")
        return replace(stored)

    monkeypatch.setattr(world.jobs, "replace", lose_the_completion_once)
    # The file and its manifest are written, then saving the completed job is lost; the step runs again.
    world.drain()
    assert lost
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    assert world.sink.blobs[manifest_blob_name(stored)] == lost[0]
    assert stored.manifest_sha256 == hashlib.sha256(lost[0]).hexdigest()


def test_a_manifest_is_never_overwritten_and_a_different_one_stops_the_export(analyst: Principal) -> None:
    world = make_world()
    world.load_cases(ORG_A, 100)
    job, _ = world.service.create(analyst, request())
    world.sink.blobs[manifest_blob_name(job)] = b'{"someone": "else"}'
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert "manifest already exists" in str(stored.error_message)
    assert world.sink.blobs.get(manifest_blob_name(job)) in (None, b'{"someone": "else"}')


def test_the_manifest_goes_when_its_file_is_deleted(analyst: Principal) -> None:
    world = make_world()
    job = completed(world, analyst, request(), 10)
    world.service.delete(analyst, job.job_id)
    assert manifest_blob_name(job) not in world.sink.blobs and job.blob_name not in world.sink.blobs


def test_a_manifest_link_needs_a_completed_export_and_the_datasets_permission(analyst: Principal) -> None:
    world = make_world()
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, request())
    with pytest.raises(Conflict, match="once it has completed"):
        world.service.manifest_link(analyst, job.job_id)
    world.drain()
    link = world.service.manifest_link(analyst, job.job_id)
    assert link.startswith(f"https://blobs.example/{manifest_blob_name(job)}?file=cases-flat_file-")
    assert ".manifest.json" in link
    settings_only = Principal(ORG_A, "admin-2", "Ad Min", frozenset({MANAGE_SYSTEM_SETTINGS}))
    with pytest.raises(Forbidden):
        world.service.manifest_link(settings_only, job.job_id)


def test_the_manifest_records_the_time_zone_the_file_is_written_in(analyst: Principal) -> None:
    world = make_world()
    job = completed(world, analyst, request("XLSX", timeZone="Europe/Paris"), 20)
    assert manifest_of(world, job)["timeZone"] == "Europe/Paris"
    assert manifest_of(world, job)["request"]["timeZone"] == "Europe/Paris"
