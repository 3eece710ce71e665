"""Sharded exports: each key range of a job is written by its own messages, and the last shard finalizes."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from exports import datasets
from exports.datasets.columns import CellWarnings
from exports.engine import ExportBatch
from exports.formats import FormatOptions, writer_for
from exports.formats.shard_join import shard_start_state
from exports.job_writer import JobWriter, log_fields
from exports.models import (
    WARNING_SAMPLES,
    ExportJob,
    JobStage,
    ShardState,
    WorkMessage,
)
from exports.ports import KEY
from exports.updates import update_job
from shared.errors import ConcurrencyConflict

log = logging.getLogger("exports.service")

# Every shard saves its steps into the one job: many may race, so a shard's save retries longer.
SHARD_SAVE_ATTEMPTS = 50


@dataclass
class ShardSteps:
    writer: JobWriter

    def send(self, job: ExportJob) -> None:
        for index, shard in enumerate(job.checkpoint.shards):
            if not shard.done:
                message = WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=shard.seq, shard=index)
                self.writer.work.send(message)

    def export_batch(self, job: ExportJob, index: int) -> None:
        checkpoint = job.checkpoint
        shard = checkpoint.shards[index]
        bounds = checkpoint.shard_bounds
        lower = bounds[index - 1] if index > 0 else None
        upper = bounds[index] if index < len(bounds) else None
        plan = datasets.plan_for(job)
        options = FormatOptions.of(job.request)
        # One row per key (datasets.counts_keys): the count says where the shard's rows start.
        first_row = index * checkpoint.shard_size
        state = shard.format_state if shard.seq else shard_start_state(job.format, options, first_row)
        units = plan.units(self.writer.source, shard.cursor or lower)
        if upper is not None:
            units = itertools.takewhile(lambda unit: str(unit[KEY]) <= upper, units)
        warnings = CellWarnings()
        started = self.writer.monotonic()
        deadline = started + self.writer.settings.batch_time_budget_seconds
        batch = ExportBatch(
            blob_name=job.blob_name,
            batch_index=len(shard.parts),
            writer=(writer := writer_for(job.format, job.columns, state, options)),
            sink=self.writer.sink,
            build_rows=plan.row_builder(warnings),
            starts_file=index == 0 and not shard.parts,
            ends_file=False,  # the finalizing step stages the end (exports/formats/shard_join.py)
            shard=index,
            row_limit=self.writer.settings.rows_per_batch,
            chunk_rows=self.writer.settings.chunk_rows,
            block_size=self.writer.settings.block_size_bytes,
            out_of_time=lambda: self.writer.monotonic() > deadline,
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
                duration_ms=round(1000 * (self.writer.monotonic() - started)),
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
            format_state=writer.state(),
            holes=[*shard.holes, *([batch.batch_index, part] for part in result.holes)],
        )
        job = self._record(job, index, shard.seq, done)
        if job.stage is JobStage.FINALIZING:
            self.writer.finalize(job)  # this shard was the last to finish: it commits every shard's blocks in order
        elif not done.done:
            self.writer.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=done.seq, shard=index))

    def _record(self, job: ExportJob, index: int, seq: int, state: ShardState) -> ExportJob:
        """Saves one shard's step into the job; other shards save theirs at the same time, so a
        conflict re-reads the job and applies the step again (never over a newer step of this shard)."""

        def save_step(stored: ExportJob) -> bool:
            return stored.record_shard(index, seq, state, self.writer.clock.now())

        updated = update_job(self.writer.jobs, job.organization_id, job.job_id, save_step, current=job,
                             attempts=SHARD_SAVE_ATTEMPTS)
        if updated is None:
            raise ConcurrencyConflict(f"export {job.job_id} was removed while its shard was being saved")
        return updated.job
