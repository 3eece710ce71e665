"""The export job's transitions, on plain objects: the final-state rule, expiry, the outbox flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exports.models import (
    CreateExportRequest,
    Dataset,
    DeliveryAttempt,
    ExportJob,
    JobStage,
    JobStatus,
    Retention,
    ShardState,
)
from shared.errors import ConcurrencyConflict, Conflict

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
RETENTION = Retention(ticket_hours=72, case_hours=168)


def a_job(dataset: Dataset = Dataset.CASES, status: JobStatus = JobStatus.QUEUED) -> ExportJob:
    request = CreateExportRequest.model_validate({"format": "CSV", "dataset": dataset.value})
    return ExportJob(
        job_id="9999999999999-0000",
        organization_id="org-a",
        created_by_id="user-1",
        dataset=dataset,
        export_type=request.export_type,
        format=request.format,
        request=request,
        columns=[],
        blob_name="b.csv",
        file_name="f.csv",
        content_type="text/csv",
        created_at=T0,
        updated_at=T0,
        status=status,
    )


def test_a_started_job_runs_and_counts() -> None:
    job = a_job()
    job.start(T0)
    assert (job.status, job.stage, job.started_at) == (JobStatus.RUNNING, JobStage.COUNTING, T0)


def test_a_completed_job_is_final_expires_from_its_end_and_owes_its_event() -> None:
    job = a_job(status=JobStatus.RUNNING)
    job.checkpoint.rows_written = 42
    job.checkpoint.sha256_state = "c3RhdGU="
    job.complete(1234, "a" * 64, "b" * 64, LATER, RETENTION)
    assert (job.status, job.stage, job.progress) == (JobStatus.COMPLETED, None, 100)
    assert (job.total_rows, job.processed_rows, job.file_size_bytes) == (42, 42, 1234)
    assert (job.file_sha256, job.manifest_sha256) == ("a" * 64, "b" * 64)
    assert job.completed_at == LATER and job.expires_at == LATER + timedelta(hours=168)
    assert job.event_pending
    # The hash state holds a few bytes of the file: a final job keeps none of them.
    assert job.checkpoint.sha256_state is None


def test_ticket_exports_are_kept_for_the_ticket_retention() -> None:
    job = a_job(dataset=Dataset.TICKETS, status=JobStatus.RUNNING)
    assert job.fail("broken", None, LATER, RETENTION)
    assert job.expires_at == LATER + timedelta(hours=72)


def test_a_failed_job_keeps_its_reason_and_a_job_that_ended_stays_as_it_ended() -> None:
    job = a_job(status=JobStatus.RUNNING)
    assert job.fail("The source table is gone.", {"table": "cases"}, LATER, RETENTION)
    assert (job.status, job.error_message, job.error_details) == (
        JobStatus.FAILED, "The source table is gone.", {"table": "cases"},
    )
    assert job.event_pending
    assert not job.fail("again", None, LATER + timedelta(hours=1), RETENTION)
    assert job.error_message == "The source table is gone." and job.completed_at == LATER


def test_cancelling_twice_is_one_cancel_and_a_completed_job_cannot_be_cancelled() -> None:
    job = a_job()
    assert job.cancel(LATER, RETENTION)
    assert (job.status, job.stage, job.event_pending) == (JobStatus.CANCELLED, None, True)
    assert not job.cancel(LATER + timedelta(hours=1), RETENTION)
    assert job.completed_at == LATER
    with pytest.raises(Conflict):
        a_job(status=JobStatus.COMPLETED).cancel(LATER, RETENTION)


def test_a_deleted_job_is_cleaned_up_once() -> None:
    job = a_job(status=JobStatus.COMPLETED)
    assert job.delete("user-2", LATER)
    assert (job.deleted_at, job.deleted_by_id, job.is_cleaned_up, job.cleaned_up_at) == (LATER, "user-2", True, LATER)
    assert not job.delete("user-3", LATER + timedelta(hours=1))
    assert job.deleted_by_id == "user-2"


def test_the_outbox_flag_is_cleared_once() -> None:
    job = a_job()
    job.cancel(LATER, RETENTION)
    assert job.event_published() and not job.event_pending
    assert not job.event_published()


def test_a_delivery_attempt_is_noted_once() -> None:
    job = a_job(status=JobStatus.COMPLETED)
    attempt = DeliveryAttempt(attempt=1, at=LATER, status_code=500, outcome="retrying")
    job.note_delivery(attempt)
    job.note_delivery(attempt.model_copy(update={"outcome": "delivered"}))
    assert job.deliveries == [attempt]


def sharded(count: int) -> ExportJob:
    job = a_job(status=JobStatus.RUNNING)
    job.stage = JobStage.EXPORTING
    job.total_rows = 20
    job.checkpoint.shards = [ShardState() for _ in range(count)]
    return job


def test_a_shards_step_adds_up_the_job_and_the_last_shard_finalizes_it() -> None:
    job = sharded(2)
    assert job.record_shard(0, 0, ShardState(seq=1, rows=10, bytes=100, parts=[1], done=True), LATER)
    assert (job.processed_rows, job.progress, job.stage) == (10, 50, JobStage.EXPORTING)
    assert job.record_shard(1, 0, ShardState(seq=1, rows=10, bytes=90, parts=[1], done=True), LATER)
    assert (job.processed_rows, job.checkpoint.bytes_written, job.stage) == (20, 190, JobStage.FINALIZING)
    assert job.checkpoint.seq == 1


def test_a_shards_step_saved_already_is_not_saved_again_and_a_rival_copy_conflicts() -> None:
    job = sharded(2)
    step = ShardState(seq=1, rows=10, parts=[1])
    assert job.record_shard(0, 0, step, LATER)
    assert not job.record_shard(0, 0, step, LATER)
    with pytest.raises(ConcurrencyConflict):
        job.record_shard(0, 0, ShardState(seq=1, rows=9, parts=[1]), LATER)


def test_a_shard_of_a_job_that_ended_is_not_saved() -> None:
    job = sharded(2)
    job.cancel(LATER, RETENTION)
    with pytest.raises(ConcurrencyConflict):
        job.record_shard(0, 0, ShardState(seq=1), LATER)


def test_counting_ends_with_the_total_and_exporting_and_a_step_done_moves_the_step_number() -> None:
    job = a_job(status=JobStatus.RUNNING)
    job.checkpoint.counted = 7
    job.checkpoint.redrives = 2
    assert not job.finish_counting()
    assert (job.total_rows, job.stage, job.checkpoint.shards) == (7, JobStage.EXPORTING, [])
    job.step_done()
    assert (job.checkpoint.seq, job.checkpoint.redrives) == (1, 0)


def test_counting_that_ends_exactly_at_a_shard_bound_has_no_empty_last_shard() -> None:
    job = a_job(status=JobStatus.RUNNING)
    job.checkpoint.shard_size = 5
    job.checkpoint.shard_bounds = ["k5", "k10"]
    job.checkpoint.counted = 10
    assert job.finish_counting()
    assert job.checkpoint.shard_bounds == ["k5"] and len(job.checkpoint.shards) == 2


def test_a_batch_adds_to_the_checkpoint_and_the_last_one_finalizes() -> None:
    job = a_job(status=JobStatus.RUNNING)
    job.stage = JobStage.EXPORTING
    job.total_rows = 10
    job.record_batch(cursor="k4", rows=4, bytes_staged=40, parts=1, format_state={"n": 1}, warnings=0, samples=[],
                     finished=False)
    assert (job.checkpoint.cursor, job.processed_rows, job.progress, job.stage) == ("k4", 4, 40, JobStage.EXPORTING)
    job.record_batch(cursor=None, rows=6, bytes_staged=60, parts=2, format_state={"n": 2}, warnings=0, samples=[],
                     finished=True)
    assert (job.checkpoint.cursor, job.checkpoint.parts, job.checkpoint.bytes_written) == ("k4", [1, 2], 100)
    assert (job.processed_rows, job.progress, job.stage) == (10, 99, JobStage.FINALIZING)
