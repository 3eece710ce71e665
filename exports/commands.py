"""Commands on one job: cancel it, delete it."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from exports.job_writer import JobWriter, log_fields
from exports.models import ExportJob, JobView, Retention
from exports.outbox import Outbox
from exports.ports import Clock, JobStore
from exports.queries import Queries, require_dataset_permission
from exports.updates import update_job
from shared.auth import Principal
from shared.errors import ConcurrencyConflict, Conflict, NotFound

log = logging.getLogger("exports.service")
# The lines that used to come from the lifecycle module keep its logger name: log queries may select on it.
lifecycle_log = logging.getLogger("exports.lifecycle")

# Lost races before a cancel gives up and answers 409 (it used to retry without a bound).
CANCEL_ATTEMPTS = 50


@dataclass
class Commands:
    jobs: JobStore
    clock: Clock
    retention: Retention
    outbox: Outbox
    queries: Queries
    writer: JobWriter

    def cancel(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        job = self.queries.visible_job(principal, job_id)
        require_dataset_permission(principal, job, "Cancelling")

        def mark_cancelled(stored: ExportJob) -> bool:
            return stored.cancel(self.clock.now(), self.retention)

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
        self.outbox.record(job, "cancelled", actor_id=principal.user_id, actor_name=principal.name, client=client)
        self.outbox.publish_transition(job)
        return JobView.of(job)

    def delete(self, principal: Principal, job_id: str, *, client: str | None = None) -> None:
        """Removes the file at once and marks the job deleted; the record stays for the audit trail."""
        job = self.queries.visible_job(principal, job_id)
        require_dataset_permission(principal, job, "Deleting")
        if job.deleted_at is not None:
            return
        if not job.status.is_final:
            # A Conflict means it finished meanwhile: then the finished job is deleted.
            with contextlib.suppress(Conflict):
                self.cancel(principal, job_id, client=client)
            job = self.queries.visible_job(principal, job_id)

        def mark_deleted(stored: ExportJob) -> bool:
            if stored.deleted_at is not None:
                return False
            self.writer.discard_files(stored)  # the file goes first: a crash before the mark leaves it findable
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
        self.outbox.record(job, "deleted", actor_id=principal.user_id, actor_name=principal.name, client=client)
        lifecycle_log.info("export %s deleted by %s", job.job_id, principal.user_id)
