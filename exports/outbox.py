"""The outbox: what happens once a job is final, and the audit trail's rows.

A final state is saved with `event_pending` set (exports/models/job.py); publishing then releases the
running slot, records the audit row, publishes the event (and to the reply queue), queues the first
webhook delivery and clears the flag last, so a crash anywhere is finished by a later run.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from exports.events import event_for
from exports.limits import OrganizationLimits
from exports.models import AuditEntry, ExportJob, JobStatus, NotificationMessage
from exports.ports import AuditLog, Clock, EventQueues, JobStore
from exports.updates import update_job
from shared.errors import ConcurrencyConflict
from shared.settings import Settings

log = logging.getLogger("exports.lifecycle")

AuditAction = Literal["requested", "cancelled", "deleted", "downloaded", "completed", "failed"]


@dataclass
class Outbox:
    settings: Settings
    jobs: JobStore
    events: EventQueues
    audit: AuditLog
    clock: Clock
    org_limits: OrganizationLimits

    def publish_transition(self, job: ExportJob) -> None:
        """Runs once a final state with `event_pending` is saved; safe to run again for the same job.

        Order matters: every step is idempotent, and the outbox flag is cleared last, so a crash anywhere
        leaves the flag set and a duplicate work message or the timer finishes the job's publication.
        """
        self.org_limits.release_running_slot(job.organization_id, job.job_id)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            self.record(
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
            self.publish_transition(job)
            count += 1
        if count:
            log.warning("re-published the events of %s export(s)", count)
        return count

    def record(
        self,
        job: ExportJob,
        action: AuditAction,
        *,
        actor_id: str,
        actor_name: str = "",
        client: str | None = None,
        source: Literal["http", "queue", "worker", "schedule"] = "http",
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
            file_sha256=job.file_sha256 if action == "completed" else None,
            manifest_sha256=job.manifest_sha256 if action == "completed" else None,
        )
        self.audit.append(job.organization_id, entry, key=key)
