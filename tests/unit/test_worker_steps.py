"""The worker's decision for one job and one work message, without a store or a queue."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from exports.models import ExportJob, JobStage, JobStatus, ShardState, WorkMessage
from exports.steps import Action, next_step
from tests.unit.test_export_job import RETENTION, T0, a_job

REDRIVE_AFTER = 300.0
SOON = T0 + timedelta(seconds=10)
IDLE = T0 + timedelta(seconds=REDRIVE_AFTER)


def decide(job: ExportJob | None, seq: int = 0, shard: int | None = None, *, now: datetime = SOON) -> Action:
    message = WorkMessage(org_id="org-a", job_id="9999999999999-0000", seq=seq, shard=shard)
    return next_step(job, message, now=now, redrive_after_seconds=REDRIVE_AFTER).action


def running(stage: JobStage, seq: int = 0) -> ExportJob:
    job = a_job(status=JobStatus.RUNNING)
    job.stage = stage
    job.checkpoint.seq = seq
    return job


def sharded(*shards: ShardState, stage: JobStage = JobStage.EXPORTING) -> ExportJob:
    job = running(stage, seq=1)
    job.checkpoint.shards = list(shards)
    return job


def test_a_message_for_no_job_is_a_bad_message() -> None:
    assert decide(None) is Action.MISSING


def test_a_queued_job_starts() -> None:
    assert decide(a_job()) is Action.START


@pytest.mark.parametrize(
    ("stage", "action"),
    [
        (JobStage.COUNTING, Action.COUNT),
        (JobStage.EXPORTING, Action.EXPORT_BATCH),
        (JobStage.FINALIZING, Action.FINALIZE),
    ],
)
def test_a_running_job_does_its_stages_step(stage: JobStage, action: Action) -> None:
    assert decide(running(stage, seq=3), seq=3) is action


def test_a_job_level_message_for_a_sharded_export_sends_its_shards() -> None:
    assert decide(sharded(ShardState()), seq=1) is Action.SEND_SHARDS


def test_an_ended_job_is_tidied_after_a_cancel_and_its_owed_event_published() -> None:
    job = a_job()
    job.cancel(SOON, RETENTION)
    message = WorkMessage(org_id="org-a", job_id=job.job_id, seq=0)
    step = next_step(job, message, now=SOON, redrive_after_seconds=REDRIVE_AFTER)
    assert (step.action, step.discard_files, step.publish) == (Action.ENDED, True, True)
    job.event_published()
    completed = running(JobStage.FINALIZING)
    completed.complete(10, "a" * 64, "b" * 64, SOON, RETENTION)
    completed.event_published()
    step = next_step(completed, message, now=SOON, redrive_after_seconds=REDRIVE_AFTER)
    assert (step.action, step.discard_files, step.publish) == (Action.ENDED, False, False)


def test_a_message_ahead_of_the_job_is_dropped() -> None:
    assert decide(running(JobStage.EXPORTING, seq=2), seq=3) is Action.AHEAD


def test_a_stale_copy_is_dropped_while_the_job_moves_and_re_drives_it_once_it_stopped() -> None:
    job = running(JobStage.EXPORTING, seq=2)
    assert decide(job, seq=1, now=SOON) is Action.STALE
    assert decide(job, seq=1, now=IDLE) is Action.REDRIVE


def test_a_shard_beyond_the_jobs_shards_is_a_bad_message() -> None:
    assert decide(sharded(ShardState()), seq=0, shard=1) is Action.NO_SUCH_SHARD


def test_a_shard_message_runs_its_shards_batch() -> None:
    assert decide(sharded(ShardState(seq=2), ShardState()), seq=2, shard=0) is Action.SHARD_BATCH


def test_shard_messages_the_shard_is_past_are_dropped() -> None:
    assert decide(sharded(ShardState(seq=2, done=True)), seq=2, shard=0) is Action.STALE_SHARD
    assert decide(sharded(ShardState(seq=2)), seq=3, shard=0) is Action.STALE_SHARD
    assert decide(sharded(ShardState(seq=2), stage=JobStage.FINALIZING), seq=2, shard=0) is Action.STALE_SHARD


def test_a_stale_shard_copy_re_drives_the_shard_once_the_job_stopped_moving() -> None:
    job = sharded(ShardState(seq=2))
    assert decide(job, seq=1, shard=0, now=SOON) is Action.STALE_SHARD
    assert decide(job, seq=1, shard=0, now=IDLE) is Action.REDRIVE_SHARD
