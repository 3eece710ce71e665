"""Recurrences: each frequency, daylight-saving days in two zones, and the refusals that say why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from exports.models.schedule import Recurrence
from exports.recurrence import Timetable, check_expression, ncrontab
from shared.errors import ValidationFailed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def timetable(**fields: Any) -> Timetable:
    return Timetable.of(Recurrence.model_validate(fields))


def runs(table: Timetable, after: datetime, count: int) -> list[str]:
    found = []
    for _ in range(count):
        following = table.next_after(after)
        assert following is not None
        found.append(following.strftime("%Y-%m-%dT%H:%M:%SZ"))
        after = following
    return found


def refusal(**fields: Any) -> str:
    with pytest.raises(ValidationFailed) as caught:
        recurrence = Recurrence.model_validate(fields)
        if recurrence.expression is not None:
            check_expression(recurrence.expression)
        Timetable.of(recurrence).check(NOW)
    return caught.value.detail


def shape_refusal(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Recurrence.model_validate(fields)
    return str(caught.value)


# ---- each frequency -------------------------------------------------------------------------------------


def test_daily_weekly_and_monthly_become_one_ncrontab_form() -> None:
    assert ncrontab(Recurrence.model_validate({"frequency": "daily", "time": "07:05"})) == "0 5 7 * * *"
    weekly = Recurrence.model_validate({"frequency": "weekly", "time": "18:30", "daysOfWeek": ["sunday", "monday"]})
    assert ncrontab(weekly) == "0 30 18 * * 0,1"
    monthly = Recurrence.model_validate({"frequency": "monthly", "time": "00:00", "dayOfMonth": 28})
    assert ncrontab(monthly) == "0 0 0 28 * *"
    assert ncrontab(Recurrence.model_validate({"frequency": "cron", "expression": " 0  0 9 * * 1-5 "})) == (
        "0 0 9 * * 1-5")


def test_daily_runs_at_the_local_time_in_utc() -> None:
    table = timetable(frequency="daily", time="07:30", timeZone="Europe/Paris")
    # Winter (UTC+1) then summer (UTC+2): the same local time, a different instant.
    assert runs(table, utc("2026-03-27T12:00:00"), 3) == [
        "2026-03-28T06:30:00Z", "2026-03-29T05:30:00Z", "2026-03-30T05:30:00Z"]


def test_weekly_runs_on_the_given_days_only() -> None:
    table = timetable(frequency="weekly", time="09:00", daysOfWeek=["monday", "thursday"])
    assert runs(table, utc("2026-03-01T12:00:00"), 4) == [  # 2026-03-01 is a Sunday
        "2026-03-02T09:00:00Z", "2026-03-05T09:00:00Z", "2026-03-09T09:00:00Z", "2026-03-12T09:00:00Z"]


def test_monthly_runs_on_the_day_of_each_month() -> None:
    table = timetable(frequency="monthly", time="23:00", dayOfMonth=28, timeZone="America/New_York")
    assert runs(table, utc("2026-01-01T00:00:00"), 3) == [
        "2026-01-29T04:00:00Z", "2026-03-01T04:00:00Z", "2026-03-29T03:00:00Z"]


def test_cron_reads_seconds_first_and_needs_both_day_fields() -> None:
    table = timetable(frequency="cron", expression="30 0 6 13 * 5")  # Friday the 13th, 06:00:30
    assert runs(table, utc("2026-01-01T00:00:00"), 2) == ["2026-02-13T06:00:30Z", "2026-03-13T06:00:30Z"]


def test_next_is_strictly_after_and_latest_is_at_or_before() -> None:
    table = timetable(frequency="daily", time="06:00")
    assert table.next_after(utc("2026-03-02T06:00:00")) == utc("2026-03-03T06:00:00")
    assert table.latest_at_or_before(utc("2026-03-02T06:00:00")) == utc("2026-03-02T06:00:00")
    assert table.latest_at_or_before(utc("2026-03-02T05:59:59")) == utc("2026-03-01T06:00:00")


# ---- daylight-saving days ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Autumn: 02:30 happens twice; it runs once, at the first (summer-time) occurrence.
        ("Europe/Paris", "2026-10-24T12:00:00", ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        ("America/New_York", "2026-10-31T12:00:00", ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
    ],
)
def test_an_ambiguous_autumn_time_runs_once_at_its_first_occurrence(zone: str, after: str,
                                                                   expected: list[str]) -> None:
    time = "02:30" if zone == "Europe/Paris" else "01:30"
    assert runs(timetable(frequency="daily", time=time, timeZone=zone), utc(after), 2) == expected


def test_an_hourly_schedule_runs_once_per_local_hour_through_the_autumn_overlap() -> None:
    table = timetable(frequency="cron", expression="0 30 * * * *", timeZone="Europe/Paris")
    # Local 01:30, 02:30 (first, CEST), 03:30 (CET): the second 02:30 is not a second run.
    assert runs(table, utc("2026-10-24T23:00:00"), 3) == [
        "2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z"]


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        ("Europe/Paris", "2026-03-28T12:00:00", ["2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"]),
        ("America/New_York", "2026-03-07T12:00:00", ["2026-03-08T08:00:00Z", "2026-03-09T08:00:00Z"]),
    ],
)
def test_a_time_after_the_spring_gap_keeps_its_local_time(zone: str, after: str, expected: list[str]) -> None:
    time = "03:00" if zone == "Europe/Paris" else "04:00"
    assert runs(timetable(frequency="daily", time=time, timeZone=zone), utc(after), 2) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frequency": "daily", "time": "02:30", "timeZone": "Europe/Paris"},
         "02:30 does not exist in Europe/Paris on 2026-03-29 (clocks go from 02:00 to 03:00); choose another time"),
        ({"frequency": "daily", "time": "02:15", "timeZone": "America/New_York"},
         "02:15 does not exist in America/New_York on 2026-03-08 (clocks go from 02:00 to 03:00)"),
        # Only on a day it runs: the last Sunday of March is the 29th in 2026, the 28th in 2027.
        ({"frequency": "monthly", "time": "02:30", "dayOfMonth": 28, "timeZone": "Europe/Paris"},
         "02:30 does not exist in Europe/Paris on 2027-03-28"),
        ({"frequency": "cron", "expression": "0 30 2 * * 0", "timeZone": "Europe/Paris"},
         "02:30 does not exist in Europe/Paris on 2026-03-29"),
    ],
)
def test_a_local_time_a_spring_gap_skips_is_refused_naming_the_day(fields: dict[str, Any], message: str) -> None:
    assert message in refusal(**fields)


def test_a_time_the_gap_skips_on_days_it_does_not_run_is_accepted() -> None:
    # Weekdays only: the European gap is always on a Sunday.
    timetable(frequency="weekly", time="02:30", daysOfWeek=["monday", "friday"], timeZone="Europe/Paris").check(NOW)
    timetable(frequency="daily", time="02:30", timeZone="Asia/Tokyo").check(NOW)  # no DST at all


def test_a_run_that_lands_in_a_gap_anyway_runs_at_the_instant_zoneinfo_gives_it() -> None:
    # As when the zone's rules change after the schedule was checked: 02:30 in the gap is 01:30 UTC (03:30 CEST).
    table = timetable(frequency="daily", time="02:30", timeZone="Europe/Paris")
    assert table.next_after(utc("2026-03-28T12:00:00")) == utc("2026-03-29T01:30:00")


# ---- refusals ----------------------------------------------------------------------------------------------


def test_day_29_to_31_are_refused_because_not_every_month_has_them() -> None:
    for day in (29, 30, 31):
        assert f"day {day} does not exist in every month" in shape_refusal(
            frequency="monthly", time="08:00", dayOfMonth=day)


@pytest.mark.parametrize("expression", ["0 */30 * * * *", "* 0 9 * * *", "0 0,30 9 * * *", "0 0,59 * * * *"])
def test_more_than_once_an_hour_is_refused(expression: str) -> None:
    assert "runs more than once an hour" in refusal(frequency="cron", expression=expression)


def test_hourly_is_the_most_often_allowed() -> None:
    timetable(frequency="cron", expression="0 0 * * * *").check(NOW)
    timetable(frequency="cron", expression="0 15 */2 * * *", timeZone="Asia/Kolkata").check(NOW)


def test_an_hourly_schedule_in_a_zone_with_a_spring_gap_is_refused_by_the_gap_rule() -> None:
    # Its 02:00 run would land on its 03:00 run's instant; in such a zone, hourly schedules are kept in UTC.
    assert "02:00 does not exist in Europe/Paris on 2026-03-29" in refusal(
        frequency="cron", expression="0 0 * * * *", timeZone="Europe/Paris")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * * *", "has six fields, {second} {minute} {hour} {day} {month} {day-of-week}; '0 9 * * *' has 5"),
        ("0 61 * * * *", "the minute field '61' has 61, outside 0 to 59"),
        ("0 0 25 * * *", "the hour field '25' has 25, outside 0 to 23"),
        ("0 0 9 L * *", "the day field 'L' has 'L', which is not a day"),
        ("0 0 9 * * 1#2", "the day-of-week field '1#2' is not a number"),
        ("0 0 9 * * 7", "the day-of-week field '7' has 7, outside 0 to 6"),
        ("0 0 9 * * ?", "the day-of-week field '?' is not a number"),
        ("0 0 9 */0 * *", "has a step of 0"),
        ("0 0 0 30 2 *", "it never runs"),
    ],
)
def test_a_bad_ncrontab_expression_is_refused_with_the_reason(expression: str, reason: str) -> None:
    assert reason in refusal(frequency="cron", expression=expression)


def test_names_of_months_and_days_are_read() -> None:
    check_expression("0 0 9 * JAN-mar MON-FRI")
    table = timetable(frequency="cron", expression="0 0 9 * jan mon")
    assert runs(table, utc("2026-12-31T00:00:00"), 1) == ["2027-01-04T09:00:00Z"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frequency": "daily", "time": "7:30"}, "must be a local time HH:MM"),
        ({"frequency": "daily", "time": "24:00"}, "must be a local time HH:MM"),
        ({"frequency": "daily"}, "a daily recurrence needs time"),
        ({"frequency": "weekly", "time": "08:00"}, "a weekly recurrence needs daysOfWeek"),
        ({"frequency": "weekly", "time": "08:00", "daysOfWeek": []}, "at least 1 item"),
        ({"frequency": "weekly", "time": "08:00", "daysOfWeek": ["monday", "monday"]}, "names a day more than once"),
        ({"frequency": "daily", "time": "08:00", "dayOfMonth": 3}, "dayOfMonth do not apply to a daily recurrence"),
        ({"frequency": "cron", "expression": "0 0 9 * * *", "time": "09:00"}, "time do not apply to a cron"),
        ({"frequency": "monthly", "time": "08:00"}, "a monthly recurrence needs dayOfMonth"),
        ({"frequency": "daily", "time": "08:00", "timeZone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time"),
        ({"frequency": "daily", "time": "08:00", "timeZone": "../../etc/passwd"}, "is not an IANA time zone"),
        ({"frequency": "hourly"}, "Input should be 'daily', 'weekly', 'monthly' or 'cron'"),
    ],
)
def test_a_recurrence_of_the_wrong_shape_is_refused(fields: dict[str, Any], message: str) -> None:
    assert message in shape_refusal(**fields)
