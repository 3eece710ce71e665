"""Scheduled exports: the routes' use cases and the timer, on in-memory ports with a clock moved by hand.

No test waits on the wall clock: every run is at the FixedClock's time, and the two-timers test holds both
timers on a barrier inside the store's due() so both hold the same due schedule.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exports.composition import build_export_schedules, build_scheduled_runs
from exports.models import CreateExportRequest
from exports.models.schedule import ExportSchedule, ScheduleCreate
from exports.schedules import ExportSchedules
from exports.scheduling import ScheduledRuns, run_key
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, Principal
from shared.errors import ConcurrencyConflict, Forbidden, NotFound, ValidationFailed
from tests.support.fakes import FakeScheduleStore
from tests.unit.conftest import ORG_A, World, make_world


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Scheduled:
    world: World
    store: FakeScheduleStore
    schedules: ExportSchedules
    runs: ScheduledRuns

    def at(self, text: str) -> None:
        self.world.clock.current = utc(text)

    def jobs(self) -> list[Any]:
        return sorted(self.world.jobs.jobs.values(), key=lambda job: job.created_at)

    def stored(self, schedule_id: str) -> ExportSchedule:
        found = self.store.get(ORG_A, schedule_id)
        assert found is not None
        return found

    def requested_rows(self) -> list[Any]:
        return [row for row in self.world.audit.rows.values() if row.action == "requested"]


def scheduled(**settings: Any) -> Scheduled:
    world = make_world(**settings)
    store = FakeScheduleStore()
    return Scheduled(world, store, build_export_schedules(world.service, store),
                     build_scheduled_runs(world.service, store))


def body(recurrence: dict[str, Any] | None = None, **export: Any) -> ScheduleCreate:
    return ScheduleCreate.model_validate({
        "name": "Monday cases",
        "export": {"format": "CSV", **export},
        "recurrence": recurrence or {"frequency": "daily", "time": "06:00"},
    })


@pytest.fixture
def s() -> Scheduled:
    return scheduled()


# ---- create, list, get, pause, resume, delete --------------------------------------------------------------


def test_create_checks_the_export_records_the_schedule_and_makes_no_job(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())  # the clock: 2026-03-01 12:00 UTC
    assert (view.status, view.next_run_at, view.last_run) == ("active", utc("2026-03-02T06:00:00"), None)
    assert (view.created_by_id, view.created_by_name, view.name) == ("user-1", "Ana Lyst", "Monday cases")
    stored = s.stored(view.schedule_id)
    assert stored.created_by.roles == [ACCESS_REPORTS]  # the roles the runs will use
    assert s.world.jobs.jobs == {} and s.world.queue.messages == [] and s.world.audit.rows == {}


def test_create_refuses_what_creating_the_export_would_refuse(s: Scheduled, analyst: Principal) -> None:
    ticket_analyst = Principal(ORG_A, "user-3", "Tick Et", frozenset({IMPORT_EXPORT_TICKETS}))
    with pytest.raises(Forbidden, match="access_reports permission"):
        s.schedules.create(ticket_analyst, body())
    # The intake's own callback rule (this world runs as in Azure: https only).
    with pytest.raises(ValidationFailed, match="callbackUrl must be an https URL"):
        s.schedules.create(analyst, body(callbackUrl="http://127.0.0.1:9/hook"))
    with pytest.raises(ValidationFailed, match="02:30 does not exist in Europe/Paris on 2026-03-29"):
        s.schedules.create(analyst, body({"frequency": "daily", "time": "02:30", "timeZone": "Europe/Paris"}))
    assert s.store.schedules == {}


def test_others_see_a_schedule_as_they_see_a_job(
    s: Scheduled, analyst: Principal, colleague: Principal, admin: Principal, outsider: Principal
) -> None:
    view = s.schedules.create(analyst, body())
    assert s.schedules.get(admin, view.schedule_id).schedule_id == view.schedule_id
    for stranger in (colleague, outsider):
        with pytest.raises(NotFound):
            s.schedules.get(stranger, view.schedule_id)
        with pytest.raises(NotFound):
            s.schedules.pause(stranger, view.schedule_id)
        with pytest.raises(NotFound):
            s.schedules.delete(stranger, view.schedule_id)
    with pytest.raises(NotFound):
        s.schedules.get(analyst, "../not-an-id")
    mine = s.schedules.list(analyst, status=None, page_size=None, continuation_token=None, whole_organization=False)
    theirs = s.schedules.list(colleague, status=None, page_size=None, continuation_token=None,
                              whole_organization=False)
    assert [item.schedule_id for item in mine.items] == [view.schedule_id] and theirs.items == []
    with pytest.raises(Forbidden, match="manage_system_settings"):
        s.schedules.list(analyst, status=None, page_size=None, continuation_token=None, whole_organization=True)
    whole = s.schedules.list(admin, status="active", page_size=10, continuation_token=None, whole_organization=True)
    assert [item.schedule_id for item in whole.items] == [view.schedule_id]


def test_changing_a_schedule_needs_its_dataset_permission_now(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    demoted = Principal(ORG_A, "user-1", "Ana Lyst", frozenset())
    with pytest.raises(Forbidden, match="Pausing a cases export schedule needs the access_reports permission"):
        s.schedules.pause(demoted, view.schedule_id)
    with pytest.raises(Forbidden, match="Deleting"):
        s.schedules.delete(demoted, view.schedule_id)


def test_pause_and_resume_and_a_resumed_schedule_does_not_make_up_missed_runs(
    s: Scheduled, analyst: Principal
) -> None:
    view = s.schedules.create(analyst, body())
    paused = s.schedules.pause(analyst, view.schedule_id)
    assert (paused.status, paused.next_run_at) == ("paused", None)
    assert s.schedules.pause(analyst, view.schedule_id).status == "paused"  # a repeat answers it as it is
    s.at("2026-03-10T12:00:00")
    resumed = s.schedules.resume(analyst, view.schedule_id)
    assert (resumed.status, resumed.next_run_at) == ("active", utc("2026-03-11T06:00:00"))


def test_delete_removes_it_even_when_the_timer_changed_it_meanwhile(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    stale = s.stored(view.schedule_id)
    s.store.replace(stale.model_copy(update={"name": "renamed by a race"}))
    original_get = s.store.get
    calls = iter([stale])  # the first read is the stale copy: its delete loses the ETag race, then it re-reads

    def get(organization_id: str, schedule_id: str) -> ExportSchedule | None:
        return next(calls, None) or original_get(organization_id, schedule_id)

    s.store.get = get  # type: ignore[method-assign]
    s.schedules.delete(analyst, view.schedule_id)
    s.store.get = original_get  # type: ignore[method-assign]
    assert s.store.schedules == {}
    with pytest.raises(NotFound):
        s.schedules.get(analyst, view.schedule_id)


# ---- the timer -----------------------------------------------------------------------------------------------


def test_a_run_missed_while_the_app_was_down_for_three_days_runs_once(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())  # next run 2026-03-02 06:00
    s.at("2026-03-05T07:00:00")  # down since before the 2nd: runs of the 2nd, 3rd, 4th and 5th were missed
    assert s.runs.run_due() == 1
    assert s.runs.run_due() == 0  # the next tick: nothing is due
    [job] = s.jobs()
    assert (job.source, job.schedule_id, job.created_by_id) == ("schedule", view.schedule_id, "user-1")
    stored = s.stored(view.schedule_id)
    assert stored.next_run_at == utc("2026-03-06T06:00:00")
    assert stored.last_run is not None
    assert (stored.last_run.run_at, stored.last_run.job_id, stored.last_run.outcome) == (
        utc("2026-03-05T06:00:00"), job.job_id, "created")
    assert s.world.service.get(analyst, job.job_id).schedule_id == view.schedule_id
    [row] = s.requested_rows()
    assert (row.job_id, row.actor_id, row.source) == (job.job_id, "user-1", "schedule")
    assert len(s.world.queue.messages) == 1
    s.world.drain()
    assert s.world.service.get(analyst, job.job_id).status == "completed"


def test_a_job_of_each_run_and_none_before_it_is_due(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body({"frequency": "weekly", "time": "06:00", "daysOfWeek": ["monday"]}))
    s.at("2026-03-02T05:59:59")
    assert s.runs.run_due() == 0
    for day in ("2026-03-02", "2026-03-09", "2026-03-16"):
        s.at(f"{day}T06:00:30")
        assert s.runs.run_due() == 1
    assert [job.schedule_id for job in s.jobs()] == [view.schedule_id] * 3
    assert s.stored(view.schedule_id).next_run_at == utc("2026-03-23T06:00:00")


def test_a_daily_run_keeps_its_local_time_across_the_spring_change(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body({"frequency": "daily", "time": "03:00", "timeZone": "Europe/Paris"}))
    s.at("2026-03-28T02:00:10")  # 03:00 CET
    s.runs.run_due()
    assert s.stored(view.schedule_id).next_run_at == utc("2026-03-29T01:00:00")  # 03:00 CEST
    s.at("2026-03-29T01:00:10")
    s.runs.run_due()
    last = s.stored(view.schedule_id)
    assert last.last_run is not None and last.last_run.run_at == utc("2026-03-29T01:00:00")
    assert last.next_run_at == utc("2026-03-30T01:00:00") and len(s.jobs()) == 2


def test_a_paused_schedule_makes_nothing(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    s.schedules.pause(analyst, view.schedule_id)
    s.at("2026-03-05T07:00:00")
    assert s.runs.run_due() == 0
    assert s.jobs() == [] and s.stored(view.schedule_id).last_run is None


def test_a_refused_run_is_recorded_answered_once_and_the_schedule_advances(analyst: Principal) -> None:
    s = scheduled(daily_quota_per_org=1)
    view = s.schedules.create(analyst, body())
    s.at("2026-03-02T06:00:05")
    s.world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV"}))  # the day's one export
    assert s.runs.run_due() == 1  # run, and refused
    stored = s.stored(view.schedule_id)
    assert stored.last_run is not None
    assert (stored.last_run.outcome, stored.last_run.job_id) == ("refused", None)
    assert stored.last_run.detail is not None and stored.last_run.detail.startswith("429: ")
    assert stored.next_run_at == utc("2026-03-03T06:00:00")
    [rejected] = s.world.events.rejections()
    assert (rejected.status, rejected.request_id, rejected.requested_by_id) == (
        429, run_key(view.schedule_id, utc("2026-03-02T06:00:00")), "user-1")
    assert [job.schedule_id for job in s.jobs()] == [None]  # only the day's own export


def test_a_run_uses_the_creators_roles_as_they_were(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    stored = s.stored(view.schedule_id)
    # As if the schedule had been created by someone without the permission (a role snapshot from elsewhere).
    s.store.schedules[(ORG_A, view.schedule_id)] = stored.model_copy(
        update={"created_by": stored.created_by.model_copy(update={"roles": [IMPORT_EXPORT_TICKETS]})})
    s.at("2026-03-02T06:00:05")
    s.runs.run_due()
    last = s.stored(view.schedule_id).last_run
    assert last is not None and last.outcome == "refused" and last.detail is not None
    assert last.detail.startswith("403: ") and s.jobs() == []
    assert [event.status for event in s.world.events.rejections()] == [403]


# ---- two timers at once, and a timer that dies half way ----------------------------------------------------


def test_two_timers_holding_the_same_due_schedule_make_one_job(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    s.at("2026-03-02T06:00:05")
    barrier = threading.Barrier(2, timeout=30)
    s.store.before_due = barrier.wait  # both timers read the due schedules before either runs one
    outcomes: list[int] = []
    errors: list[BaseException] = []

    def timer() -> None:
        try:
            outcomes.append(s.runs.run_due())
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=timer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(outcomes) == 2
    [job] = s.jobs()
    assert job.schedule_id == view.schedule_id
    assert len(s.requested_rows()) == 1 and len(s.world.queue.messages) == 1
    assert s.stored(view.schedule_id).next_run_at == utc("2026-03-03T06:00:00")


def test_two_timers_both_creating_the_run_make_one_job(s: Scheduled, analyst: Principal) -> None:
    """Both timers reach the intake with the same run key (neither sees the other's advance first)."""
    view = s.schedules.create(analyst, body())
    s.at("2026-03-02T06:00:05")
    due = s.stored(view.schedule_id)
    first = s.runs.run(due, s.world.clock.now())
    # The second timer read the schedule before the first advanced it: it runs the same run again.
    s.store.schedules[(ORG_A, view.schedule_id)] = due.model_copy(update={"etag": "W/stale"})
    second = s.runs.run(due.model_copy(update={"etag": "W/stale"}), s.world.clock.now())
    assert first is not None and second is not None and first.job_id == second.job_id
    assert len(s.jobs()) == 1 and len(s.requested_rows()) == 1 and len(s.world.queue.messages) == 1


def test_a_timer_that_dies_before_advancing_leaves_one_job_for_the_next(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    s.at("2026-03-02T06:00:05")
    replace = s.store.replace

    def crash(schedule: ExportSchedule) -> ExportSchedule:
        raise ConnectionError("the timer's instance died before advancing the schedule")

    s.store.replace = crash  # type: ignore[method-assign]
    assert s.runs.run_due() == 0  # logged; the schedule stays due
    s.store.replace = replace  # type: ignore[method-assign]
    [job] = s.jobs()
    assert s.stored(view.schedule_id).next_run_at == utc("2026-03-02T06:00:00")

    s.at("2026-03-02T06:01:00")  # the next tick, on another instance
    assert s.runs.run_due() == 1
    assert [j.job_id for j in s.jobs()] == [job.job_id]
    assert len(s.requested_rows()) == 1 and len(s.world.queue.messages) == 1
    stored = s.stored(view.schedule_id)
    assert stored.last_run is not None and stored.last_run.job_id == job.job_id
    assert stored.next_run_at == utc("2026-03-03T06:00:00")


def test_a_lost_race_to_advance_is_read_again_not_repeated(s: Scheduled, analyst: Principal) -> None:
    view = s.schedules.create(analyst, body())
    s.at("2026-03-02T06:00:05")
    due = s.stored(view.schedule_id)
    s.runs.run(due, s.world.clock.now())
    # A stale copy advancing again finds the schedule already advanced: nothing is written twice.
    with pytest.raises(ConcurrencyConflict):
        s.store.replace(due)
    assert s.runs.run(due, s.world.clock.now()) is None  # re-read: no longer due
    assert len(s.jobs()) == 1
    assert s.stored(view.schedule_id).next_run_at == utc("2026-03-03T06:00:00")
    assert timedelta(0) < s.stored(view.schedule_id).next_run_at - s.world.clock.now()
