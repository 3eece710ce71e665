"""The schedules' timer: each due schedule becomes an ordinary export job, once per run.

A due schedule runs for the latest occurrence at or before now, so runs missed while the app was down are
run once, not once per missed occurrence. The run key `schedule:{scheduleId}:{runAt}` is the job's
idempotency key, under the creator's principal: two timers holding the same due schedule, or a timer that
created the job and died before advancing the schedule, end with one job. The job goes through the intake
like any other (events, webhooks, limits, audit rows); a refusal (403, 422, 429 over the quota) is recorded
on the schedule and answered on the events queue as a refused queued request is. Either way the schedule
advances, with an ETag-guarded update, to its first occurrence after now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from exports.intake import Intake
from exports.models.schedule import ExportSchedule, ScheduleRun
from exports.ports import Clock, ScheduleStore
from exports.recurrence import Timetable
from exports.updates import update_schedule
from shared.auth import Principal
from shared.errors import Forbidden, QuotaExceeded, RequestError, ValidationFailed

log = logging.getLogger("exports.schedules")


def run_key(schedule_id: str, run_at: datetime) -> str:
    return f"schedule:{schedule_id}:{run_at.isoformat()}"


@dataclass
class ScheduledRuns:
    schedules: ScheduleStore
    intake: Intake
    clock: Clock

    def run_due(self) -> int:
        """Runs every due schedule once; returns how many were run. One schedule's failure (storage, a
        contended limit) leaves it due for the next tick and does not stop the others."""
        now = self.clock.now()
        ran = 0
        for schedule in self.schedules.due(now):
            try:
                if self.run(schedule, now) is not None:
                    ran += 1
            except Exception:
                log.exception("export schedule %s could not run; the next tick tries again", schedule.schedule_id,
                              extra={"organization_id": schedule.organization_id,
                                     "schedule_id": schedule.schedule_id})
        return ran

    def run(self, due: ExportSchedule, now: datetime) -> ScheduleRun | None:
        """The schedule's run for `now`, or None if it is no longer due (paused, deleted or run meanwhile)."""
        schedule = self.schedules.get(due.organization_id, due.schedule_id)
        if schedule is None or schedule.status != "active" or schedule.next_run_at > now:
            return None
        timetable = Timetable.of(schedule.recurrence)
        # Never before the stored next run: should the zone's rules change, an older key is never run again.
        latest = timetable.latest_at_or_before(now)
        run_at = max(latest, schedule.next_run_at) if latest is not None else schedule.next_run_at
        key = run_key(schedule.schedule_id, run_at)
        creator = schedule.created_by
        principal = Principal(
            organization_id=schedule.organization_id,
            user_id=creator.user_id,
            name=creator.name or creator.user_id,
            roles=frozenset(creator.roles),
        )
        try:
            job, created = self.intake.create(
                principal, schedule.export, idempotency_key=key, source="schedule", schedule_id=schedule.schedule_id
            )
            outcome = ScheduleRun(run_at=run_at, job_id=job.job_id, outcome="created")
            if created:
                log.info("export schedule %s made job %s for its run at %s", schedule.schedule_id, job.job_id,
                         run_at.isoformat(), extra={"organization_id": schedule.organization_id,
                                                    "schedule_id": schedule.schedule_id, "job_id": job.job_id})
        except (Forbidden, ValidationFailed, QuotaExceeded) as error:
            refusal: RequestError = error
            self.intake.answer_refusal(schedule.organization_id, creator.user_id, key, None, refusal)
            outcome = ScheduleRun(run_at=run_at, outcome="refused", detail=f"{refusal.status}: {refusal.detail}")

        def advance(stored: ExportSchedule) -> bool:
            if stored.next_run_at > now:
                return False  # another timer advanced it after the same run
            following = timetable.next_after(now)
            if following is None:
                stored.status = "paused"  # it never runs again; the owner sees why in its last run
            else:
                stored.next_run_at = following
            stored.last_run = outcome
            stored.updated_at = now
            return True

        update_schedule(self.schedules, schedule.organization_id, schedule.schedule_id, advance, current=schedule)
        return outcome
