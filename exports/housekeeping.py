"""The timer's use cases: re-drive jobs that stopped moving, delete expired files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from exports.models import ExportJob
from exports.ports import Clock, JobStore
from exports.updates import update_job
from exports.worker import Worker
from shared.errors import ConcurrencyConflict
from shared.settings import Settings

log = logging.getLogger("exports.service")


@dataclass
class Housekeeping:
    settings: Settings
    jobs: JobStore
    clock: Clock
    worker: Worker

    def redrive_stalled(self) -> int:
        """Jobs that stopped moving (a lost message, a dead worker) go on from their checkpoint."""
        before = self.clock.now() - timedelta(seconds=self.settings.stalled_after_seconds)
        redriven = 0
        for job in self.jobs.list_stalled(before):
            if job.checkpoint.redrives >= self.settings.max_redrives:
                self.worker.fail(
                    job,
                    f"The export stopped making progress and was retried {job.checkpoint.redrives} times; "
                    "please request it again.",
                    {"redrives": job.checkpoint.redrives},
                )
                continue
            self.worker.redrive(job)
            redriven += 1
        return redriven

    def clean_up(self) -> int:
        """Deletes files past expiry and marks their jobs cleaned up. Safe to run twice at once."""
        now = self.clock.now()
        cleaned = 0
        for job in self.jobs.list_expired(now):
            # Delete first: a crash before the mark leaves the job listed for the next run.
            self.worker.writer.discard_files(job)

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
