"""Webhook deliveries: one signed POST of a job's event per notification message, with retries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from exports.events import Resolver, backoff_seconds, check_callback_url, event_for, organization_secret, signed_headers
from exports.models import DeliveryAttempt, ExportJob, NotificationMessage
from exports.ports import Clock, EventQueues, JobStore, WebhookSender
from exports.updates import update_job
from shared.errors import BadMessage, ConcurrencyConflict, ValidationFailed
from shared.settings import Settings

log = logging.getLogger("exports.lifecycle")

# What a failed attempt records: the sender's outcome in words, never a transport's exception class.
_DELIVERY_ERRORS = {
    "refused": "refused: the receiver answered {status}",
    "timeout": "timeout: no complete answer within {timeout} s",
    "unreachable": "unreachable: no connection, or no HTTP answer, from the receiver's checked addresses",
}


def webhook_secret(settings: Settings, organization_id: str) -> str | None:
    """The organization's webhook signing secret: its own, or one derived from the master key, or none."""
    master = settings.webhook_master_key
    return organization_secret(
        organization_id,
        {org: secret.get_secret_value() for org, secret in settings.webhook_secrets.items()},
        master.get_secret_value() if master else None,
    )


@dataclass
class WebhookDeliveries:
    settings: Settings
    jobs: JobStore
    events: EventQueues
    webhooks: WebhookSender
    clock: Clock
    resolve: Resolver

    def deliver(self, message: NotificationMessage) -> None:
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

    @property
    def _local(self) -> bool:
        return self.settings.environment == "local"

    def _secret(self, organization_id: str) -> str | None:
        return webhook_secret(self.settings, organization_id)
