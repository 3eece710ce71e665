"""Export schedules: create, list, get, pause, resume and delete them — the same rules as for jobs.

A schedule is checked exactly as an export would be (the intake's own checks, nothing recorded) and its
recurrence against the zone's calendar (exports/recurrence.py). Its runs (exports/scheduling.py) use the
creator's permissions as they were when the schedule was created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from exports.intake import Intake
from exports.job_ids import new_job_id
from exports.models.schedule import (
    ExportSchedule,
    Frequency,
    ScheduleCreate,
    ScheduleCreator,
    SchedulePage,
    ScheduleStatus,
    ScheduleView,
)
from exports.ports import Clock, ScheduleStore
from exports.queries import dataset_permission
from exports.recurrence import Timetable, check_expression
from exports.updates import ScheduleMutation, update_schedule
from shared.auth import MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound, ValidationFailed
from shared.settings import Settings

log = logging.getLogger("exports.schedules")

DELETE_ATTEMPTS = 10


def _plausible_schedule_id(schedule_id: str) -> bool:
    return 0 < len(schedule_id) <= 100 and all(ch.isalnum() or ch == "-" for ch in schedule_id)


def timetable_of(body: ScheduleCreate | ExportSchedule) -> Timetable:
    if body.recurrence.frequency is Frequency.CRON:
        assert body.recurrence.expression is not None
        check_expression(body.recurrence.expression)
    return Timetable.of(body.recurrence)


@dataclass
class ExportSchedules:
    settings: Settings
    schedules: ScheduleStore
    intake: Intake
    clock: Clock

    def create(self, principal: Principal, body: ScheduleCreate) -> ScheduleView:
        # The export is judged as POST /exports would judge it, by the same code, and nothing is recorded.
        self.intake.check(principal, body.export)
        timetable = timetable_of(body)
        now = self.clock.now()
        timetable.check(now)
        next_run = timetable.next_after(now)
        if next_run is None:
            raise ValidationFailed("recurrence: it never runs again")
        schedule = ExportSchedule(
            schedule_id=new_job_id(now),
            organization_id=principal.organization_id,
            name=body.name,
            export=body.export,
            recurrence=body.recurrence,
            next_run_at=next_run,
            created_by=ScheduleCreator(user_id=principal.user_id, name=principal.name, roles=sorted(principal.roles)),
            created_at=now,
            updated_at=now,
        )
        stored = self.schedules.insert(schedule)
        log.info("export schedule %s created by %s in org %s; next run %s", stored.schedule_id, principal.user_id,
                 principal.organization_id, next_run.isoformat(),
                 extra={"organization_id": principal.organization_id, "schedule_id": stored.schedule_id})
        return ScheduleView.of(stored)

    def list(
        self,
        principal: Principal,
        *,
        status: ScheduleStatus | None,
        page_size: int | None,
        continuation_token: str | None,
        whole_organization: bool,
    ) -> SchedulePage:
        if whole_organization and not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("Listing the whole organization's schedules needs the manage_system_settings permission.")
        listing = self.schedules.list(
            principal.organization_id,
            created_by_id=None if whole_organization else principal.user_id,
            status=status,
            page_size=page_size or self.settings.list_page_size,
            continuation_token=continuation_token,
        )
        return SchedulePage(
            items=[ScheduleView.of(schedule) for schedule in listing.schedules],
            continuation_token=listing.continuation_token,
        )

    def get(self, principal: Principal, schedule_id: str) -> ScheduleView:
        return ScheduleView.of(self.visible(principal, schedule_id))

    def pause(self, principal: Principal, schedule_id: str) -> ScheduleView:
        def paused(stored: ExportSchedule) -> bool:
            if stored.status == "paused":
                return False
            stored.status = "paused"
            stored.updated_at = self.clock.now()
            return True

        return self._change(principal, schedule_id, "Pausing", paused)

    def resume(self, principal: Principal, schedule_id: str) -> ScheduleView:
        def resumed(stored: ExportSchedule) -> bool:
            if stored.status == "active":
                return False
            now = self.clock.now()
            # Runs missed while paused are not made up: the next run is the first one from now on.
            next_run = Timetable.of(stored.recurrence).next_after(now)
            if next_run is None:
                raise Conflict("The schedule never runs again; delete it and create a new one.")
            stored.status, stored.next_run_at, stored.updated_at = "active", next_run, now
            return True

        return self._change(principal, schedule_id, "Resuming", resumed)

    def delete(self, principal: Principal, schedule_id: str) -> None:
        schedule: ExportSchedule | None = self.visible(principal, schedule_id)
        assert schedule is not None
        _require_permission(principal, schedule, "Deleting")
        for _ in range(DELETE_ATTEMPTS):
            if schedule is None:
                return
            try:
                self.schedules.delete(schedule)
            except ConcurrencyConflict:
                # The timer advanced it meanwhile (or it was deleted): delete what is stored now.
                schedule = self.schedules.get(principal.organization_id, schedule_id)
                continue
            log.info("export schedule %s deleted by %s", schedule_id, principal.user_id,
                     extra={"organization_id": principal.organization_id, "schedule_id": schedule_id})
            return
        raise Conflict(f"Schedule {schedule_id} kept changing while it was being deleted; try again.")

    def visible(self, principal: Principal, schedule_id: str) -> ExportSchedule:
        schedule = (
            self.schedules.get(principal.organization_id, schedule_id) if _plausible_schedule_id(schedule_id) else None
        )
        if schedule is None or (
            schedule.created_by.user_id != principal.user_id and not principal.has(MANAGE_SYSTEM_SETTINGS)
        ):
            # Another user's or organization's schedule looks exactly like a missing one, as for jobs.
            raise NotFound(f"No export schedule {schedule_id} was found.")
        return schedule

    def _change(self, principal: Principal, schedule_id: str, action: str, mutate: ScheduleMutation) -> ScheduleView:
        schedule = self.visible(principal, schedule_id)
        _require_permission(principal, schedule, action)
        try:
            updated = update_schedule(self.schedules, schedule.organization_id, schedule_id, mutate, current=schedule)
        except ConcurrencyConflict:
            raise Conflict(f"Schedule {schedule_id} kept changing; try again.") from None
        if updated is None:
            raise NotFound(f"No export schedule {schedule_id} was found.")
        stored, written = updated
        if written:
            log.info("export schedule %s: %s by %s", schedule_id, stored.status, principal.user_id,
                     extra={"organization_id": principal.organization_id, "schedule_id": schedule_id})
        return ScheduleView.of(stored)


def _require_permission(principal: Principal, schedule: ExportSchedule, action: str) -> None:
    """As for a job: changing a schedule needs the permission to export its dataset, held now."""
    needed = dataset_permission(schedule.export.dataset)
    if not principal.has(needed):
        raise Forbidden(f"{action} a {schedule.export.dataset.value} export schedule needs the {needed} permission.")
