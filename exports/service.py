"""Use cases: create, get, list, cancel, download, run a step, clean up, take a queued request."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from exports import datasets
from exports.events import Resolver, system_resolver
from exports.formats import FormatOptions, content_type, file_extension
from exports.housekeeping import Housekeeping
from exports.job_writer import log_fields
from exports.lifecycle import LifecycleMixin
from exports.messages import InvalidRequestMessage
from exports.models import (
    CreateExportRequest,
    Dataset,
    ExportJob,
    ExportRequestMessage,
    JobPage,
    JobStatus,
    JobView,
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
from exports.updates import update_job
from exports.worker import Worker
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import (
    ConcurrencyConflict,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    QuotaExceeded,
    RequestError,
    ValidationFailed,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Job ids sort newest first in a partition: an inverted millisecond clock, then a uuid4 (122 random bits).
_INVERTED_CLOCK_BASE = 10**13 - 1
# Lost races before a cancel gives up and answers 409 (it used to retry without a bound).
CANCEL_ATTEMPTS = 50


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
            extra=log_fields(job, dataset=job.dataset, format=job.format),
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
                        message.request_id, accepted.job_id, extra=log_fields(accepted))
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
        log.info("export %s cancelled by %s", job.job_id, principal.user_id, extra=log_fields(job))
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

    # ---- the worker and the timer: exports/worker.py, exports/housekeeping.py -------------------

    @property
    def _worker(self) -> Worker:
        # Built on each use from the current ports: a test (or the bench) may swap a port on the service.
        return Worker(
            settings=self.settings, jobs=self.jobs, work=self.work, source=self.source, sink=self.sink,
            runs=self.runs, clock=self.clock, monotonic=self.monotonic, outbox=self._outbox,
            org_limits=self._org_limits, retention=self._retention,
        )

    def run_step(self, message: WorkMessage, *, attempt: int = 1) -> None:
        """Processes one queue message: one bounded step of one job, safe to repeat."""
        self._worker.run_step(message, attempt=attempt)

    def redrive(self, job: ExportJob) -> None:
        self._worker.redrive(job)

    def _fail(self, job: ExportJob, message: str, details: dict[str, object] | None) -> None:
        self._worker.fail(job, message, details)

    def reject_work_message(self, body: bytes, reason: str, *, attempt: int) -> None:
        self._worker.reject_work_message(body, reason, attempt=attempt)

    def _discard_files(self, job: ExportJob) -> None:
        self._worker.writer.discard_files(job)

    def redrive_stalled(self) -> int:
        return Housekeeping(self.settings, self.jobs, self.clock, self._worker).redrive_stalled()

    def clean_up(self) -> int:
        return Housekeeping(self.settings, self.jobs, self.clock, self._worker).clean_up()

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


def _plausible_job_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 100 and all(ch.isalnum() or ch == "-" for ch in job_id)
