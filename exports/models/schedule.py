"""Scheduled exports: the recurrence a caller sends, the stored schedule, and what the API shows of it."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from exports.models.base import CamelModel
from exports.models.request import CreateExportRequest

ScheduleName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
TIME_TEXT = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
# Days after the 28th do not exist in every month: a schedule would silently skip months.
LAST_DAY_IN_EVERY_MONTH = 28


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def ncrontab(self) -> int:
        """The day as NCRONTAB numbers it: Sunday is 0."""
        return (list(Weekday).index(self) + 1) % 7


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


# The fields each frequency takes besides `frequency` and `timeZone`; any other is refused.
_FIELDS = {
    Frequency.DAILY: {"time"},
    Frequency.WEEKLY: {"time", "days_of_week"},
    Frequency.MONTHLY: {"time", "day_of_month"},
    Frequency.CRON: {"expression"},
}


class Recurrence(CamelModel):
    """When a schedule runs: daily, weekly on given days or monthly at a local time, or an NCRONTAB expression.

    Only the shape is checked here; whether the times exist in the zone, and how often it runs, is checked
    against the zone's calendar by exports/recurrence.py when a schedule is created.
    """

    frequency: Frequency
    time: str | None = Field(default=None, description="Local time HH:MM (daily, weekly, monthly)",
                             examples=["07:30"])
    days_of_week: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    day_of_month: int | None = Field(default=None, ge=1, le=31, description="1 to 28 (monthly)")
    expression: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)] | None = Field(
        default=None,
        description="NCRONTAB, six fields: {second} {minute} {hour} {day} {month} {day-of-week} (cron only)",
        examples=["0 30 7 * * 1-5"],
    )
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="UTC", description="IANA time zone name, e.g. Europe/Paris", examples=["Europe/Paris"]
    )

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is not None and not TIME_TEXT.match(value):
            raise ValueError("must be a local time HH:MM, 00:00 to 23:59")
        return value

    @field_validator("days_of_week")
    @classmethod
    def _distinct_days(cls, value: list[Weekday] | None) -> list[Weekday] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("names a day more than once")
        return value

    @field_validator("day_of_month")
    @classmethod
    def _in_every_month(cls, value: int | None) -> int | None:
        if value is not None and value > LAST_DAY_IN_EVERY_MONTH:
            raise ValueError(
                f"day {value} does not exist in every month; choose 1 to {LAST_DAY_IN_EVERY_MONTH} "
                "(or a cron expression)"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in known_time_zones():
            raise ValueError(f"{value!r} is not an IANA time zone name (like Europe/Paris or UTC)")
        return value

    @model_validator(mode="after")
    def _fields_fit_frequency(self) -> Recurrence:
        allowed = _FIELDS[self.frequency]
        given = self.model_fields_set - {"frequency", "time_zone"}
        extra = sorted(to_camel(name) for name in given - allowed)
        if extra:
            raise ValueError(f"{', '.join(extra)} do not apply to a {self.frequency.value} recurrence")
        missing = sorted(to_camel(name) for name in allowed if getattr(self, name) is None)
        if missing:
            raise ValueError(f"a {self.frequency.value} recurrence needs {', '.join(missing)}")
        return self


class ScheduleCreate(CamelModel):
    """The body of POST /export-schedules: a name, the body of an export, and when to run it."""

    name: ScheduleName
    export: CreateExportRequest
    recurrence: Recurrence


ScheduleStatus = Literal["active", "paused"]


class ScheduleRun(CamelModel):
    """A schedule's latest run: the job it created, or why the run was refused."""

    run_at: datetime
    job_id: str | None = None
    outcome: Literal["created", "refused"]
    detail: str | None = None


class ScheduleCreator(CamelModel):
    """Who created the schedule, with the roles they had then: every run uses these permissions."""

    user_id: str
    name: str = ""
    roles: list[str] = Field(default_factory=list)


class ExportSchedule(BaseModel):
    """The schedule as the domain sees it; stored in Table storage by the schedule store."""

    model_config = ConfigDict(validate_assignment=False)

    schedule_id: str
    organization_id: str
    name: str
    export: CreateExportRequest
    recurrence: Recurrence
    status: ScheduleStatus = "active"
    next_run_at: datetime
    last_run: ScheduleRun | None = None
    created_by: ScheduleCreator
    created_at: datetime
    updated_at: datetime
    etag: str | None = None


class ScheduleView(CamelModel):
    """A schedule as the API shows it."""

    schedule_id: str
    name: str
    status: ScheduleStatus
    recurrence: Recurrence
    export: CreateExportRequest
    next_run_at: datetime | None = Field(description="The next run (UTC); null while the schedule is paused")
    last_run: ScheduleRun | None
    created_by_id: str
    created_by_name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: ExportSchedule) -> ScheduleView:
        return cls.model_construct(
            schedule_id=schedule.schedule_id,
            name=schedule.name,
            status=schedule.status,
            recurrence=schedule.recurrence,
            export=schedule.export,
            next_run_at=schedule.next_run_at if schedule.status == "active" else None,
            last_run=schedule.last_run,
            created_by_id=schedule.created_by.user_id,
            created_by_name=schedule.created_by.name,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )


class SchedulePage(CamelModel):
    items: list[ScheduleView]
    continuation_token: str | None
