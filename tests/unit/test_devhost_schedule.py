"""NCRONTAB and TimeSpan schedules of timer triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devhost.app_loader import ConfigError
from devhost.timer_runner import CronSchedule, IntervalSchedule, make_timer_request, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 * * * *", "2024-03-01T10:15:30", "2024-03-01T11:00:00"),  # hourly
        ("0 */5 * * * *", "2024-03-01T10:15:30", "2024-03-01T10:20:00"),
        ("*/10 * * * * *", "2024-03-01T10:15:31", "2024-03-01T10:15:40"),  # seconds come first
        ("30 0 0 * * *", "2024-03-01T00:00:30", "2024-03-02T00:00:30"),  # strictly after
        ("0 30 9 * * 1-5", "2024-03-01T10:00:00", "2024-03-04T09:30:00"),  # Fri -> Mon
        ("0 0 0 13 * 5", "2024-01-01T00:00:00", "2024-09-13T00:00:00"),  # day AND weekday: Friday 13th
        ("0 0 3 * * SUN", "2024-03-01T00:00:00", "2024-03-03T03:00:00"),
        ("15 * * * *", "2024-03-01T10:15:30", "2024-03-01T11:15:00"),  # five fields: minute first
    ],
)
def test_next_occurrence_in_utc(expression: str, after: str, expected: str) -> None:
    assert CronSchedule(expression).next_after(at(after)) == at(expected)


def test_other_time_zones_are_converted_to_utc() -> None:
    local = datetime(2024, 3, 1, 12, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert CronSchedule("0 0 * * * *").next_after(local) == at("2024-03-01T13:00:00")


def test_schedule_from_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANUP_SCHEDULE", "0 0 2 * * *")
    schedule = parse_schedule("%CLEANUP_SCHEDULE%")
    assert schedule.next_after(at("2024-03-01T03:00:00")) == at("2024-03-02T02:00:00")


def test_timespan_schedule_is_a_fixed_period() -> None:
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(at("2024-03-01T10:00:00")) == at("2024-03-01T10:05:00")


@pytest.mark.parametrize("expression", ["* * *", "61 * * * * *", "0 0 * * * * * *", "nonsense here a b c d"])
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(ConfigError):
        parse_schedule(expression)


def test_missing_setting_reference_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_schedule("%DEVHOST_TEST_UNSET_SCHEDULE%")


def test_timer_request_carries_past_due_and_status() -> None:
    request = make_timer_request(True, at("2024-03-01T10:00:00"), at("2024-03-01T11:00:00"))
    assert request.past_due is True
    assert request.schedule_status["Next"] == "2024-03-01T11:00:00+00:00"
