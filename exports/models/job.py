"""The export job and its checkpoint: the domain record, with the transitions that change it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from exports.models.base import CamelModel
from exports.models.request import ColumnSpec, CreateExportRequest, Dataset, ExportFormat, ExportType
from shared.errors import ConcurrencyConflict, Conflict


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobStage(StrEnum):
    """Seed 001's ProgressStage: Queued, Counting, Exporting, Uploading (here `finalizing`)."""

    QUEUED = "queued"
    COUNTING = "counting"
    EXPORTING = "exporting"
    FINALIZING = "finalizing"


# ISO 8601 text only: a number, or digits pydantic would read as Unix seconds, is refused (exports/dates.py).

# The most shards one export is split into (EXPORTS_MAX_SHARDS may lower it).
MAX_SHARDS = 64
# A job keeps the first this many cell warnings (in file order) besides their count.
WARNING_SAMPLES = 10


class CellWarning(CamelModel):
    """A source value that did not have its column's type and was exported as its text instead.

    Never the value itself: the job record, the API and the event name where it is and what type it had.
    """

    record: str  # the source record's key: a case's, a case record's or a ticket's
    column: str
    found: str  # the type the value had: text, integer, number, boolean, datetime, date, binary, ...
    expected: str  # the column's data type, lower case: datetime, integer, text, ... (or "JSON object")


class Checkpoint(BaseModel):
    """Everything a later invocation needs to resume: nothing else is shared between batches."""

    model_config = ConfigDict(extra="forbid")

    seq: int = 0
    cursor: str | None = None
    counted: int = 0
    count_cursor: str | None = None
    rows_written: int = 0
    bytes_written: int = 0
    # Number of staged blocks each finished export batch produced, in order; block ids derive from it.
    parts: list[int] = Field(default_factory=list)
    format_state: dict[str, Any] = Field(default_factory=dict)
    redrives: int = 0
    # Sorted exports: the number of sorted runs the counting stage wrote.
    sort_runs: int = 0
    # Sharded exports: the keys that end shards 0..n-2, recorded while counting every
    # `shard_size` source units, and each shard's own progress once exporting.
    shard_bounds: list[str] = Field(default_factory=list)
    shard_size: int = 0
    shards: list[ShardState] = Field(default_factory=list)
    # Cells exported as text because their source value had the wrong type: counted per batch and saved
    # with that batch's step, so a batch that runs again never counts its cells twice.
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)
    # The file's SHA-256 so far: the running state over its first `hashed_bytes` bytes (exports/digest.py).
    # While written in one chain every staged block is hashed; shards are hashed from the committed file.
    sha256_state: str | None = None
    hashed_bytes: int = 0
    # Shards whose starts, taken from the count, no longer held at commit: the export was restarted as one
    # chain (`restart_unsharded`), and a late message for one of these shards is a stale copy.
    shards_dropped: int = 0

    def warning_summary(self) -> tuple[int, list[CellWarning]]:
        """Every warning of the job and the first few in file order (shards hold theirs in key order)."""
        count = self.warnings + sum(shard.warnings for shard in self.shards)
        samples = [*self.warning_samples, *(sample for shard in self.shards for sample in shard.warning_samples)]
        return count, samples[:WARNING_SAMPLES]


class ShardState(BaseModel):
    """One key range of a sharded export: its own step number, cursor and staged blocks."""

    model_config = ConfigDict(extra="forbid")

    seq: int = 0
    cursor: str | None = None
    rows: int = 0
    bytes: int = 0
    parts: list[int] = Field(default_factory=list)
    done: bool = False
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)
    # The shard's writer state after its last batch (a gzip CRC-32, an XLSX sheet's place, ...), and where
    # the finalizing step puts blocks between its own: [batch, parts of that batch before it].
    format_state: dict[str, Any] = Field(default_factory=dict)
    holes: list[list[int]] = Field(default_factory=list)


class DeliveryAttempt(CamelModel):
    """One webhook delivery attempt, as recorded on the job."""

    attempt: int
    at: datetime
    status_code: int | None = None
    outcome: Literal["delivered", "retrying", "gave_up", "refused"]
    error: str | None = None


@dataclass(frozen=True)
class Retention:
    """How long an ended job and its file are kept, counted from the end of the job.

    The one retention rule: ticket exports are kept EXPORTS_TICKET_EXPIRY_HOURS (72), case exports
    EXPORTS_CASE_EXPIRY_HOURS (168, 7 days).
    """

    ticket_hours: float
    case_hours: float

    def expires_at(self, dataset: Dataset, ended_at: datetime) -> datetime:
        hours = self.ticket_hours if dataset is Dataset.TICKETS else self.case_hours
        return ended_at + timedelta(hours=hours)


class ExportJob(BaseModel):
    """The job as the domain sees it; stored in Table storage by the job store."""

    model_config = ConfigDict(validate_assignment=False)

    job_id: str
    organization_id: str
    created_by_id: str
    created_by_name: str = ""
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    request: CreateExportRequest
    columns: list[ColumnSpec]
    status: JobStatus = JobStatus.QUEUED
    stage: JobStage | None = JobStage.QUEUED
    progress: int = 0
    total_rows: int | None = None
    processed_rows: int = 0
    blob_name: str
    file_name: str
    content_type: str
    file_size_bytes: int | None = None
    # A completed job's file and manifest as written: `sha256sum` of each download equals these.
    file_sha256: str | None = None
    manifest_sha256: str | None = None
    expires_at: datetime | None = None
    error_message: str | None = None
    error_details: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    updated_at: datetime
    completed_at: datetime | None = None
    is_cleaned_up: bool = False
    cleaned_up_at: datetime | None = None
    source: Literal["http", "queue", "schedule"] = "http"
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    # Lifecycle. `event_pending` is the outbox flag: set in the same ETag update that makes the
    # job final, cleared once its event is published, so a crash in between is repaired later.
    reply_queue: str | None = None
    event_pending: bool = False
    deliveries: list[DeliveryAttempt] = Field(default_factory=list)
    deleted_at: datetime | None = None
    deleted_by_id: str | None = None
    # The schedule whose run made the job (exports/scheduling.py).
    schedule_id: str | None = None
    etag: str | None = None

    # ---- transitions: each changes the job in place; a bool says whether there is anything to save -----

    def start(self, now: datetime) -> None:
        self.status = JobStatus.RUNNING
        self.stage = JobStage.COUNTING
        self.started_at = now

    def step_done(self) -> None:
        """The job moved one step: the next message carries the next number."""
        self.checkpoint.seq += 1
        # The re-drive limit is for jobs that stopped moving: a step that moved it starts the count again.
        self.checkpoint.redrives = 0

    def finish_counting(self) -> bool:
        """Counting is over: the total is known and exporting begins; True if the export runs in shards."""
        checkpoint = self.checkpoint
        self.total_rows = checkpoint.counted
        self.stage = JobStage.EXPORTING
        if checkpoint.shard_bounds and checkpoint.counted == checkpoint.shard_size * len(checkpoint.shard_bounds):
            checkpoint.shard_bounds.pop()  # the source ended exactly at a bound: no empty last shard
        if checkpoint.shard_bounds:
            checkpoint.shards = [ShardState() for _ in range(len(checkpoint.shard_bounds) + 1)]
        return bool(checkpoint.shard_bounds)

    def restart_unsharded(self) -> None:
        """The shards' bytes cannot be joined into the file (the source changed since it was counted):
        the export is written again, as one chain, from the start; the total stays the count's."""
        checkpoint = self.checkpoint
        self.checkpoint = Checkpoint(
            seq=checkpoint.seq,
            counted=checkpoint.counted,
            redrives=checkpoint.redrives,
            shards_dropped=len(checkpoint.shards),
        )
        self.stage = JobStage.EXPORTING
        self.processed_rows = 0
        self.progress = 0

    def record_batch(
        self,
        *,
        cursor: str | None,
        rows: int,
        bytes_staged: int,
        parts: int,
        format_state: dict[str, Any],
        warnings: int,
        samples: list[CellWarning],
        finished: bool,
        sha256_state: str | None = None,
    ) -> None:
        """One written batch of an unsharded export; the last one takes the job on to finalizing.

        `sha256_state` is the file's hash after this batch's blocks, if the batch hashed them.
        """
        checkpoint = self.checkpoint
        if sha256_state is not None:
            checkpoint.sha256_state = sha256_state
            checkpoint.hashed_bytes += bytes_staged
        checkpoint.cursor = cursor or checkpoint.cursor
        checkpoint.rows_written += rows
        checkpoint.bytes_written += bytes_staged
        checkpoint.parts.append(parts)
        checkpoint.format_state = format_state
        # Saved with this step: a batch that runs again is counted once, by the run whose step is saved.
        checkpoint.warnings += warnings
        room = WARNING_SAMPLES - len(checkpoint.warning_samples)
        checkpoint.warning_samples += samples[: max(0, room)]
        self.processed_rows = checkpoint.rows_written
        total = max(self.total_rows or 0, checkpoint.rows_written)
        self.progress = 99 if finished else min(99, int(100 * checkpoint.rows_written / total) if total else 0)
        if finished:
            self.stage = JobStage.FINALIZING

    def hashes_while_writing(self) -> bool:
        """The next batch can feed the file's hash: every byte staged so far is in it (a job written before
        files were hashed, or a sharded one, is hashed from the committed file instead)."""
        checkpoint = self.checkpoint
        return not checkpoint.shards and checkpoint.hashed_bytes == checkpoint.bytes_written

    def hashed_up_to(self, offset: int, sha256_state: str) -> None:
        """The committed file is hashed up to `offset`; the next finalizing step reads on from there."""
        self.checkpoint.hashed_bytes = offset
        self.checkpoint.sha256_state = sha256_state

    def _end(self, status: JobStatus, now: datetime, retention: Retention) -> None:
        """The one rule for a final state: no stage, ended now, expiring from now, and its event owed.

        `event_pending` is set in the same write that makes the job final, so a crash before the event
        is published leaves the flag for the timer to find.
        """
        self.status = status
        self.stage = None
        self.completed_at = now
        self.updated_at = now
        self.expires_at = retention.expires_at(self.dataset, now)
        self.event_pending = True
        # The hash state holds the file's last few unhashed bytes: a final job, kept for the audit trail after
        # its file is deleted, keeps none of the file's content.
        self.checkpoint.sha256_state = None

    def complete(
        self, file_size_bytes: int, file_sha256: str, manifest_sha256: str, now: datetime, retention: Retention
    ) -> None:
        self._end(JobStatus.COMPLETED, now, retention)
        self.progress = 100
        self.total_rows = self.checkpoint.rows_written
        self.processed_rows = self.checkpoint.rows_written
        self.file_size_bytes = file_size_bytes
        self.file_sha256 = file_sha256
        self.manifest_sha256 = manifest_sha256

    def fail(self, message: str, details: dict[str, object] | None, now: datetime, retention: Retention) -> bool:
        """False for a job that already ended: its first end stands."""
        if self.status.is_final:
            return False
        self._end(JobStatus.FAILED, now, retention)
        self.error_message = message
        self.error_details = dict(details or {})
        return True

    def cancel(self, now: datetime, retention: Retention) -> bool:
        """False if already cancelled; a job that completed or failed cannot be cancelled (Conflict)."""
        if self.status is JobStatus.CANCELLED:
            return False
        if self.status.is_final:
            raise Conflict(
                f"The export is already {self.status.value}; only queued or running exports can be cancelled."
            )
        self._end(JobStatus.CANCELLED, now, retention)
        return True

    def delete(self, deleted_by_id: str, now: datetime) -> bool:
        """Marks the job deleted and its file gone; the record stays for the audit trail. False if deleted."""
        if self.deleted_at is not None:
            return False
        self.deleted_at = now
        self.deleted_by_id = deleted_by_id
        self.is_cleaned_up = True
        self.cleaned_up_at = self.cleaned_up_at or now
        self.updated_at = now
        return True

    def event_published(self) -> bool:
        """Clears the outbox flag; False if another run of the publication cleared it already."""
        if not self.event_pending:
            return False
        self.event_pending = False
        return True

    def note_delivery(self, attempt: DeliveryAttempt) -> None:
        """Records a webhook delivery attempt once, whichever copy of its message records it."""
        if not any(d.attempt == attempt.attempt for d in self.deliveries):
            self.deliveries.append(attempt)

    def cleaned_up(self, now: datetime) -> None:
        self.is_cleaned_up = True
        self.cleaned_up_at = now

    def redriven(self, now: datetime) -> None:
        self.checkpoint.redrives += 1
        self.updated_at = now

    def record_shard(self, index: int, seq: int, state: ShardState, now: datetime) -> bool:
        """Saves shard `index`'s step `seq` as `state`; the job goes on to finalizing with its last shard.

        False if this very step is saved already (a lost answer whose retry saw our own write). Another
        copy of the step saving first, or a job that ended meanwhile, is a ConcurrencyConflict.
        """
        if self.status.is_final:
            raise ConcurrencyConflict(f"export {self.job_id} ended while its shard was being saved")
        checkpoint = self.checkpoint
        current = checkpoint.shards[index]
        if _same_step(current, state):
            return False
        if current.seq != seq:
            raise ConcurrencyConflict("another copy of this shard's step saved first")
        checkpoint.shards[index] = state.model_copy(deep=True)
        _keep_first_samples(checkpoint.shards)
        checkpoint.rows_written = sum(shard.rows for shard in checkpoint.shards)
        checkpoint.bytes_written = sum(shard.bytes for shard in checkpoint.shards)
        self.processed_rows = checkpoint.rows_written
        total = max(self.total_rows or 0, checkpoint.rows_written)
        self.progress = min(99, int(100 * checkpoint.rows_written / total) if total else 0)
        if all(shard.done for shard in checkpoint.shards):
            self.stage = JobStage.FINALIZING
            checkpoint.seq += 1
        checkpoint.redrives = 0
        self.updated_at = now
        return True


def _same_step(saved: ShardState, state: ShardState) -> bool:
    """The shard's step as saved; its samples may since have been trimmed because earlier shards hold enough."""
    return saved.model_copy(update={"warning_samples": []}) == state.model_copy(update={"warning_samples": []})


def _keep_first_samples(shards: list[ShardState]) -> None:
    """Keeps only the warning samples that can still be among the job's first ones, in shard (= file) order.

    Earlier shards only ever gain samples, so a sample beyond the first WARNING_SAMPLES of all shards in
    order never comes back: dropping it keeps the checkpoint small whatever the number of shards, and the
    job's samples are the same whichever order the shards ran in.
    """
    room = WARNING_SAMPLES
    for shard in shards:
        if len(shard.warning_samples) > room:
            shard.warning_samples = shard.warning_samples[:room]
        room -= len(shard.warning_samples)
