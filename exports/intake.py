"""Intake: an export requested over HTTP or through the request queue — checked, recorded and queued, or refused."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson

from exports import datasets
from exports.events import Resolver, check_callback_url, rejection_for
from exports.formats import FormatOptions, content_type, file_extension
from exports.job_ids import new_job_id
from exports.job_writer import log_fields
from exports.messages import InvalidRequestMessage
from exports.models import ColumnSpec, CreateExportRequest, Dataset, ExportJob, ExportRequestMessage, WorkMessage
from exports.outbox import Outbox
from exports.ports import Clock, EventQueues, IdempotencyRecord, IdempotencyStore, JobStore, TagStore, WorkQueue
from exports.queries import dataset_permission
from exports.webhook_delivery import webhook_secret
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, QuotaExceeded, RequestError, ValidationFailed
from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, REQUEST_QUEUE, WORK_QUEUE, Settings

log = logging.getLogger("exports.service")
# The lines that used to come from the lifecycle module keep its logger name: log queries may select on it.
lifecycle_log = logging.getLogger("exports.lifecycle")

MAX_IDEMPOTENCY_KEY_LENGTH = 200


def scoped_idempotency_key(user_id: str, key: str) -> str:
    # Keys are per user: two users (or requesting systems) may use the same key for different exports.
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def request_fingerprint(request: CreateExportRequest) -> str:
    fields = request.model_dump(mode="json", by_alias=True)
    if fields.get("timeZone") == "UTC":
        # A request from before the time zone existed meant UTC: its key keeps matching after an upgrade.
        del fields["timeZone"]
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


_RESERVED_QUEUES = frozenset(
    name + suffix
    for name in (REQUEST_QUEUE, WORK_QUEUE, EVENTS_QUEUE, NOTIFICATIONS_QUEUE)
    for suffix in ("", "-poison")
)


def _job_source(source: str) -> Literal["http", "queue", "schedule"]:
    return "queue" if source == "queue" else "schedule" if source == "schedule" else "http"


def _allowed_reply_queue(name: str) -> bool:
    # The Functions host keeps its own queues under azure-webjobs-: events must never land there either.
    return name not in _RESERVED_QUEUES and not name.startswith("azure-webjobs-")


@dataclass
class Intake:
    settings: Settings
    jobs: JobStore
    idempotency: IdempotencyStore
    work: WorkQueue
    tags: TagStore
    events: EventQueues
    clock: Clock
    resolve: Resolver
    outbox: Outbox
    # (organization, the create's time): refuses with QuotaExceeded when that UTC day's quota is used up.
    take_quota: Callable[[str, datetime], None]

    def create(
        self,
        principal: Principal,
        request: CreateExportRequest,
        *,
        idempotency_key: str | None = None,
        source: str = "http",
        client: str | None = None,
        reply_queue: str | None = None,
        schedule_id: str | None = None,
    ) -> tuple[ExportJob, bool]:
        """Records the job and queues its first step. Returns (job, created) — False for a repeat."""
        columns = self.check(principal, request, reply_queue=reply_queue)
        job_source = _job_source(source)
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
        # A repeat (above) is not a new request; over the quota nothing is recorded or queued. The quota counts
        # the day's recorded jobs, so the count comes right before the insert: the shorter the gap between the
        # two, the fewer concurrent creates can pass one count (README, "Job lifecycle", Limits).
        self.take_quota(principal.organization_id, now)
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
            source=job_source,
            reply_queue=reply_queue,
            schedule_id=schedule_id,
        )
        try:
            job = self.jobs.insert(job)
        except Conflict:
            # Two requests with the same idempotency key raced; the other recorded it first.
            stored = self.jobs.get(principal.organization_id, job_id)
            if stored is None:
                raise
            return stored, False
        self.outbox.record(
            job, "requested", actor_id=principal.user_id, actor_name=principal.name, client=client,
            source=job_source,
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

    def check(
        self, principal: Principal, request: CreateExportRequest, *, reply_queue: str | None = None
    ) -> list[ColumnSpec]:
        """Everything creating the export checks before recording it (the dataset permission, the callback
        and reply queue rules, the columns with the organization's tags), recording nothing: the columns."""
        self._require_export_permission(principal, request.dataset)
        self._check_lifecycle_request(principal, request, reply_queue)
        tags = self.tags.list(principal.organization_id) if request.dataset is Dataset.CASES else []
        return datasets.columns_for(request, tags)

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
        self.answer_refusal(message.org_id, user_id, message.request_id, reply_queue, refusal)
        return None

    def _accepted_request(self, organization_id: str, user_id: str, key: str) -> ExportJob | None:
        record = self.idempotency.get(organization_id, scoped_idempotency_key(user_id, key))
        return self.jobs.get(organization_id, record.job_id) if record is not None and record.job_id else None

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

    def _check_lifecycle_request(
        self, principal: Principal, request: CreateExportRequest, reply_queue: str | None
    ) -> None:
        if request.callback_url is not None:
            check_callback_url(request.callback_url, local=self.settings.environment == "local", resolve=self.resolve)
            if webhook_secret(self.settings, principal.organization_id) is None:
                raise ValidationFailed(
                    "callbackUrl: no webhook secret is configured for your organization; ask an administrator."
                )
        if reply_queue is not None and not _allowed_reply_queue(reply_queue):
            raise ValidationFailed(f"replyQueue {reply_queue} is one of the export service's own queues.")
        if reply_queue is not None and not self.events.queue_exists(reply_queue):
            # The service creates no queue a message names: the requesting system creates its reply queue.
            raise ValidationFailed(f"replyQueue {reply_queue} does not exist; create it before naming it.")

    def answer_refusal(
        self,
        organization_id: str,
        requested_by_id: str,
        request_id: str,
        reply_queue: str | None,
        refusal: RequestError,
    ) -> None:
        """Tells the requesting system why its queued request was refused, once per refusal.

        The event id is derived from the request and the refusal, so every copy of a re-delivered message
        answers with the same id; a mark written after publishing keeps a later copy from publishing again.
        A storage error raises, so the message is retried; nothing here raises once the answer is out.
        """
        event = rejection_for(organization_id, requested_by_id, request_id, refusal, at=self.clock.now())
        mark = f"refused:{event.id}"
        lifecycle_log.warning(
            "queued request %s refused (%s): %s", request_id, refusal.status, refusal.detail,
            extra={"organization_id": organization_id, "status": refusal.status},
        )
        if self.idempotency.get(organization_id, mark) is not None:
            return  # an earlier copy of the message was answered
        self.events.publish(event)
        if reply_queue is not None and _allowed_reply_queue(reply_queue):
            self.events.publish(event, queue=reply_queue)
        self.idempotency.claim(organization_id, mark, IdempotencyRecord(job_id="", request_hash=event.id))
