"""Job lifecycle beyond polling: completion events and webhooks, delete, limits, audit trail.

A mixin of ExportService, so the worker's batch loop in service.py only calls in at the points where a
job becomes final (`_publish_transition`) and where a queued job would start (`_take_running_slot`).
"""

from __future__ import annotations

import logging
from typing import Any

from exports.events import (
    Resolver,
    check_callback_url,
    rejection_for,
)
from exports.limits import OrganizationLimits
from exports.models import (
    CreateExportRequest,
    ExportJob,
    NotificationMessage,
    Retention,
    WorkMessage,
)
from exports.outbox import AuditAction, Outbox
from exports.ports import (
    AuditLog,
    Clock,
    EventQueues,
    IdempotencyRecord,
    IdempotencyStore,
    JobStore,
    LimitStore,
    WebhookSender,
    WorkQueue,
)
from exports.webhook_delivery import WebhookDeliveries, webhook_secret
from shared.auth import Principal
from shared.errors import (
    RequestError,
    ValidationFailed,
)
from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, REQUEST_QUEUE, WORK_QUEUE, Settings

log = logging.getLogger(__name__)

_RESERVED_QUEUES = frozenset(
    name + suffix
    for name in (REQUEST_QUEUE, WORK_QUEUE, EVENTS_QUEUE, NOTIFICATIONS_QUEUE)
    for suffix in ("", "-poison")
)


def _allowed_reply_queue(name: str) -> bool:
    # The Functions host keeps its own queues under azure-webjobs-: events must never land there either.
    return name not in _RESERVED_QUEUES and not name.startswith("azure-webjobs-")


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

    # ---- limits: exports/limits.py ------------------------------------------------------------------

    @property
    def _org_limits(self) -> OrganizationLimits:
        return OrganizationLimits(self.settings, self.limits, self.jobs, self.work, self.clock)

    def _take_daily_quota(self, organization_id: str) -> None:
        self._org_limits.take_daily_quota(organization_id)

    def _take_running_slot(self, job: ExportJob, message: WorkMessage) -> bool:
        return self._org_limits.take_running_slot(job, message)

    def _release_running_slot(self, organization_id: str, job_id: str) -> None:
        self._org_limits.release_running_slot(organization_id, job_id)

    # ---- transitions to completed, failed, cancelled ------------------------------------------------

    @property
    def _outbox(self) -> Outbox:
        return Outbox(self.settings, self.jobs, self.events, self.audit, self.clock, self._org_limits)

    def _publish_transition(self, job: ExportJob) -> None:
        self._outbox.publish_transition(job)

    def republish_pending(self) -> int:
        return self._outbox.republish_pending()

    # ---- delete and the audit trail -----------------------------------------------------------------



    def _record(self, job: ExportJob, action: AuditAction, **fields: Any) -> None:
        self._outbox.record(job, action, **fields)

    # ---- webhook deliveries -------------------------------------------------------------------------

    @property
    def _deliveries(self) -> WebhookDeliveries:
        # Built on each use from the current ports: a test (or the bench) may swap a port on the service.
        return WebhookDeliveries(self.settings, self.jobs, self.events, self.webhooks, self.clock, self.resolve)

    def deliver_notification(self, message: NotificationMessage) -> None:
        self._deliveries.deliver(message)

    # ---- helpers -------------------------------------------------------------------------------------

    @property
    def _retention(self) -> Retention:
        return Retention(ticket_hours=self.settings.ticket_expiry_hours, case_hours=self.settings.case_expiry_hours)

    @property
    def _local(self) -> bool:
        return self.settings.environment == "local"

    def _secret(self, organization_id: str) -> str | None:
        return webhook_secret(self.settings, organization_id)
