"""Job lifecycle beyond polling: completion events and webhooks, delete, limits, audit trail.

A mixin of ExportService, so the worker's batch loop in service.py only calls in at the points where a
job becomes final (`_publish_transition`) and where a queued job would start (`_take_running_slot`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from exports.events import (
    Resolver,
    backoff_seconds,
    check_callback_url,
    event_for,
    organization_secret,
    rejection_for,
    signed_headers,
)
from exports.models import (
    AuditEntry,
    AuditTrail,
    CreateExportRequest,
    DeliveryAttempt,
    ExportJob,
    JobStatus,
    NotificationMessage,
    Retention,
    WorkMessage,
)
from exports.ports import (
    AuditLog,
    Clock,
    EventQueues,
    IdempotencyRecord,
    IdempotencyStore,
    JobStore,
    LimitRecord,
    LimitStore,
    WebhookSender,
    WorkQueue,
)
from exports.updates import update_job, update_limit
from shared.auth import MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import (
    BadMessage,
    ConcurrencyConflict,
    Conflict,
    Forbidden,
    NotFound,
    QuotaExceeded,
    RequestError,
    TooManyRequests,
    ValidationFailed,
)
from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, REQUEST_QUEUE, WORK_QUEUE, Settings

log = logging.getLogger(__name__)

RUNNING_KEY = "running"
_RESERVED_QUEUES = frozenset(
    name + suffix
    for name in (REQUEST_QUEUE, WORK_QUEUE, EVENTS_QUEUE, NOTIFICATIONS_QUEUE)
    for suffix in ("", "-poison")
)


def _allowed_reply_queue(name: str) -> bool:
    # The Functions host keeps its own queues under azure-webjobs-: events must never land there either.
    return name not in _RESERVED_QUEUES and not name.startswith("azure-webjobs-")


# What a failed attempt records: the sender's outcome in words, never a transport's exception class.
_DELIVERY_ERRORS = {
    "refused": "refused: the receiver answered {status}",
    "timeout": "timeout: no complete answer within {timeout} s",
    "unreachable": "unreachable: no connection, or no HTTP answer, from the receiver's checked addresses",
}
AuditAction = Literal["requested", "cancelled", "deleted", "downloaded", "completed", "failed"]


class LifecycleMixin:
    settings: Settings
    jobs: JobStore
    idempotency: IdempotencyStore
    work: WorkQueue
    events: EventQueues
    audit: AuditLog
    limits: LimitStore
    webhooks: WebhookSender
    clock: Clock
    resolve: Resolver

    # Provided by ExportService.
    _visible_job: Callable[[Principal, str], ExportJob]
    _discard_files: Callable[[ExportJob], None]
    _require_dataset_permission: Callable[[Principal, ExportJob, str], None]
    cancel: Callable[..., object]

    # ---- intake --------------------------------------------------------------------------------------

    def _check_lifecycle_request(
        self, principal: Principal, request: CreateExportRequest, reply_queue: str | None
    ) -> None:
        if request.callback_url is not None:
            check_callback_url(request.callback_url, local=self._local, resolve=self.resolve)
            if self._secret(principal.organization_id) is None:
                raise ValidationFailed(
                    "callbackUrl: no webhook secret is configured for your organization; ask an administrator."
                )
        if reply_queue is not None and not _allowed_reply_queue(reply_queue):
            raise ValidationFailed(f"replyQueue {reply_queue} is one of the export service's own queues.")
        if reply_queue is not None and not self.events.queue_exists(reply_queue):
            # The service creates no queue a message names: the requesting system creates its reply queue.
            raise ValidationFailed(f"replyQueue {reply_queue} does not exist; create it before naming it.")

    def _answer_refusal(
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
        log.warning(
            "queued request %s refused (%s): %s", request_id, refusal.status, refusal.detail,
            extra={"organization_id": organization_id, "status": refusal.status},
        )
        if self.idempotency.get(organization_id, mark) is not None:
            return  # an earlier copy of the message was answered
        self.events.publish(event)
        if reply_queue is not None and _allowed_reply_queue(reply_queue):
            self.events.publish(event, queue=reply_queue)
        self.idempotency.claim(organization_id, mark, IdempotencyRecord(job_id="", request_hash=event.id))

    def _take_daily_quota(self, organization_id: str) -> None:
        """Counts one request against today's quota (UTC), or refuses it with the wait until midnight."""
        now = self.clock.now().astimezone(UTC)
        key = f"requests-{now:%Y-%m-%d}"

        def count_one(record: LimitRecord) -> bool:
            if record.count >= self.settings.daily_quota_per_org:
                midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
                raise QuotaExceeded(
                    f"Your organization has requested {record.count} exports today, the daily limit "
                    f"({self.settings.daily_quota_per_org}); try again after midnight UTC.",
                    retry_after_seconds=max(1, int((midnight - now).total_seconds()) + 1),
                    resets_at=midnight,
                )
            record.count += 1
            return True

        try:
            update_limit(self.limits, organization_id, key, count_one)
        except ConcurrencyConflict:
            raise TooManyRequests(
                "Too many exports are being requested for your organization at this moment; try again.",
                retry_after_seconds=1,
            ) from None

    # ---- the running cap -----------------------------------------------------------------------------

    def _take_running_slot(self, job: ExportJob, message: WorkMessage) -> bool:
        """True if the job may start; otherwise it stays queued and its message comes back later.

        The organization's running jobs live in one ETag-guarded entity, so two workers starting two
        jobs at once cannot both take the last slot: one of the two writes fails and reads again.
        """
        full = False

        def take(record: LimitRecord) -> bool:
            nonlocal full
            full = False
            if job.job_id in record.job_ids:
                return False
            if len(record.job_ids) >= self.settings.max_running_per_org:
                record.job_ids = self._still_running(job.organization_id, record.job_ids)
            if len(record.job_ids) >= self.settings.max_running_per_org:
                full = True
                return False
            record.job_ids.append(job.job_id)
            return True

        try:
            update_limit(self.limits, job.organization_id, RUNNING_KEY, take)
        except ConcurrencyConflict:
            full = True  # heavy contention: treat it like a full cap rather than fail the job
        if full:
            self._wait_for_slot(job, message)
            return False
        return True

    def _still_running(self, organization_id: str, job_ids: list[str]) -> list[str]:
        """Drops slots whose jobs ended without releasing them (a crash between the two writes)."""
        kept = []
        for job_id in job_ids:
            holder = self.jobs.get(organization_id, job_id)
            if holder is not None and (not holder.status.is_final or holder.event_pending):
                kept.append(job_id)
        return kept

    def _wait_for_slot(self, job: ExportJob, message: WorkMessage) -> None:
        # Touching the job keeps the stalled-job timer from counting the wait as a lost message.
        def touch(waiting: ExportJob) -> bool:
            waiting.updated_at = self.clock.now()
            return True

        try:
            update_job(self.jobs, job.organization_id, job.job_id, touch, current=job, attempts=1)
        except ConcurrencyConflict:
            return  # cancelled or moved meanwhile: whoever changed it carries on
        self.work.send(message, delay=timedelta(seconds=self.settings.cap_wait_seconds))
        log.info("export %s waits: %s already runs its maximum of jobs", job.job_id, job.organization_id)

    def _release_running_slot(self, organization_id: str, job_id: str) -> None:
        def release(record: LimitRecord) -> bool:
            if job_id not in record.job_ids:
                return False
            record.job_ids.remove(job_id)
            return True

        with contextlib.suppress(ConcurrencyConflict):
            update_limit(self.limits, organization_id, RUNNING_KEY, release)

    # ---- transitions to completed, failed, cancelled ------------------------------------------------

    def _publish_transition(self, job: ExportJob) -> None:
        """Runs once a final state with `event_pending` is saved; safe to run again for the same job.

        Order matters: every step is idempotent, and the outbox flag is cleared last, so a crash anywhere
        leaves the flag set and a duplicate work message or the timer finishes the job's publication.
        """
        self._release_running_slot(job.organization_id, job.job_id)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            self._record(
                job,
                "completed" if job.status is JobStatus.COMPLETED else "failed",
                actor_id="system",
                actor_name="export worker",
                source="worker",
                at=job.completed_at,
                key="transition",
                detail=job.error_message,
            )
        event = event_for(job)
        self.events.publish(event)
        if job.reply_queue:
            self.events.publish(event, queue=job.reply_queue)
        if job.request.callback_url and not job.deliveries:
            self.events.send_notification(
                NotificationMessage(
                    org_id=job.organization_id,
                    job_id=job.job_id,
                    event_id=event.id,
                    attempt=1,
                    first_attempt_at=self.clock.now(),
                )
            )
        def published(stored: ExportJob) -> bool:
            return stored.event_published()

        with contextlib.suppress(ConcurrencyConflict):
            update_job(self.jobs, job.organization_id, job.job_id, published, current=job, attempts=5)

    def republish_pending(self) -> int:
        """The timer's repair: final jobs whose event a crash left unpublished."""
        before = self.clock.now() - timedelta(seconds=self.settings.event_republish_after_seconds)
        count = 0
        for job in self.jobs.list_pending_events(before):
            self._publish_transition(job)
            count += 1
        if count:
            log.warning("re-published the events of %s export(s)", count)
        return count

    # ---- delete and the audit trail -----------------------------------------------------------------

    def delete(self, principal: Principal, job_id: str, *, client: str | None = None) -> None:
        """Removes the file at once and marks the job deleted; the record stays for the audit trail."""
        job = self._visible_job(principal, job_id)
        self._require_dataset_permission(principal, job, "Deleting")
        if job.deleted_at is not None:
            return
        if not job.status.is_final:
            # A Conflict means it finished meanwhile: then the finished job is deleted.
            with contextlib.suppress(Conflict):
                self.cancel(principal, job_id, client=client)
            job = self._visible_job(principal, job_id)

        def mark_deleted(stored: ExportJob) -> bool:
            if stored.deleted_at is not None:
                return False
            self._discard_files(stored)  # the file goes first: a crash before the mark leaves it findable
            return stored.delete(principal.user_id, self.clock.now())

        try:
            updated = update_job(self.jobs, job.organization_id, job_id, mark_deleted, current=job)
        except ConcurrencyConflict:
            raise Conflict(f"Export {job_id} kept changing while it was being deleted; try again.") from None
        if updated is None:
            raise NotFound(f"No export {job_id} was found.")
        if not updated.written:
            return
        job = updated.job
        self._record(job, "deleted", actor_id=principal.user_id, actor_name=principal.name, client=client)
        log.info("export %s deleted by %s", job.job_id, principal.user_id)

    def audit_trail(self, principal: Principal, job_id: str) -> AuditTrail:
        if not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("The audit trail needs the manage_system_settings permission.")
        job = self._visible_job(principal, job_id)
        return AuditTrail(items=self.audit.list_for_job(job.organization_id, job.job_id))

    def _record(
        self,
        job: ExportJob,
        action: AuditAction,
        *,
        actor_id: str,
        actor_name: str = "",
        client: str | None = None,
        source: Literal["http", "queue", "worker"] = "http",
        at: datetime | None = None,
        key: str | None = None,
        detail: str | None = None,
    ) -> None:
        filters = job.request.model_dump(mode="json", by_alias=True, exclude_unset=True)
        filters.pop("callbackUrl", None)
        entry = AuditEntry(
            job_id=job.job_id,
            action=action,
            at=at or self.clock.now(),
            actor_id=actor_id,
            actor_name=actor_name,
            client_address=client,
            source=source,
            dataset=job.dataset,
            export_type=job.export_type,
            format=job.format,
            filters=filters,
            columns=[column.name for column in job.columns],
            row_count=job.total_rows if job.status is JobStatus.COMPLETED else None,
            detail=detail,
        )
        self.audit.append(job.organization_id, entry, key=key)

    # ---- webhook deliveries -------------------------------------------------------------------------

    def deliver_notification(self, message: NotificationMessage) -> None:
        """One signed POST of the job's event to its callback URL; a failure schedules the next attempt."""
        job = self.jobs.get(message.org_id, message.job_id)
        if job is None:
            raise BadMessage(f"notification names export {message.job_id}, which does not exist in that organization")
        url = job.request.callback_url
        if url is None or not job.status.is_final:
            return
        event = event_for(job)
        finished = any(d.outcome in ("delivered", "gave_up", "refused") for d in job.deliveries)
        if event.id != message.event_id or finished:
            return
        recorded = next((d for d in job.deliveries if d.attempt == message.attempt), None)
        if recorded is not None:
            # A re-delivered message whose attempt was recorded: only make sure the next one is on its way.
            if recorded.outcome == "retrying":
                self._schedule_next(message)
            return
        now = self.clock.now()
        secret = self._secret(job.organization_id)
        try:
            target = check_callback_url(url, local=self._local, resolve=self.resolve)
            if secret is None:
                raise ValidationFailed("no webhook secret is configured for the organization")
        except ValidationFailed as refused:
            self._record_delivery(job, DeliveryAttempt(attempt=message.attempt, at=now, outcome="refused",
                                                       error=refused.detail))
            return
        timeout = self.settings.webhook_timeout_seconds
        result = self.webhooks.post(
            target, event.body(), signed_headers(secret, event, destination=url, now=now.timestamp()),
            timeout=timeout,
        )
        status_code = result.status_code
        if result.outcome == "delivered":
            self._record_delivery(job, DeliveryAttempt(attempt=message.attempt, at=now, status_code=status_code,
                                                       outcome="delivered"))
            return
        error = _DELIVERY_ERRORS[result.outcome].format(status=status_code, timeout=f"{timeout:g}")
        delay = self._backoff(message)
        window_ends = message.first_attempt_at + timedelta(seconds=self.settings.webhook_retry_window_seconds)
        retry = message.attempt < self.settings.webhook_max_attempts and now + timedelta(seconds=delay) <= window_ends
        self._record_delivery(
            job,
            DeliveryAttempt(attempt=message.attempt, at=now, status_code=status_code,
                            outcome="retrying" if retry else "gave_up", error=error),
        )
        if retry:
            self._schedule_next(message, delay)
        else:
            log.warning("export %s: webhook delivery gave up after %s attempt(s)", job.job_id, message.attempt)

    def _backoff(self, message: NotificationMessage) -> float:
        return backoff_seconds(message.attempt, self.settings.webhook_backoff_seconds)

    def _schedule_next(self, message: NotificationMessage, delay: float | None = None) -> None:
        delay = self._backoff(message) if delay is None else delay
        self.events.send_notification(
            message.model_copy(update={"attempt": message.attempt + 1}), delay=timedelta(seconds=delay)
        )

    def _record_delivery(self, job: ExportJob, attempt: DeliveryAttempt) -> None:
        def note(stored: ExportJob) -> bool:
            stored.note_delivery(attempt)
            return True

        try:
            update_job(self.jobs, job.organization_id, job.job_id, note, current=job)
        except ConcurrencyConflict:
            log.warning("export %s: delivery attempt %s could not be recorded", job.job_id, attempt.attempt)

    # ---- helpers -------------------------------------------------------------------------------------

    @property
    def _retention(self) -> Retention:
        return Retention(ticket_hours=self.settings.ticket_expiry_hours, case_hours=self.settings.case_expiry_hours)

    @property
    def _local(self) -> bool:
        return self.settings.environment == "local"

    def _secret(self, organization_id: str) -> str | None:
        master = self.settings.webhook_master_key
        return organization_secret(
            organization_id,
            {org: secret.get_secret_value() for org, secret in self.settings.webhook_secrets.items()},
            master.get_secret_value() if master else None,
        )
