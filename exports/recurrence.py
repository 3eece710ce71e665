"""The one evaluator of a schedule's runs: an NCRONTAB expression over local wall times, mapped to instants.

Daily, weekly and monthly recurrences become six-field NCRONTAB expressions, so every frequency is read by the
same code. croniter walks naive local wall times (its own time zone handling is not used); each local time
becomes an instant through zoneinfo with fold=0, so an ambiguous time of an autumn overlap runs once, at its
first occurrence. Local times inside a spring gap are refused when the schedule is created (within the next
five years); should the zone's rules change later and a run land in a gap anyway, it runs at the instant
zoneinfo maps it to (the offset before the change: 02:30 becomes 03:30 after a one-hour spring gap).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter

from exports.models.schedule import Frequency, Recurrence
from shared.errors import ValidationFailed

# More than any offset change a zone makes at once: an occurrence this far from a moment's local time is
# never on the other side of that moment.
MARGIN = timedelta(hours=3)
MIN_INTERVAL = timedelta(hours=1)
# How many upcoming runs are compared for the hourly minimum, and how far ahead gaps are looked for.
CHECKED_RUNS = 300
HORIZON = timedelta(days=5 * 366)

FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
FIELD_TEXT = "{second} {minute} {hour} {day} {month} {day-of-week}"
_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12),
           "day-of-week": (0, 6)}
_NAMES = {
    "month": {name: number for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)},
    "day-of-week": {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
_ITEM = re.compile(r"^(?:(\*)|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/(\d+))?$")


def refused(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[{"field": field, "message": message}])


def ncrontab(recurrence: Recurrence) -> str:
    """The recurrence as a six-field NCRONTAB expression over local wall times."""
    if recurrence.frequency is Frequency.CRON:
        assert recurrence.expression is not None
        return " ".join(recurrence.expression.split())
    assert recurrence.time is not None
    hour, minute = (int(part) for part in recurrence.time.split(":"))
    if recurrence.frequency is Frequency.DAILY:
        return f"0 {minute} {hour} * * *"
    if recurrence.frequency is Frequency.WEEKLY:
        assert recurrence.days_of_week
        days = ",".join(str(day.ncrontab) for day in sorted(recurrence.days_of_week, key=lambda d: d.ncrontab))
        return f"0 {minute} {hour} * * {days}"
    assert recurrence.day_of_month is not None
    return f"0 {minute} {hour} {recurrence.day_of_month} * *"


def check_expression(expression: str) -> None:
    """Refuses what NCRONTAB does not read (croniter's extensions too: L, W, #, ?, H), naming the field."""
    where = "recurrence.expression"
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise refused(where, f"an NCRONTAB expression has six fields, {FIELD_TEXT}; {expression!r} has {len(parts)}")
    for name, text in zip(FIELDS, parts, strict=True):
        low, high = _RANGES[name]
        for item in text.split(","):
            match = _ITEM.match(item)
            if match is None:
                raise refused(where, f"the {name} field {text!r} is not a number, a range, a list, a step or *")
            _, first, last, step = match.groups()
            for value in (first, last):
                if value is None:
                    continue
                number = _NAMES.get(name, {}).get(value.lower()) if not value.isdigit() else int(value)
                if number is None:
                    raise refused(where, f"the {name} field {text!r} has {value!r}, which is not a {name}")
                if not low <= number <= high:
                    raise refused(where, f"the {name} field {text!r} has {value}, outside {low} to {high}")
            if step is not None and int(step) == 0:
                raise refused(where, f"the {name} field {text!r} has a step of 0")
    try:
        croniter(expression, datetime(2000, 1, 1), second_at_beginning=True, day_or=False)
    except CroniterError as error:
        raise refused(where, f"{expression!r} cannot be read: {error}") from None


@dataclass(frozen=True)
class Gap:
    """Local wall times a zone skips: from `start` (inclusive) to `end` (exclusive), naive local times."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Timetable:
    """A recurrence's runs as UTC instants."""

    expression: str
    zone: ZoneInfo

    @classmethod
    def of(cls, recurrence: Recurrence) -> Timetable:
        return cls(ncrontab(recurrence), ZoneInfo(recurrence.time_zone))

    def _walk(self, start: datetime) -> Any:
        # NCRONTAB needs both day fields to match (no Vixie-cron OR), as Azure Functions reads it.
        return croniter(self.expression, start, second_at_beginning=True, day_or=False)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def instant(self, local: datetime) -> datetime:
        """The instant of a local wall time; fold=0 is the first of an ambiguous time."""
        return local.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run whose instant is after `moment`; None if the expression never runs again."""
        walk = self._walk(self.local(moment) - MARGIN)
        best: datetime | None = None
        until: datetime | None = None
        # Instants are not strictly in local order around an offset change: look a margin past the first hit.
        for local in _occurrences(walk, forward=True):
            if until is not None and local > until:
                break
            at = self.instant(local)
            if at > moment:
                best = at if best is None else min(best, at)
                until = until or local + MARGIN
        return best

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last run whose instant is at or before `moment`; None if there was none."""
        walk = self._walk(self.local(moment) + MARGIN)
        best: datetime | None = None
        until: datetime | None = None
        for local in _occurrences(walk, forward=False):
            if until is not None and local < until:
                break
            at = self.instant(local)
            if at <= moment:
                best = at if best is None else max(best, at)
                until = until or local - MARGIN
        return best

    def check(self, now: datetime, *, field: str = "recurrence") -> None:
        """Refuses a timetable that never runs, runs more than once an hour, or names a time a DST gap skips
        on a day it would run, within the next five years. Raises ValidationFailed saying why."""
        start = self.local(now)
        walk = self._walk(start)
        previous: datetime | None = None
        for count, local in enumerate(_occurrences(walk, forward=True)):
            if previous is not None and local - previous < MIN_INTERVAL:
                raise refused(field, f"it runs more than once an hour ({previous:%Y-%m-%d %H:%M:%S} and then "
                                     f"{local:%H:%M:%S}); a schedule runs at most once an hour")
            previous = local
            if count >= CHECKED_RUNS or local - start > HORIZON:
                break
        if previous is None:
            raise refused(field, "it never runs: no date matches it")
        for gap in zone_gaps(self.zone, now, now + HORIZON):
            skipped = next(_occurrences(self._walk(gap.start - timedelta(seconds=1)), forward=True), None)
            if skipped is not None and skipped < gap.end:
                shown = f"{skipped:%H:%M}" if skipped.second == 0 else f"{skipped:%H:%M:%S}"
                raise refused(field, f"{shown} does not exist in {self.zone.key} on {skipped:%Y-%m-%d} (clocks go "
                                     f"from {gap.start:%H:%M} to {gap.end:%H:%M}); choose another time")


def _occurrences(walk: Any, *, forward: bool) -> Iterator[datetime]:
    """Local wall times from croniter, until it finds no more (a date no month has, say)."""
    while True:
        try:
            found = walk.get_next(datetime) if forward else walk.get_prev(datetime)
        except CroniterBadDateError:
            return
        assert isinstance(found, datetime)
        yield found


def zone_gaps(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Gap]:
    """The spring-forward gaps of `zone` between two instants: days are scanned for a change of offset, and
    each change is narrowed to the second."""
    day = timedelta(days=1)
    moment = start.astimezone(UTC)
    offset = _offset(zone, moment)
    while moment < end:
        later = moment + day
        later_offset = _offset(zone, later)
        if later_offset != offset:
            low, high = moment, later
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset(zone, middle) == offset:
                    low = middle
                else:
                    high = middle
            change = high.replace(microsecond=0)
            if later_offset > offset:
                wall = change.replace(tzinfo=None)
                yield Gap(start=wall + offset, end=wall + later_offset)
        moment, offset = later, later_offset


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    found = moment.astimezone(zone).utcoffset()
    assert found is not None
    return found
