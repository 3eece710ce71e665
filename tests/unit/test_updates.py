"""Every change to a stored job or limits record: read, change, replace on the ETag, bounded retries."""

from __future__ import annotations

import pytest

from exports.models import CreateExportRequest, ExportJob
from exports.ports import LimitRecord
from exports.updates import update_job, update_limit
from shared.auth import Principal
from shared.errors import ConcurrencyConflict
from tests.support.lifecycle_fakes import FakeLimitStore
from tests.unit.conftest import ORG_A, World


def a_job(world: World, analyst: Principal) -> ExportJob:
    job, _ = world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV"}))
    return job


def test_a_change_is_applied_and_saved_on_the_etag_it_was_read_with(world: World, analyst: Principal) -> None:
    job = a_job(world, analyst)

    def rename(stored: ExportJob) -> bool:
        stored.file_name = "renamed.csv"
        return True

    updated = update_job(world.jobs, ORG_A, job.job_id, rename)

    assert updated is not None and updated.written
    assert world.jobs.get(ORG_A, job.job_id).file_name == "renamed.csv"  # type: ignore[union-attr]


def test_a_lost_race_applies_the_change_again_to_the_fresh_job(world: World, analyst: Principal) -> None:
    stale = a_job(world, analyst)
    other = world.jobs.get(ORG_A, stale.job_id)
    assert other is not None
    other.created_by_name = "someone else's write"
    world.jobs.replace(other)
    seen: list[str] = []

    def rename(stored: ExportJob) -> bool:
        seen.append(stored.created_by_name)
        stored.file_name = "renamed.csv"
        return True

    updated = update_job(world.jobs, ORG_A, stale.job_id, rename, current=stale)

    assert updated is not None and updated.written
    assert seen == [stale.created_by_name, "someone else's write"]
    stored = world.jobs.get(ORG_A, stale.job_id)
    assert stored is not None and (stored.file_name, stored.created_by_name) == ("renamed.csv", "someone else's write")


def test_a_change_with_nothing_to_write_writes_nothing(world: World, analyst: Principal) -> None:
    job = a_job(world, analyst)
    updated = update_job(world.jobs, ORG_A, job.job_id, lambda stored: False)
    assert updated is not None and not updated.written and updated.job.etag == job.etag


def test_a_missing_job_is_none(world: World) -> None:
    assert update_job(world.jobs, ORG_A, "0000000000000-missing", lambda stored: True) is None


def test_retries_are_bounded_and_then_the_conflict_is_the_callers(world: World, analyst: Principal) -> None:
    job = a_job(world, analyst)
    tries: list[int] = []

    def always_loses(stored: ExportJob) -> bool:
        tries.append(1)
        stored.etag = "W/someone-else"
        return True

    with pytest.raises(ConcurrencyConflict):
        update_job(world.jobs, ORG_A, job.job_id, always_loses, attempts=3)
    assert len(tries) == 3


def test_our_own_write_whose_answer_was_lost_counts_as_saved(world: World, analyst: Principal) -> None:
    job = a_job(world, analyst)
    save = world.jobs.replace

    def saved_but_answer_lost(changed: ExportJob) -> ExportJob:
        save(changed)
        raise ConcurrencyConflict("the client retried a replace that had been saved")

    world.jobs.replace = saved_but_answer_lost  # type: ignore[method-assign,assignment]

    def advance(stored: ExportJob) -> bool:
        stored.checkpoint.seq += 1
        return True

    updated = update_job(
        world.jobs, ORG_A, job.job_id, advance, current=job, attempts=1,
        already_saved=lambda stored, ours: stored.checkpoint == ours.checkpoint,
    )
    assert updated is not None and updated.written and updated.job.checkpoint.seq == job.checkpoint.seq


def test_a_limits_record_is_changed_again_after_a_lost_race() -> None:
    limits = FakeLimitStore()
    limits.write(ORG_A, "running", LimitRecord(job_ids=["a"]))
    raced: list[bool] = []

    def add_b(record: LimitRecord) -> bool:
        if not raced:
            raced.append(True)
            limits.write(ORG_A, "running", LimitRecord(job_ids=["a", "c"], etag=record.etag))
        record.job_ids.append("b")
        return True

    assert update_limit(limits, ORG_A, "running", add_b)
    assert limits.read(ORG_A, "running").job_ids == ["a", "c", "b"]


def test_a_limits_record_with_nothing_to_change_is_not_written() -> None:
    limits = FakeLimitStore()
    assert not update_limit(limits, ORG_A, "running", lambda record: False)
    assert limits.writes == 0


def test_a_limits_record_that_keeps_changing_is_a_conflict_after_the_bound() -> None:
    limits = FakeLimitStore()

    def always_loses(record: LimitRecord) -> bool:
        record.etag = "W/someone-else"
        return True

    with pytest.raises(ConcurrencyConflict):
        update_limit(limits, ORG_A, "running", always_loses, attempts=4)
