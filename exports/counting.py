"""The counting stage: count the rows (recording shard bounds), or sort a sorted export into runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from exports import datasets
from exports.formats import FormatOptions
from exports.job_writer import JobWriter
from exports.models import (
    Checkpoint,
    Compression,
    ExportFormat,
    ExportJob,
    WorkMessage,
)
from exports.ports import KEY
from exports.shards import ShardSteps
from exports.sorting import LINE_OVERHEAD, run_name, write_run
from shared.errors import ConcurrencyConflict, ExportFailed

log = logging.getLogger("exports.service")

COUNT_PAGE = 5_000


@dataclass
class Counting:
    writer: JobWriter
    shards: ShardSteps

    def count(self, job: ExportJob) -> None:
        checkpoint = job.checkpoint
        plan = datasets.plan_for(job)
        sorted_plan = datasets.sorting_for(plan)
        if sorted_plan is not None:
            self._sort_into_runs(job, sorted_plan)
            return
        deadline = self.writer.monotonic() + self.writer.settings.batch_time_budget_seconds
        cursor = checkpoint.count_cursor
        shardable = self._shardable(job, plan)
        if shardable and not checkpoint.shard_size:
            checkpoint.shard_size = self.writer.settings.shard_rows
        while True:
            limit = COUNT_PAGE
            if shardable:
                next_bound = checkpoint.shard_size * (len(checkpoint.shard_bounds) + 1)
                limit = min(COUNT_PAGE, next_bound - checkpoint.counted)
            counted, cursor = plan.count(self.writer.source, cursor, limit)
            checkpoint.counted += counted
            if shardable and cursor is not None and checkpoint.counted == next_bound:
                self._add_shard_bound(checkpoint, cursor)
            if cursor is None or self.writer.monotonic() > deadline:
                break
        checkpoint.count_cursor = cursor
        if cursor is not None:
            self.writer.save_and_continue(job)
            return
        sharded = job.finish_counting()
        job.step_done()
        if sharded:
            self.shards.send(self.writer.save(job))
            return
        # The first batch follows in this invocation: one queue hand-off fewer. Were this worker to die
        # in it, the message it holds comes back, finds the job a step ahead and re-drives it.
        job = self.writer.save(job)
        next_step = WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=job.checkpoint.seq)
        if self.writer.monotonic() > deadline:
            self.writer.work.send(next_step)
            return
        try:
            self.writer.export_batch(job)
        except (ExportFailed, ConcurrencyConflict):
            raise
        except Exception:
            # A transient error in the chained batch: the batch gets its own message and its own retries
            # (this message's retry would only find the job a step ahead).
            log.warning("export %s: first batch failed, queued to retry", job.job_id, exc_info=True)
            self.writer.work.send(next_step)

    def _add_shard_bound(self, checkpoint: Checkpoint, key: str) -> None:
        checkpoint.shard_bounds.append(key)
        if len(checkpoint.shard_bounds) >= self.writer.settings.max_shards:
            # Too many shards: merge neighbours, so shards double in size and their number stays bounded.
            checkpoint.shard_bounds = checkpoint.shard_bounds[1::2]
            checkpoint.shard_size *= 2

    def _shardable(self, job: ExportJob, plan: datasets.ExportPlan) -> bool:
        """Shards need a count of rows that is a count of keys: it says where each shard's rows start.

        Every format shards (exports/formats/shard_join.py). A deflated format (gzip, XLSX) also needs its
        shards to start on a chunk bound, where the unsharded file starts a fresh deflate chunk.
        """
        settings = self.writer.settings
        if settings.max_shards < 2:
            return False
        deflated = job.format is ExportFormat.XLSX or FormatOptions.of(job.request).compression is Compression.GZIP
        if deflated and settings.shard_rows % settings.chunk_rows:
            return False
        return datasets.counts_keys(plan)

    # ---- shards ----------------------------------------------------------------------------------

    def _sort_into_runs(self, job: ExportJob, plan: datasets.SortedPlan) -> None:
        """The counting stage of a sorted export: sorted runs of `EXPORTS_SORT_RUN_BYTES` each, in blob storage.

        A run holds lines (a sort key and what the row needs), never entities, and is cut once its lines
        take the run size (a line larger than it makes a run of its own).
        """
        checkpoint = job.checkpoint
        deadline = self.writer.monotonic() + self.writer.settings.batch_time_budget_seconds
        budget = self.writer.settings.sort_run_bytes
        line_of = plan.sort_lines()
        units = iter(plan.units(self.writer.source, checkpoint.count_cursor))
        while True:
            lines: list[bytes] = []
            held = 0
            last: str | None = None
            finished = True
            for unit in units:
                line = line_of(unit)
                lines.append(line)
                held += len(line) + LINE_OVERHEAD
                key = str(unit[KEY])
                if last is None or key > last:
                    last = key
                if held >= budget:
                    finished = False
                    break
            if lines:
                name = run_name(self.writer.settings.sort_runs_prefix, job.blob_name, checkpoint.sort_runs)
                checkpoint.counted += len(lines)
                write_run(self.writer.runs, name, lines)
                checkpoint.sort_runs += 1
                checkpoint.count_cursor = last
            if finished:
                job.finish_counting()  # a sorted export has no shard bounds: never sharded
                break
            if self.writer.monotonic() > deadline:
                break
        self.writer.save_and_continue(job)
