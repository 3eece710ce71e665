"""The worker's step: one bounded step of one job per work message — counting, batches, shards, finalizing.

`exports/steps.py` decides what a message means for its job; this module carries the decision out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exports.counting import Counting
from exports.job_writer import JobWriter, log_fields
from exports.limits import OrganizationLimits
from exports.messages import named_job
from exports.models import (
    ExportJob,
    JobStatus,
    Retention,
    WorkMessage,
)
from exports.outbox import Outbox
from exports.ports import BlobSink, Clock, JobStore, RowSource, RunStore, WorkQueue
from exports.shards import ShardSteps
from exports.steps import Action, next_step, stage_action
from exports.updates import update_job
from shared.errors import BadMessage, ConcurrencyConflict, ExportFailed
from shared.settings import Settings

log = logging.getLogger("exports.service")


@dataclass
class Worker:
    settings: Settings
    jobs: JobStore
    work: WorkQueue
    source: RowSource
    sink: BlobSink
    runs: RunStore
    clock: Clock
    outbox: Outbox
    org_limits: OrganizationLimits
    retention: Retention
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def __post_init__(self) -> None:
        self.writer = JobWriter(
            settings=self.settings, jobs=self.jobs, work=self.work, source=self.source, sink=self.sink,
            runs=self.runs, clock=self.clock, outbox=self.outbox, retention=self.retention, monotonic=self.monotonic,
        )
        self.shards = ShardSteps(self.writer)
        self.counting = Counting(self.writer, self.shards)

    def run_step(self, message: WorkMessage, *, attempt: int = 1) -> None:
        """Processes one queue message: one bounded step of one job, safe to repeat."""
        stored = self.jobs.get(message.org_id, message.job_id)
        step = next_step(
            stored, message, now=self.clock.now(), redrive_after_seconds=self.settings.redrive_after_seconds
        )
        if stored is None:
            raise BadMessage(f"work message names export {message.job_id}, which does not exist in that organization")
        job = stored
        action = step.action
        if action is Action.ENDED:
            if step.discard_files:
                self.writer.discard_files(job)
            if step.publish:
                self.outbox.publish_transition(job)
        elif action is Action.AHEAD:
            log.warning(
                "export %s: message for step %s is ahead of step %s; dropped",
                job.job_id,
                message.seq,
                job.checkpoint.seq,
                extra=log_fields(job, step=message.seq),
            )
        elif action is Action.REDRIVE:
            self.redrive(job)
        elif action is Action.NO_SUCH_SHARD:
            raise BadMessage(
                f"work message names shard {message.shard} of export {job.job_id}, "
                f"which has {len(job.checkpoint.shards)}"
            )
        elif action is Action.REDRIVE_SHARD:
            assert message.shard is not None
            index, seq = message.shard, job.checkpoint.shards[message.shard].seq
            log.warning("export %s shard %s re-driven from step %s", job.job_id, index, seq)
            self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=seq, shard=index))
        elif action is Action.SHARD_BATCH:
            shard = message.shard
            assert shard is not None
            self._guarded(job, message, attempt, lambda: self.shards.export_batch(job, shard))
        elif action is Action.START:
            if self.org_limits.take_running_slot(job, message):
                self._guarded(job, message, attempt, lambda: self._advance(job))
        elif action is not Action.STALE and action is not Action.STALE_SHARD:
            self._guarded(job, message, attempt, lambda: self._advance(job))

    def _guarded(self, job: ExportJob, message: WorkMessage, attempt: int, step: Callable[[], None]) -> None:
        """Runs one step: a lost race is dropped, a permanent error fails the job, others are retried."""
        try:
            step()
        except ConcurrencyConflict:
            log.info(
                "export %s step %s lost a race; the winner carries on",
                job.job_id,
                message.seq,
                extra=log_fields(job, step=message.seq),
            )
        except ExportFailed as failure:
            self.fail(job, failure.message, failure.details)
        except Exception as error:
            if attempt < self.settings.max_attempts:
                raise
            log.exception("export %s failed on its last attempt", job.job_id, extra=log_fields(job, attempt=attempt))
            self.fail(
                job,
                f"The export could not be written after {attempt} attempts ({type(error).__name__}). "
                "Please try again; if it keeps failing, contact support.",
                {"exception": type(error).__name__, "attempts": attempt},
            )

    def _advance(self, job: ExportJob) -> None:
        if job.status is JobStatus.QUEUED:
            job.start(self.clock.now())
        action = stage_action(job)
        if action is Action.COUNT:
            self.counting.count(job)
        elif action is Action.SEND_SHARDS:
            self.shards.send(job)
        elif action is Action.EXPORT_BATCH:
            self.writer.export_batch(job)
        elif action is Action.FINALIZE:
            self.writer.finalize(job)

    def redrive(self, job: ExportJob) -> None:
        def count_redrive(stored: ExportJob) -> bool:
            stored.redriven(self.clock.now())
            return True

        try:
            updated = update_job(self.jobs, job.organization_id, job.job_id, count_redrive, current=job, attempts=1)
        except ConcurrencyConflict:
            return
        assert updated is not None  # a given copy is never "missing"
        job = updated.job
        log.warning(
            "export %s re-driven from step %s",
            job.job_id,
            job.checkpoint.seq,
            extra=log_fields(job, step=job.checkpoint.seq),
        )
        self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=job.checkpoint.seq))

    def fail(self, job: ExportJob, message: str, details: dict[str, object] | None) -> None:
        def mark_failed(current: ExportJob) -> bool:
            return current.fail(message, details, self.clock.now(), self.retention)

        try:
            updated = update_job(self.jobs, job.organization_id, job.job_id, mark_failed, attempts=5)
        except ConcurrencyConflict:
            return
        if updated is None or not updated.written:
            return
        log.warning("export %s failed: %s", job.job_id, message, extra=log_fields(updated.job))
        self.outbox.publish_transition(updated.job)

    def reject_work_message(self, body: bytes, reason: str, *, attempt: int) -> None:
        """On its last attempt, an unreadable work message fails the job it names (same organization only)."""
        if attempt < self.settings.max_attempts:
            return
        named = named_job(body)
        if named is None:
            return
        job = self.jobs.get(*named)
        if job is not None:
            self.fail(job, f"The export stopped: one of its work messages could not be read ({reason}).", {})
