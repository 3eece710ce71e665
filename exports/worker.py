"""The worker's step: one bounded step of one job per work message — counting, batches, shards, finalizing.

`exports/steps.py` decides what a message means for its job; this module carries the decision out.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from exports import datasets
from exports.datasets.columns import CellWarnings
from exports.engine import ExportBatch, block_ids
from exports.formats import FormatOptions, writer_for
from exports.limits import OrganizationLimits
from exports.messages import named_job
from exports.models import (
    WARNING_SAMPLES,
    Checkpoint,
    Compression,
    ExportFormat,
    ExportJob,
    JobStage,
    JobStatus,
    Retention,
    ShardState,
    WorkMessage,
)
from exports.outbox import Outbox
from exports.ports import BlobSink, Clock, JobStore, RowSource, RunStore, WorkQueue
from exports.sorting import merge, run_name, write_run
from exports.steps import Action, next_step, stage_action
from exports.updates import update_job
from shared.errors import BadMessage, ConcurrencyConflict, ExportFailed
from shared.headers import attachment
from shared.settings import Settings

log = logging.getLogger("exports.service")

COUNT_PAGE = 5_000
# Every shard saves its steps into the one job: many may race, so a shard's save retries longer.
SHARD_SAVE_ATTEMPTS = 50


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
                self.discard_files(job)
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
            self._guarded(job, message, attempt, lambda: self._export_shard_batch(job, shard))
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
            self._count(job)
        elif action is Action.SEND_SHARDS:
            self._send_shards(job)
        elif action is Action.EXPORT_BATCH:
            self._export_batch(job)
        elif action is Action.FINALIZE:
            self._finalize(job)

    def _count(self, job: ExportJob) -> None:
        checkpoint = job.checkpoint
        plan = datasets.plan_for(job, self.settings)
        sorted_plan = datasets.sorting_for(plan)
        if sorted_plan is not None:
            self._sort_into_runs(job, sorted_plan)
            return
        deadline = self.monotonic() + self.settings.batch_time_budget_seconds
        cursor = checkpoint.count_cursor
        shardable = self._shardable(job, plan)
        if shardable and not checkpoint.shard_size:
            checkpoint.shard_size = self.settings.shard_rows
        while True:
            limit = COUNT_PAGE
            if shardable:
                next_bound = checkpoint.shard_size * (len(checkpoint.shard_bounds) + 1)
                limit = min(COUNT_PAGE, next_bound - checkpoint.counted)
            counted, cursor = plan.count(self.source, cursor, limit)
            checkpoint.counted += counted
            if shardable and cursor is not None and checkpoint.counted == next_bound:
                self._add_shard_bound(checkpoint, cursor)
            if cursor is None or self.monotonic() > deadline:
                break
        checkpoint.count_cursor = cursor
        if cursor is not None:
            self._save_and_continue(job)
            return
        sharded = job.finish_counting()
        job.step_done()
        if sharded:
            self._send_shards(self._save(job))
            return
        # The first batch follows in this invocation: one queue hand-off fewer. Were this worker to die
        # in it, the message it holds comes back, finds the job a step ahead and re-drives it.
        job = self._save(job)
        next_step = WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=job.checkpoint.seq)
        if self.monotonic() > deadline:
            self.work.send(next_step)
            return
        try:
            self._export_batch(job)
        except (ExportFailed, ConcurrencyConflict):
            raise
        except Exception:
            # A transient error in the chained batch: the batch gets its own message and its own retries
            # (this message's retry would only find the job a step ahead).
            log.warning("export %s: first batch failed, queued to retry", job.job_id, exc_info=True)
            self.work.send(next_step)

    def _add_shard_bound(self, checkpoint: Checkpoint, key: str) -> None:
        checkpoint.shard_bounds.append(key)
        if len(checkpoint.shard_bounds) >= self.settings.max_shards:
            # Too many shards: merge neighbours, so shards double in size and their number stays bounded.
            checkpoint.shard_bounds = checkpoint.shard_bounds[1::2]
            checkpoint.shard_size *= 2

    def _shardable(self, job: ExportJob, plan: datasets.ExportPlan) -> bool:
        """Shards need parts that concatenate into one file and a count of rows that is a count of keys."""
        if self.settings.max_shards < 2 or job.format not in (ExportFormat.CSV, ExportFormat.JSONL):
            return False
        if FormatOptions.of(job.request).compression is not Compression.NONE:
            return False
        return datasets.counts_keys(plan)

    # ---- shards ----------------------------------------------------------------------------------

    def _send_shards(self, job: ExportJob) -> None:
        for index, shard in enumerate(job.checkpoint.shards):
            if not shard.done:
                self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=shard.seq, shard=index))

    def _export_shard_batch(self, job: ExportJob, index: int) -> None:
        checkpoint = job.checkpoint
        shard = checkpoint.shards[index]
        bounds = checkpoint.shard_bounds
        lower = bounds[index - 1] if index > 0 else None
        upper = bounds[index] if index < len(bounds) else None
        plan = datasets.plan_for(job, self.settings)
        units = plan.units(self.source, shard.cursor or lower)
        if upper is not None:
            units = itertools.takewhile(lambda unit: str(unit["RowKey"]) <= upper, units)
        warnings = CellWarnings()
        started = self.monotonic()
        deadline = started + self.settings.batch_time_budget_seconds
        batch = ExportBatch(
            blob_name=job.blob_name,
            batch_index=len(shard.parts),
            writer=writer_for(job.format, job.columns, {}, FormatOptions.of(job.request)),
            sink=self.sink,
            build_rows=plan.row_builder(warnings),
            starts_file=index == 0 and not shard.parts,
            ends_file=index == len(bounds),
            shard=index,
            row_limit=self.settings.rows_per_batch,
            chunk_rows=self.settings.chunk_rows,
            block_size=self.settings.block_size_bytes,
            out_of_time=lambda: self.monotonic() > deadline,
        )
        result = batch.run(units)
        log.info(
            "export %s shard %s batch %s: %s rows, %s bytes",
            job.job_id,
            index,
            batch.batch_index,
            result.rows,
            result.bytes_staged,
            extra=log_fields(
                job,
                shard=index,
                batch=batch.batch_index,
                rows=result.rows,
                bytes=result.bytes_staged,
                duration_ms=round(1000 * (self.monotonic() - started)),
            ),
        )
        if warnings.count:
            log.warning(
                "export %s shard %s batch %s: %s value(s) of the wrong type exported as text",
                job.job_id,
                index,
                batch.batch_index,
                warnings.count,
                extra=log_fields(job, shard=index, batch=batch.batch_index),
            )
        samples = shard.warning_samples
        if len(samples) == shard.warnings:
            # Only a shard holding every sample so far may add more: its samples stay its first ones.
            samples = [*samples, *warnings.samples][:WARNING_SAMPLES]
        done = ShardState(
            seq=shard.seq + 1,
            cursor=result.cursor or shard.cursor,
            rows=shard.rows + result.rows,
            bytes=shard.bytes + result.bytes_staged,
            parts=[*shard.parts, result.parts],
            done=result.finished,
            warnings=shard.warnings + warnings.count,
            warning_samples=samples,
        )
        job = self._record_shard(job, index, shard.seq, done)
        if job.stage is JobStage.FINALIZING:
            self._finalize(job)  # this shard was the last to finish: it commits every shard's blocks in order
        elif not done.done:
            self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=done.seq, shard=index))

    def _record_shard(self, job: ExportJob, index: int, seq: int, state: ShardState) -> ExportJob:
        """Saves one shard's step into the job; other shards save theirs at the same time, so a
        conflict re-reads the job and applies the step again (never over a newer step of this shard)."""

        def save_step(stored: ExportJob) -> bool:
            return stored.record_shard(index, seq, state, self.clock.now())

        updated = update_job(self.jobs, job.organization_id, job.job_id, save_step, current=job,
                             attempts=SHARD_SAVE_ATTEMPTS)
        if updated is None:
            raise ConcurrencyConflict(f"export {job.job_id} was removed while its shard was being saved")
        return updated.job

    def _sort_into_runs(self, job: ExportJob, plan: datasets.SortedPlan) -> None:
        """The counting stage of a sorted export: sorted runs of one batch each, in blob storage."""
        checkpoint = job.checkpoint
        deadline = self.monotonic() + self.settings.batch_time_budget_seconds
        size = self.settings.rows_per_batch
        while True:
            batch = list(itertools.islice(plan.units(self.source, checkpoint.count_cursor), size))
            if batch:
                batch.sort(key=plan.sort_key)
                name = run_name(self.settings.sort_runs_prefix, job.blob_name, checkpoint.sort_runs)
                write_run(self.runs, name, [plan.encode_unit(entity) for entity in batch])
                checkpoint.sort_runs += 1
                checkpoint.counted += len(batch)
                checkpoint.count_cursor = max(str(entity["RowKey"]) for entity in batch)
            if len(batch) < size:
                job.finish_counting()  # a sorted export has no shard bounds: never sharded
                break
            if self.monotonic() > deadline:
                break
        self._save_and_continue(job)

    def _units(self, job: ExportJob, plan: datasets.ExportPlan) -> Iterator[dict[str, Any]]:
        sorted_plan = datasets.sorting_for(plan)
        if sorted_plan is not None:
            names = [
                run_name(self.settings.sort_runs_prefix, job.blob_name, index)
                for index in range(job.checkpoint.sort_runs)
            ]
            return merge(self.runs, names, job.checkpoint.cursor, sorted_plan.decode_unit, sorted_plan.sort_key)
        return plan.units(self.source, job.checkpoint.cursor)

    def _rows(
        self, job: ExportJob, plan: datasets.ExportPlan, warnings: CellWarnings
    ) -> Callable[[dict[str, Any]], list[list[Any]]]:
        build = plan.row_builder(warnings)
        if datasets.sorting_for(plan) is not None:
            return lambda unit: build(unit["entity"])
        return build

    def discard_files(self, job: ExportJob) -> None:
        self.sink.discard(job.blob_name)
        if job.checkpoint.sort_runs:
            self.runs.delete_all(f"{self.settings.sort_runs_prefix}/{job.blob_name}/")

    def _export_batch(self, job: ExportJob) -> None:
        checkpoint = job.checkpoint
        plan = datasets.plan_for(job, self.settings)
        writer = writer_for(job.format, job.columns, checkpoint.format_state, FormatOptions.of(job.request))
        warnings = CellWarnings()
        started = self.monotonic()
        deadline = started + self.settings.batch_time_budget_seconds
        batch = ExportBatch(
            blob_name=job.blob_name,
            batch_index=len(checkpoint.parts),
            writer=writer,
            sink=self.sink,
            build_rows=self._rows(job, plan, warnings),
            starts_file=not checkpoint.parts,
            row_limit=self.settings.rows_per_batch,
            chunk_rows=self.settings.chunk_rows,
            block_size=self.settings.block_size_bytes,
            out_of_time=lambda: self.monotonic() > deadline,
        )
        result = batch.run(self._units(job, plan))
        log.info(
            "export %s batch %s: %s rows, %s bytes",
            job.job_id,
            batch.batch_index,
            result.rows,
            result.bytes_staged,
            extra=log_fields(
                job,
                batch=batch.batch_index,
                rows=result.rows,
                bytes=result.bytes_staged,
                duration_ms=round(1000 * (self.monotonic() - started)),
            ),
        )
        job.record_batch(
            cursor=result.cursor,
            rows=result.rows,
            bytes_staged=result.bytes_staged,
            parts=result.parts,
            format_state=writer.state(),
            warnings=warnings.count,
            samples=warnings.samples,
            finished=result.finished,
        )
        if warnings.count:
            log.warning(
                "export %s batch %s: %s value(s) of the wrong type exported as text",
                job.job_id,
                batch.batch_index,
                warnings.count,
                extra=log_fields(job, batch=batch.batch_index),
            )
        if result.finished:
            job = self._save(job)
            self._finalize(job)
        else:
            self._save_and_continue(job)

    def _finalize(self, job: ExportJob) -> None:
        checkpoint = job.checkpoint
        if checkpoint.shards:
            blocks = [name for index, shard in enumerate(checkpoint.shards) for name in block_ids(shard.parts, index)]
        else:
            blocks = block_ids(checkpoint.parts)
        size = self.sink.commit(
            job.blob_name,
            blocks,
            content_type=job.content_type,
            content_disposition=attachment(job.file_name),
        )
        now = self.clock.now()
        job.complete(size, now, self.retention)
        try:
            job = self._save(job)
        except ConcurrencyConflict:
            current = self.jobs.get(job.organization_id, job.job_id)
            if current is not None and current.status is JobStatus.CANCELLED:
                # Cancellation wins even over a file that was just committed.
                self.discard_files(job)
            return
        log.info(
            "export %s completed: %s rows, %s bytes",
            job.job_id,
            job.total_rows,
            size,
            extra=log_fields(
                job,
                rows=job.total_rows,
                bytes=size,
                duration_ms=round(1000 * (now - (job.started_at or job.created_at)).total_seconds()),
            ),
        )
        self.outbox.publish_transition(job)
        if job.checkpoint.sort_runs:
            self.runs.delete_all(f"{self.settings.sort_runs_prefix}/{job.blob_name}/")

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

    def _save_and_continue(self, job: ExportJob) -> None:
        job.step_done()
        job = self._save(job)
        self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=job.checkpoint.seq))

    def _save(self, job: ExportJob) -> ExportJob:
        def touch(stored: ExportJob) -> bool:
            stored.updated_at = self.clock.now()
            return True

        # If the stored job is exactly the state this step wrote (by it, or by a twin copy of its
        # message), carry on: the next message may go out twice, which `seq` makes harmless.
        updated = update_job(
            self.jobs, job.organization_id, job.job_id, touch, current=job, attempts=1, already_saved=_same_state
        )
        assert updated is not None  # a given copy is never "missing"
        return updated.job

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


def log_fields(job: ExportJob, **fields: object) -> dict[str, object]:
    """The `extra` of a log line about a job (shared/logging_json.py writes it as JSON fields)."""
    return {"job_id": job.job_id, "organization_id": job.organization_id, "status": job.status, **fields}


def _same_state(stored: ExportJob, ours: ExportJob) -> bool:
    """The stored job is the state a step wrote: its status, stage and checkpoint."""
    return (stored.status, stored.stage, stored.checkpoint) == (ours.status, ours.stage, ours.checkpoint)
