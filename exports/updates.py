"""The one place where a stored job or limits record is read, changed and replaced on its ETag.

Every change to a job goes through `update_job`: it applies a mutation, replaces the job on the ETag it
was read with and, when another writer got there first, reads the job again and applies the mutation
to the fresh copy, a bounded number of times. The limits records go through `update_limit` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exports.models import ExportJob
from exports.models.schedule import ExportSchedule
from exports.ports import JobStore, LimitRecord, LimitStore, ScheduleStore
from shared.errors import ConcurrencyConflict

# Decides what to write: changes the job in place and says whether there is anything to save.
# It may raise to stop the update (a refusal, or "another copy of this step saved first").
JobMutation = Callable[[ExportJob], bool]
LimitMutation = Callable[[LimitRecord], bool]


@dataclass(frozen=True)
class Updated:
    """The job as it is stored after the update, and whether this update wrote it."""

    job: ExportJob
    written: bool


def update_job(
    jobs: JobStore,
    organization_id: str,
    job_id: str,
    mutate: JobMutation,
    *,
    current: ExportJob | None = None,
    attempts: int = 10,
    already_saved: Callable[[ExportJob, ExportJob], bool] | None = None,
) -> Updated | None:
    """Applies `mutate` to the job and saves it; None if the job does not exist (any more).

    `current` is a copy the caller has just read (or changed): it is tried first, without a read.
    `already_saved(stored, ours)` recognises our own write in the stored job: a replace whose answer was
    lost is retried by the storage client and then fails its own ETag check, although it was saved.
    After `attempts` lost races it raises ConcurrencyConflict; the caller decides what that means.
    """
    job = current if current is not None else jobs.get(organization_id, job_id)
    for attempt in range(1, attempts + 1):
        if job is None:
            return None
        if not mutate(job):
            return Updated(job, written=False)
        try:
            return Updated(jobs.replace(job), written=True)
        except ConcurrencyConflict:
            if attempt == attempts and already_saved is None:
                raise
            fresh = jobs.get(organization_id, job_id)
            if fresh is not None and already_saved is not None and already_saved(fresh, job):
                return Updated(fresh, written=True)
            if attempt == attempts:
                raise
            job = fresh
    raise ConcurrencyConflict(f"export {job_id} kept changing while it was being saved")


def update_limit(
    limits: LimitStore,
    organization_id: str,
    key: str,
    mutate: LimitMutation,
    *,
    attempts: int = 20,
) -> bool:
    """Applies `mutate` to one limits record and writes it; True if written, False if nothing to write.

    After `attempts` lost races it raises ConcurrencyConflict; the caller decides what that means.
    """
    for _ in range(attempts):
        record = limits.read(organization_id, key)
        if not mutate(record):
            return False
        try:
            limits.write(organization_id, key, record)
        except ConcurrencyConflict:
            continue
        return True
    raise ConcurrencyConflict(f"limit {key} of {organization_id} kept changing while it was being written")


ScheduleMutation = Callable[[ExportSchedule], bool]


def update_schedule(
    schedules: ScheduleStore,
    organization_id: str,
    schedule_id: str,
    mutate: ScheduleMutation,
    *,
    current: ExportSchedule | None = None,
    attempts: int = 10,
) -> tuple[ExportSchedule, bool] | None:
    """Applies `mutate` to a schedule and saves it on its ETag, re-reading after a lost race, as `update_job`.

    Returns (the schedule as stored, whether this update wrote it); None if the schedule does not exist.
    """
    schedule = current if current is not None else schedules.get(organization_id, schedule_id)
    for _ in range(attempts):
        if schedule is None:
            return None
        if not mutate(schedule):
            return schedule, False
        try:
            return schedules.replace(schedule), True
        except ConcurrencyConflict:
            schedule = schedules.get(organization_id, schedule_id)
    raise ConcurrencyConflict(f"schedule {schedule_id} kept changing while it was being saved")
