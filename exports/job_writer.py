"""Writing one job's file: one export batch, finalizing (commit the blocks, complete the job), saving a step."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from exports import datasets
from exports.datasets.columns import CellWarnings
from exports.digest import FileDigest
from exports.engine import ExportBatch, block_id, block_ids, joining_block_id
from exports.formats import FormatOptions, writer_for
from exports.formats.shard_join import ShardedFile
from exports.models import (
    ExportJob,
    ExportManifest,
    JobStatus,
    Retention,
    WorkMessage,
    manifest_blob_name,
    manifest_file_name,
)
from exports.outbox import Outbox
from exports.ports import BlobSink, Clock, JobStore, RowSource, RunStore, WorkQueue
from exports.sorting import merge, run_name
from exports.updates import update_job
from shared.errors import ConcurrencyConflict, ExportFailed
from shared.headers import attachment
from shared.settings import Settings

log = logging.getLogger("exports.service")

# Reading a committed file back to hash it: one ranged read at a time, so memory stays bounded.
HASH_READ_BYTES = 8 * 1024 * 1024


@dataclass
class JobWriter:
    settings: Settings
    jobs: JobStore
    work: WorkQueue
    source: RowSource
    sink: BlobSink
    runs: RunStore
    clock: Clock
    outbox: Outbox
    retention: Retention
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def _units(self, job: ExportJob, plan: datasets.ExportPlan) -> Iterator[dict[str, Any]]:
        sorted_plan = datasets.sorting_for(plan)
        if sorted_plan is not None:
            names = [
                run_name(self.settings.sort_runs_prefix, job.blob_name, index)
                for index in range(job.checkpoint.sort_runs)
            ]
            return merge(self.runs, names, job.checkpoint.cursor, sorted_plan.split_line, sorted_plan.decode_unit)
        return plan.units(self.source, job.checkpoint.cursor)

    def _rows(
        self, job: ExportJob, plan: datasets.ExportPlan, warnings: CellWarnings
    ) -> Callable[[dict[str, Any]], list[list[Any]]]:
        build = plan.row_builder(warnings)
        if datasets.sorting_for(plan) is not None:
            return lambda unit: build(unit["entity"])
        return build

    def discard_files(self, job: ExportJob) -> None:
        # The manifest goes with its file; the job view and the audit trail keep its content and hash.
        self.sink.discard(manifest_blob_name(job))
        self.sink.discard(job.blob_name)
        if job.checkpoint.sort_runs:
            self.runs.delete_all(f"{self.settings.sort_runs_prefix}/{job.blob_name}/")

    def export_batch(self, job: ExportJob) -> None:
        checkpoint = job.checkpoint
        plan = datasets.plan_for(job)
        writer = writer_for(job.format, job.columns, checkpoint.format_state, FormatOptions.of(job.request))
        warnings = CellWarnings()
        digest = FileDigest(checkpoint.sha256_state) if job.hashes_while_writing() else None
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
            digest=digest,
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
            sha256_state=digest.state() if digest is not None else None,
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
            job = self.save(job)
            self.finalize(job)
        else:
            self.save_and_continue(job)

    def finalize(self, job: ExportJob) -> None:
        """Commits the file, finishes its hash, writes its manifest and completes the job.

        Safe to run again: committing the same block list again gives the same file, and the manifest is
        the same bytes. Hashing a file that was not hashed while written (a sharded one) reads it back,
        from where the last step left off, in steps within the batch time budget.
        """
        deadline = self.monotonic() + self.settings.batch_time_budget_seconds
        checkpoint = job.checkpoint
        if checkpoint.shards:
            joined = self._join_shards(job)
            if joined is None:
                self.save_and_continue(job)
                return
            blocks = joined
        else:
            blocks = block_ids(checkpoint.parts)
        size = self.sink.commit(
            job.blob_name,
            blocks,
            content_type=job.content_type,
            content_disposition=attachment(job.file_name),
        )
        sha256 = self._file_sha256(job, size, out_of_time=lambda: self.monotonic() > deadline)
        if sha256 is None:
            self.save_and_continue(job)
            return
        manifest = ExportManifest.of(job, size_bytes=size, sha256=sha256).to_bytes()
        written = self.sink.write_once(
            manifest_blob_name(job),
            manifest,
            content_type="application/json",
            content_disposition=attachment(manifest_file_name(job)),
        )
        if written != manifest:
            raise ExportFailed(
                "The export's manifest already exists with other content; it is never overwritten, so the export "
                "was stopped. Please request it again."
            )
        if job.checkpoint.sort_runs:
            # The file is committed and hashed: the runs it was merged from are not needed again, even by a
            # repeat of this step, and a job seen completed has none left.
            self.runs.delete_all(f"{self.settings.sort_runs_prefix}/{job.blob_name}/")
        now = self.clock.now()
        job.complete(size, sha256, hashlib.sha256(manifest).hexdigest(), now, self.retention)
        try:
            job = self.save(job)
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

    def _join_shards(self, job: ExportJob) -> list[str] | None:
        """Stages the blocks that join the shards (exports/formats/shard_join.py) and returns the file's block
        list, or None if the shards cannot be joined and the export was restarted as one chain.

        The joining blocks have fixed ids and contents, so a finalizing step that runs again stages the same.
        """
        checkpoint = job.checkpoint
        shards = checkpoint.shards
        joining = ShardedFile(
            job.format,
            job.columns,
            FormatOptions.of(job.request),
            states=[shard.format_state for shard in shards],
            rows=[shard.rows for shard in shards],
            first_rows=[index * checkpoint.shard_size for index in range(len(shards))],
        )
        if not joining.consistent():
            log.warning(
                "export %s: the source changed since it was counted, so its shards do not join; "
                "writing it again as one chain",
                job.job_id,
                extra=log_fields(job, shards=len(shards)),
            )
            job.restart_unsharded()
            return None

        blocks: list[str] = []

        def stage(name: str, data: bytes) -> None:
            if data:
                self.sink.stage(job.blob_name, name, data)
                blocks.append(name)

        for index, shard in enumerate(shards):
            stage(joining_block_id(index, "sep"), joining.separator(index))
            holes: dict[tuple[int, int], list[int]] = {}
            for number, (batch, part) in enumerate(shard.holes):
                holes.setdefault((batch, part), []).append(number)
            for batch, count in enumerate(shard.parts):
                for part in range(count + 1):
                    for number in holes.get((batch, part), []):
                        stage(joining_block_id(index, "hole", number), joining.hole(index, number))
                    if part < count:
                        blocks.append(block_id(batch, part, index))
        stage(joining_block_id(len(shards) - 1, "end"), joining.end())
        return blocks

    def _file_sha256(self, job: ExportJob, size: int, *, out_of_time: Callable[[], bool]) -> str | None:
        """The committed file's SHA-256, or None if reading it back must go on in the next step."""
        checkpoint = job.checkpoint
        digest = FileDigest(checkpoint.sha256_state if checkpoint.hashed_bytes else None)
        offset = checkpoint.hashed_bytes
        if offset > size:
            raise ExportFailed("The export's file is shorter than the bytes written to it; please request it again.")
        read_any = False
        while offset < size:
            if read_any and out_of_time():
                job.hashed_up_to(offset, digest.state())
                log.info("export %s: file hashed up to byte %s of %s", job.job_id, offset, size,
                         extra=log_fields(job, bytes=offset))
                return None
            chunk = self.sink.read(job.blob_name, offset, min(HASH_READ_BYTES, size - offset))
            if not chunk:
                raise ExportFailed("The export's file ended before its committed size; please request it again.")
            digest.update(chunk)
            offset += len(chunk)
            read_any = True
        return digest.hexdigest()

    def save_and_continue(self, job: ExportJob) -> None:
        job.step_done()
        job = self.save(job)
        self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=job.checkpoint.seq))

    def save(self, job: ExportJob) -> ExportJob:
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


def log_fields(job: ExportJob, **fields: object) -> dict[str, object]:
    """The `extra` of a log line about a job (shared/logging_json.py writes it as JSON fields)."""
    return {"job_id": job.job_id, "organization_id": job.organization_id, "status": job.status, **fields}


def _same_state(stored: ExportJob, ours: ExportJob) -> bool:
    """The stored job is the state a step wrote: its status, stage and checkpoint."""
    return (stored.status, stored.stage, stored.checkpoint) == (ours.status, ours.stage, ours.checkpoint)
