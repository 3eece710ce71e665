"""Use cases: create, get, list, cancel, download, run a step, clean up, take a queued request."""

from __future__ import annotations

import builtins
import hashlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from exports import datasets
from exports.datasets.columns import CellWarnings
from exports.engine import ExportBatch, block_ids
from exports.events import Resolver, system_resolver
from exports.formats import FormatOptions, content_type, file_extension, writer_for
from exports.lifecycle import LifecycleMixin
from exports.messages import InvalidRequestMessage, named_job
from exports.models import (
    WARNING_SAMPLES,
    Checkpoint,
    Compression,
    CreateExportRequest,
    Dataset,
    ExportFormat,
    ExportJob,
    ExportRequestMessage,
    JobPage,
    JobStage,
    JobStatus,
    JobView,
    ShardState,
    WorkMessage,
)
from exports.ports import (
    AuditLog,
    BlobSink,
    Clock,
    EventQueues,
    IdempotencyRecord,
    IdempotencyStore,
    JobStore,
    LimitStore,
    LinkSigner,
    RowSource,
    RunStore,
    SystemClock,
    TagStore,
    WebhookSender,
    WorkQueue,
)
from exports.sorting import merge, run_name, write_run
from exports.steps import Action, next_step, stage_action
from exports.updates import update_job
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import (
    BadMessage,
    ConcurrencyConflict,
    Conflict,
    ExportFailed,
    Forbidden,
    Gone,
    NotFound,
    QuotaExceeded,
    RequestError,
    ValidationFailed,
)
from shared.headers import attachment
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Job ids sort newest first in a partition: an inverted millisecond clock, then a uuid4 (122 random bits).
_INVERTED_CLOCK_BASE = 10**13 - 1
COUNT_PAGE = 5_000
# Lost races before a cancel gives up and answers 409 (it used to retry without a bound).
CANCEL_ATTEMPTS = 50
# Every shard saves its steps into the one job: many may race, so a shard's save retries longer.
SHARD_SAVE_ATTEMPTS = 50


def new_job_id(created_at: datetime) -> str:
    inverted = _INVERTED_CLOCK_BASE - int(created_at.timestamp() * 1000)
    return f"{inverted:013d}-{uuid.uuid4().hex}"


def scoped_idempotency_key(user_id: str, key: str) -> str:
    # Keys are per user: two users (or requesting systems) may use the same key for different exports.
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def request_fingerprint(request: CreateExportRequest) -> str:
    canonical = orjson.dumps(request.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass
class ExportService(LifecycleMixin):
    settings: Settings
    jobs: JobStore
    idempotency: IdempotencyStore
    work: WorkQueue
    source: RowSource
    sink: BlobSink
    signer: LinkSigner
    tags: TagStore
    runs: RunStore
    events: EventQueues
    audit: AuditLog
    limits: LimitStore
    webhooks: WebhookSender
    clock: Clock = field(default_factory=SystemClock)
    monotonic: Callable[[], float] = time.monotonic
    resolve: Resolver = system_resolver

    # ---- HTTP and queue intake -------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        request: CreateExportRequest,
        *,
        idempotency_key: str | None = None,
        source: str = "http",
        client: str | None = None,
        reply_queue: str | None = None,
    ) -> tuple[ExportJob, bool]:
        """Records the job and queues its first step. Returns (job, created) — False for a repeat."""
        self._require_export_permission(principal, request.dataset)
        self._check_lifecycle_request(principal, request, reply_queue)
        tags = self.tags.list(principal.organization_id) if request.dataset is Dataset.CASES else []
        columns = datasets.columns_for(request, tags)
        now = self.clock.now()
        job_id = new_job_id(now)
        if idempotency_key is not None:
            existing = self._claim_idempotency_key(principal, idempotency_key, request, job_id)
            if existing is not None:
                job = self.jobs.get(principal.organization_id, existing)
                if job is not None:
                    return job, False
                # The first attempt claimed the key and died before recording the job: finish it now.
                job_id = existing
        # A repeat (above) is not a new request; over the quota nothing is recorded or queued.
        self._take_daily_quota(principal.organization_id)
        options = FormatOptions.of(request)
        ext = file_extension(request.format, options)
        job = ExportJob(
            job_id=job_id,
            organization_id=principal.organization_id,
            created_by_id=principal.user_id,
            created_by_name=principal.name,
            dataset=request.dataset,
            export_type=request.export_type,
            format=request.format,
            request=request,
            columns=columns,
            blob_name=f"{uuid.uuid4().hex}.{ext}",
            file_name=f"{request.dataset.value}-{request.export_type.value.lower()}-{now:%Y%m%d-%H%M%S}.{ext}",
            content_type=content_type(request.format, options),
            created_at=now,
            updated_at=now,
            source="queue" if source == "queue" else "http",
            reply_queue=reply_queue,
        )
        try:
            job = self.jobs.insert(job)
        except Conflict:
            # Two requests with the same idempotency key raced; the other recorded it first.
            stored = self.jobs.get(principal.organization_id, job_id)
            if stored is None:
                raise
            return stored, False
        self._record(
            job, "requested", actor_id=principal.user_id, actor_name=principal.name, client=client,
            source="queue" if source == "queue" else "http",
        )
        self.work.send(WorkMessage(org_id=job.organization_id, job_id=job.job_id, seq=0))
        log.info(
            "export %s queued for org %s (%s %s)",
            job.job_id,
            job.organization_id,
            job.dataset,
            job.format,
            extra=_log_fields(job, dataset=job.dataset, format=job.format),
        )
        return job, True

    def take_request(self, message: ExportRequestMessage | InvalidRequestMessage) -> ExportJob | None:
        """A request from another system via the request queue: created exactly as over HTTP, or refused.

        A refusal (403, 422, 429) is answered on the events queue and the message's reply queue, and the
        message is done: None. A request id that was accepted once is never refused afterwards.
        """
        key = f"queue:{message.request_id}"
        if isinstance(message, InvalidRequestMessage):
            user_id, reply_queue = message.requested_by_id, message.reply_queue
            refusal: RequestError = ValidationFailed(message.reason, errors=message.errors)
        else:
            user_id, reply_queue = message.requested_by.user_id, message.reply_queue
            principal = Principal(
                organization_id=message.org_id,
                user_id=user_id,
                name=message.requested_by.name or user_id,
                roles=frozenset(message.requested_by.roles),
            )
            try:
                job, _ = self.create(principal, message.request, idempotency_key=key, source="queue",
                                     reply_queue=reply_queue)
                return job
            except (Forbidden, ValidationFailed, QuotaExceeded) as error:
                refusal = error
        accepted = self._accepted_request(message.org_id, user_id, key)
        if accepted is not None:
            log.warning("queued request %s was accepted before as export %s; this copy is not refused",
                        message.request_id, accepted.job_id, extra=_log_fields(accepted))
            return accepted
        self._answer_refusal(message.org_id, user_id, message.request_id, reply_queue, refusal)
        return None

    def _accepted_request(self, organization_id: str, user_id: str, key: str) -> ExportJob | None:
        record = self.idempotency.get(organization_id, scoped_idempotency_key(user_id, key))
        return self.jobs.get(organization_id, record.job_id) if record is not None and record.job_id else None

    def get(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        job = self._visible_job(principal, job_id)
        # An administrator sees every job's metadata; a link only with the dataset's permission, held now.
        linkable = self._downloadable(job) and principal.has(_dataset_permission(job.dataset))
        url = self._link(job, principal, client, via="job status") if linkable else None
        return JobView.of(job, url)

    def list(
        self,
        principal: Principal,
        *,
        status: JobStatus | None,
        page_size: int | None,
        continuation_token: str | None,
        whole_organization: bool,
    ) -> JobPage:
        if whole_organization and not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("Listing the whole organization's exports needs the manage_system_settings permission.")
        listing = self.jobs.list(
            principal.organization_id,
            created_by_id=None if whole_organization else principal.user_id,
            status=status,
            page_size=page_size or self.settings.list_page_size,
            continuation_token=continuation_token,
        )
        return JobPage(items=[JobView.of(job) for job in listing.jobs], continuation_token=listing.continuation_token)

    def cancel(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        job = self._visible_job(principal, job_id)
        self._require_dataset_permission(principal, job, "Cancelling")

        def mark_cancelled(stored: ExportJob) -> bool:
            return stored.cancel(self.clock.now(), self._retention)

        try:
            updated = update_job(self.jobs, job.organization_id, job_id, mark_cancelled, current=job,
                                 attempts=CANCEL_ATTEMPTS)
        except ConcurrencyConflict:
            raise Conflict(f"Export {job_id} kept changing while it was being cancelled; try again.") from None
        if updated is None:
            raise NotFound(f"No export {job_id} was found.")
        job = updated.job
        if not updated.written:
            return JobView.of(job)
        log.info("export %s cancelled by %s", job.job_id, principal.user_id, extra=_log_fields(job))
        self._record(job, "cancelled", actor_id=principal.user_id, actor_name=principal.name, client=client)
        self._publish_transition(job)
        return JobView.of(job)

    def download_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        job = self._visible_job(principal, job_id)
        self._require_dataset_permission(principal, job, "Downloading")
        if job.deleted_at is not None:
            raise Gone("The export was deleted; request a new export.")
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(f"The export is {job.status.value}; it can be downloaded once it has completed.")
        if not self._downloadable(job):
            raise Gone("The export's file has expired and was deleted; request a new export.")
        return self._link(job, principal, client, via="download redirect")

    # ---- the worker ------------------------------------------------------------------------------

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
                self._discard_files(job)
            if step.publish:
                self._publish_transition(job)
        elif action is Action.AHEAD:
            log.warning(
                "export %s: message for step %s is ahead of step %s; dropped",
                job.job_id,
                message.seq,
                job.checkpoint.seq,
                extra=_log_fields(job, step=message.seq),
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
            if self._take_running_slot(job, message):
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
                extra=_log_fields(job, step=message.seq),
            )
        except ExportFailed as failure:
            self._fail(job, failure.message, failure.details)
        except Exception as error:
            if attempt < self.settings.max_attempts:
                raise
            log.exception("export %s failed on its last attempt", job.job_id, extra=_log_fields(job, attempt=attempt))
            self._fail(
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
            extra=_log_fields(
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
                extra=_log_fields(job, shard=index, batch=batch.batch_index),
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
    ) -> Callable[[dict[str, Any]], builtins.list[builtins.list[Any]]]:
        build = plan.row_builder(warnings)
        if datasets.sorting_for(plan) is not None:
            return lambda unit: build(unit["entity"])
        return build

    def _discard_files(self, job: ExportJob) -> None:
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
            extra=_log_fields(
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
                extra=_log_fields(job, batch=batch.batch_index),
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
        job.complete(size, now, self._retention)
        try:
            job = self._save(job)
        except ConcurrencyConflict:
            current = self.jobs.get(job.organization_id, job.job_id)
            if current is not None and current.status is JobStatus.CANCELLED:
                # Cancellation wins even over a file that was just committed.
                self._discard_files(job)
            return
        log.info(
            "export %s completed: %s rows, %s bytes",
            job.job_id,
            job.total_rows,
            size,
            extra=_log_fields(
                job,
                rows=job.total_rows,
                bytes=size,
                duration_ms=round(1000 * (now - (job.started_at or job.created_at)).total_seconds()),
            ),
        )
        self._publish_transition(job)
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
            extra=_log_fields(job, step=job.checkpoint.seq),
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

    def _fail(self, job: ExportJob, message: str, details: dict[str, object] | None) -> None:
        def mark_failed(current: ExportJob) -> bool:
            return current.fail(message, details, self.clock.now(), self._retention)

        try:
            updated = update_job(self.jobs, job.organization_id, job.job_id, mark_failed, attempts=5)
        except ConcurrencyConflict:
            return
        if updated is None or not updated.written:
            return
        log.warning("export %s failed: %s", job.job_id, message, extra=_log_fields(updated.job))
        self._publish_transition(updated.job)

    def reject_work_message(self, body: bytes, reason: str, *, attempt: int) -> None:
        """On its last attempt, an unreadable work message fails the job it names (same organization only)."""
        if attempt < self.settings.max_attempts:
            return
        named = named_job(body)
        if named is None:
            return
        job = self.jobs.get(*named)
        if job is not None:
            self._fail(job, f"The export stopped: one of its work messages could not be read ({reason}).", {})

    # ---- the timer -------------------------------------------------------------------------------

    def redrive_stalled(self) -> int:
        """Jobs that stopped moving (a lost message, a dead worker) go on from their checkpoint."""
        before = self.clock.now() - timedelta(seconds=self.settings.stalled_after_seconds)
        redriven = 0
        for job in self.jobs.list_stalled(before):
            if job.checkpoint.redrives >= self.settings.max_redrives:
                self._fail(
                    job,
                    f"The export stopped making progress and was retried {job.checkpoint.redrives} times; "
                    "please request it again.",
                    {"redrives": job.checkpoint.redrives},
                )
                continue
            self.redrive(job)
            redriven += 1
        return redriven

    def clean_up(self) -> int:
        """Deletes files past expiry and marks their jobs cleaned up. Safe to run twice at once."""
        now = self.clock.now()
        cleaned = 0
        for job in self.jobs.list_expired(now):
            # Delete first: a crash before the mark leaves the job listed for the next run.
            self._discard_files(job)

            def mark_cleaned_up(stored: ExportJob) -> bool:
                stored.cleaned_up(now)
                return True

            try:
                update_job(self.jobs, job.organization_id, job.job_id, mark_cleaned_up, current=job, attempts=1)
            except ConcurrencyConflict:
                continue
            cleaned += 1
        if cleaned:
            log.info("clean-up removed %s expired export file(s)", cleaned)
        return cleaned

    # ---- helpers ---------------------------------------------------------------------------------

    def _visible_job(self, principal: Principal, job_id: str) -> ExportJob:
        job = self.jobs.get(principal.organization_id, job_id) if _plausible_job_id(job_id) else None
        if job is None or (job.created_by_id != principal.user_id and not principal.has(MANAGE_SYSTEM_SETTINGS)):
            # Another user's or organization's job looks exactly like a missing one.
            raise NotFound(f"No export {job_id} was found.")
        return job

    def _downloadable(self, job: ExportJob) -> bool:
        return (
            job.status is JobStatus.COMPLETED
            and not job.is_cleaned_up
            and job.expires_at is not None
            and job.expires_at > self.clock.now()
        )

    def _link(self, job: ExportJob, principal: Principal, client: str | None, *, via: str) -> str:
        assert job.expires_at is not None
        # Never valid past the file's expiry, so clean-up can never leave a live link to a deleted blob.
        valid_for = min(timedelta(minutes=self.settings.download_link_minutes), job.expires_at - self.clock.now())
        url = self.signer.sign(job.blob_name, file_name=job.file_name, valid_for=valid_for)
        # Storage cannot tell us about the download itself: issuing the link is what the audit can see. A page
        # polling a completed job gets a fresh link each time; one row per user, job and link lifetime says it.
        lifetime = 60 * self.settings.download_link_minutes
        user = hashlib.sha256(principal.user_id.encode()).hexdigest()[:32]
        mark = f"link-issued:{job.job_id}:{user}:{int(self.clock.now().timestamp()) // lifetime}"
        if self.idempotency.get(job.organization_id, mark) is None:
            # Recorded before the mark: a crash in between repeats the row rather than losing it.
            self._record(job, "downloaded", actor_id=principal.user_id, actor_name=principal.name, client=client,
                         detail=f"download link issued ({via}); valid {self.settings.download_link_minutes} minutes")
            self.idempotency.claim(job.organization_id, mark, IdempotencyRecord(job_id=job.job_id, request_hash=""))
        return url

    def _claim_idempotency_key(
        self, principal: Principal, key: str, request: CreateExportRequest, job_id: str
    ) -> str | None:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
            raise ValidationFailed(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters.")
        scoped = scoped_idempotency_key(principal.user_id, key)
        fingerprint = request_fingerprint(request)
        existing = self.idempotency.claim(
            principal.organization_id, scoped, IdempotencyRecord(job_id=job_id, request_hash=fingerprint)
        )
        if existing is None:
            return None
        if existing.request_hash != fingerprint:
            raise ValidationFailed("This Idempotency-Key was already used for a different export request.")
        return existing.job_id

    @staticmethod
    def _require_export_permission(principal: Principal, dataset: Dataset) -> None:
        needed = _dataset_permission(dataset)
        if not principal.has(needed):
            raise Forbidden(f"Exporting {dataset.value} needs the {needed} permission.")

    @staticmethod
    def _require_dataset_permission(principal: Principal, job: ExportJob, action: str) -> None:
        """The permission to export the job's dataset, checked at the moment of each use of the file: a user
        whose permission was removed, or an administrator without it, cannot take or drop someone's data."""
        needed = _dataset_permission(job.dataset)
        if not principal.has(needed):
            raise Forbidden(f"{action} a {job.dataset.value} export needs the {needed} permission.")


def _dataset_permission(dataset: Dataset) -> str:
    return IMPORT_EXPORT_TICKETS if dataset is Dataset.TICKETS else ACCESS_REPORTS


def _log_fields(job: ExportJob, **fields: object) -> dict[str, object]:
    """The `extra` of a log line about a job (shared/logging_json.py writes it as JSON fields)."""
    return {"job_id": job.job_id, "organization_id": job.organization_id, "status": job.status, **fields}


def _same_state(stored: ExportJob, ours: ExportJob) -> bool:
    """The stored job is the state a step wrote: its status, stage and checkpoint."""
    return (stored.status, stored.stage, stored.checkpoint) == (ours.status, ours.stage, ours.checkpoint)


def _plausible_job_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 100 and all(ch.isalnum() or ch == "-" for ch in job_id)
