"""The daily quota counts the organization's jobs of the UTC day (a RowKey range of its partition): day
boundaries, the last unit, repeats, and the bound on what concurrent creates can pass (README, "Job lifecycle")."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from exports.job_ids import job_ids_of_day, new_job_id
from exports.models import CreateExportRequest
from shared.auth import Principal
from shared.errors import QuotaExceeded
from tests.unit.conftest import ORG_A, ORG_B, World, make_world

DAY = date(2026, 3, 1)
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)


def csv() -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": "CSV"})


def at(world: World, when: datetime) -> None:
    world.clock.current = when


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (datetime(2026, 3, 1, tzinfo=UTC), True),
        (datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=UTC), True),
        (datetime(2026, 3, 1, 12, tzinfo=UTC), True),
        (MIDNIGHT - timedelta(milliseconds=1), True),
        (MIDNIGHT - timedelta(microseconds=1), True),
        (datetime(2026, 3, 1, tzinfo=UTC) - timedelta(microseconds=1), False),
        (datetime(2026, 3, 1, tzinfo=UTC) - timedelta(milliseconds=1), False),
        (MIDNIGHT, False),
        (MIDNIGHT + timedelta(milliseconds=1), False),
    ],
)
def test_the_days_ids_are_exactly_those_made_from_its_midnight_to_the_next(when: datetime, inside: bool) -> None:
    first, end = job_ids_of_day(DAY)
    assert all((first <= new_job_id(when) < end) is inside for _ in range(20))  # whatever the random tail


def test_a_day_full_just_before_midnight_utc_refuses_until_midnight_and_not_after(analyst: Principal) -> None:
    world = make_world(daily_quota_per_org=2)
    at(world, datetime(2026, 3, 1, tzinfo=UTC))  # the day's first instant counts for the day
    world.service.create(analyst, csv())
    at(world, MIDNIGHT - timedelta(milliseconds=1))
    world.service.create(analyst, csv())

    with pytest.raises(QuotaExceeded) as refused:
        world.service.create(analyst, csv())

    assert refused.value.retry_after_seconds == 1 and refused.value.resets_at == MIDNIGHT
    assert refused.value.status == 429
    assert refused.value.detail == (
        "Your organization has requested 2 exports today, the daily limit (2); try again after midnight UTC."
    )
    at(world, MIDNIGHT)  # a new day: yesterday's two do not count
    world.service.create(analyst, csv())
    world.service.create(analyst, csv())
    with pytest.raises(QuotaExceeded):
        world.service.create(analyst, csv())
    assert len(world.jobs.jobs) == 4


def test_the_previous_days_last_jobs_do_not_count(analyst: Principal) -> None:
    world = make_world(daily_quota_per_org=1)
    at(world, datetime(2026, 3, 1, tzinfo=UTC) - timedelta(milliseconds=1))
    world.service.create(analyst, csv())
    at(world, datetime(2026, 3, 1, tzinfo=UTC))
    world.service.create(analyst, csv())
    assert len(world.jobs.jobs) == 2


def test_the_last_unit_is_taken_and_the_next_refused(analyst: Principal) -> None:
    world = make_world(daily_quota_per_org=3)
    for _ in range(3):
        world.service.create(analyst, csv())
    with pytest.raises(QuotaExceeded):
        world.service.create(analyst, csv())
    assert len(world.jobs.jobs) == 3


def test_a_repeat_is_not_counted_and_ended_or_deleted_jobs_still_are(analyst: Principal, admin: Principal) -> None:
    world = make_world(daily_quota_per_org=3)
    first, created = world.service.create(analyst, csv(), idempotency_key="k-1")
    again, created_again = world.service.create(analyst, csv(), idempotency_key="k-1")
    assert created and not created_again and again.job_id == first.job_id
    second, _ = world.service.create(analyst, csv())
    world.service.cancel(analyst, second.job_id)
    world.service.delete(admin, first.job_id)
    world.service.create(analyst, csv())

    with pytest.raises(QuotaExceeded):
        world.service.create(analyst, csv())
    # A repeat of an accepted request still answers with its job, over the quota too.
    repeat, created = world.service.create(analyst, csv(), idempotency_key="k-1")
    assert repeat.job_id == first.job_id and not created


def test_each_organization_has_its_own_quota(analyst: Principal) -> None:
    world = make_world(daily_quota_per_org=1)
    other = Principal(ORG_B, "user-9", "Other", analyst.roles)
    world.service.create(analyst, csv())
    world.service.create(other, csv())
    with pytest.raises(QuotaExceeded):
        world.service.create(analyst, csv())


def test_a_day_found_full_is_refused_without_counting_again_until_midnight(analyst: Principal) -> None:
    world = make_world(daily_quota_per_org=1)
    at(world, MIDNIGHT - timedelta(hours=1))
    world.service.create(analyst, csv())
    counts: list[str] = []
    count_ids = world.jobs.count_ids

    def counting(organization_id: str, first_id: str, end_id: str, limit: int) -> int:
        counts.append(organization_id)
        return count_ids(organization_id, first_id, end_id, limit)

    world.jobs.count_ids = counting  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(QuotaExceeded) as refused:
            world.service.create(analyst, csv())
        assert refused.value.retry_after_seconds == 3601
    assert counts == [ORG_A]  # the first refusal counted; the day stays full (jobs are never removed)

    at(world, MIDNIGHT)
    world.service.create(analyst, csv())
    assert counts == [ORG_A, ORG_A]


def test_the_count_stops_at_the_limit(analyst: Principal) -> None:
    world = make_world()
    for _ in range(5):
        world.service.create(analyst, csv())
    first, end = job_ids_of_day(DAY)
    assert world.jobs.count_ids(ORG_A, first, end, 3) == 3
    assert world.jobs.count_ids(ORG_A, first, end, 10) == 5
    assert world.jobs.count_ids(ORG_B, first, end, 10) == 0


def test_creates_that_all_count_before_any_inserts_go_over_by_one_less_than_their_number(
    analyst: Principal,
) -> None:
    """The worst case of the bound, made certain: every create counts, then all insert."""
    quota, racing = 5, 6
    world = make_world(daily_quota_per_org=quota)
    for _ in range(quota - 1):
        world.service.create(analyst, csv())
    counted = threading.Barrier(racing, timeout=30)
    count_ids = world.jobs.count_ids

    def count_then_wait(organization_id: str, first_id: str, end_id: str, limit: int) -> int:
        found = count_ids(organization_id, first_id, end_id, limit)
        counted.wait()  # no create inserts before all have counted
        return found

    world.jobs.count_ids = count_then_wait  # type: ignore[method-assign]
    outcomes = race(world, analyst, racing)

    assert outcomes.count("created") == racing
    assert len(world.jobs.jobs) == quota + racing - 1  # the bound, reached: quota + (in flight at once - 1)


def test_concurrent_creates_never_lose_a_unit_and_stay_within_the_bound(analyst: Principal) -> None:
    quota, racing = 4, 16
    world = make_world(daily_quota_per_org=quota)

    outcomes = race(world, analyst, racing)

    created = outcomes.count("created")
    assert set(outcomes) <= {"created", "refused"}
    assert quota <= created <= quota + racing - 1
    with pytest.raises(QuotaExceeded):  # and once they are done the quota holds
        world.service.create(analyst, csv())


def race(world: World, principal: Principal, racing: int) -> list[str]:
    """`racing` threads create at once (a barrier releases them together); what became of each."""
    start = threading.Barrier(racing, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        start.wait()
        try:
            world.service.create(principal, csv())
            outcome = "created"
        except QuotaExceeded:
            outcome = "refused"
        except Exception as error:  # any other outcome fails the test, named
            outcome = type(error).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create) for _ in range(racing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == racing
    return outcomes
