"""Use cases: create, get, list, cancel, download, run a step, clean up, take a queued request."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from exports import datasets
from exports.commands import Commands
from exports.events import Resolver, system_resolver
from exports.formats import FormatOptions, content_type, file_extension
from exports.housekeeping import Housekeeping
from exports.job_writer import log_fields
from exports.lifecycle import LifecycleMixin
from exports.messages import InvalidRequestMessage
from exports.models import (
    AuditTrail,
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
from exports.queries import Queries, dataset_permission
from exports.worker import Worker
from shared.auth import Principal
from shared.errors import (
    Conflict,
    Forbidden,
    QuotaExceeded,
    RequestError,
    ValidationFailed,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Job ids sort newest first in a partition: an inverted millisecond clock, then a uuid4 (122 random bits).
_INVERTED_CLOCK_BASE = 10**13 - 1


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

    # ---- queries and commands: exports/queries.py, exports/commands.py --------------------------

    @property
    def _queries(self) -> Queries:
        return Queries(self.settings, self.jobs, self.signer, self.idempotency, self.audit, self.clock, self._outbox)

    @property
    def _commands(self) -> Commands:
        return Commands(self.jobs, self.clock, self._retention, self._outbox, self._queries, self._worker.writer)

    def get(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        return self._queries.get(principal, job_id, client=client)

    def list(
        self,
        principal: Principal,
        *,
        status: JobStatus | None,
        page_size: int | None,
        continuation_token: str | None,
        whole_organization: bool,
    ) -> JobPage:
        return self._queries.list(
            principal, status=status, page_size=page_size, continuation_token=continuation_token,
            whole_organization=whole_organization,
        )

    def download_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        return self._queries.download_link(principal, job_id, client=client)

    def audit_trail(self, principal: Principal, job_id: str) -> AuditTrail:
        return self._queries.audit_trail(principal, job_id)

    def cancel(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        return self._commands.cancel(principal, job_id, client=client)

    def delete(self, principal: Principal, job_id: str, *, client: str | None = None) -> None:
        self._commands.delete(principal, job_id, client=client)

    def _visible_job(self, principal: Principal, job_id: str) -> ExportJob:
        return self._queries.visible_job(principal, job_id)

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
        needed = dataset_permission(dataset)
        if not principal.has(needed):
            raise Forbidden(f"Exporting {dataset.value} needs the {needed} permission.")
