"""Per-organization limits: the daily request quota and the cap on running jobs.

The quota counts the day's jobs in the job table. The cap is one small ETag-guarded record per organization
(exports/updates.py changes it), so two workers at once can never both take the last running slot.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from exports.job_ids import job_ids_of_day
from exports.models import ExportJob, WorkMessage
from exports.ports import Clock, JobStore, LimitRecord, LimitStore, WorkQueue
from exports.updates import update_job, update_limit
from shared.errors import ConcurrencyConflict, QuotaExceeded
from shared.settings import Settings

log = logging.getLogger("exports.lifecycle")

RUNNING_KEY = "running"


@dataclass
class OrganizationLimits:
    settings: Settings
    limits: LimitStore
    jobs: JobStore
    work: WorkQueue
    clock: Clock
    # (organization, UTC day) found at the quota: jobs are never removed, so that day stays full and later
    # creates are refused without reading the day's keys again (a client retrying over the quota would
    # otherwise cost a quota's worth of key reads per refusal). One set per service, so per process.
    full_days: set[tuple[str, date]] = field(default_factory=set)

    def take_daily_quota(self, organization_id: str, at: datetime) -> None:
        """Refuses a create at `at` when the organization's jobs of that UTC day already reach the quota.

        Counts the day's jobs themselves (one RowKey range of the organization's partition, ids only), so no
        record is written and no create waits for another. Every recorded job counts, whatever became of it.
        Creates that count before any of them is inserted all pass: concurrent creates can go over the quota
        by at most one less than how many of them are between their count and their insert at one moment;
        a create is never refused while fewer than the quota are recorded (README, "Job lifecycle").
        """
        quota = self.settings.daily_quota_per_org
        day = at.astimezone(UTC).date()
        if (organization_id, day) in self.full_days:
            requested = quota
        else:
            first_id, end_id = job_ids_of_day(day)
            requested = self.jobs.count_ids(organization_id, first_id, end_id, quota)
        if requested >= quota:
            if (organization_id, day) not in self.full_days:
                # Past days are over: forget them.
                self.full_days.difference_update([key for key in list(self.full_days) if key[1] < day])
                self.full_days.add((organization_id, day))
            midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
            raise QuotaExceeded(
                f"Your organization has requested {requested} exports today, the daily limit "
                f"({quota}); try again after midnight UTC.",
                retry_after_seconds=max(1, int((midnight - at).total_seconds()) + 1),
                resets_at=midnight,
            )

    def take_running_slot(self, job: ExportJob, message: WorkMessage) -> bool:
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

    def release_running_slot(self, organization_id: str, job_id: str) -> None:
        def release(record: LimitRecord) -> bool:
            if job_id not in record.job_ids:
                return False
            record.job_ids.remove(job_id)
            return True

        with contextlib.suppress(ConcurrencyConflict):
            update_limit(self.limits, organization_id, RUNNING_KEY, release)
