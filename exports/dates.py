"""Dates and times in requests: strict ISO 8601, the export's time zone, and one rule for what a bare date means.

A value is either an instant (a date-time) or a bare date. Every export has a time zone (an IANA name,
`UTC` unless the request says otherwise), and a bare date is that zone's whole day: from its first
local midnight up to the next day's, as instants, so 23 or 25 hours long on a daylight-saving day. The
rule is the same whatever the operator: `equals` is within the day, `notEquals` outside it,
`before`/`lessThan` before it starts, `after`/`greaterThan` after it ends, `lessThanOrEqual` up to its
end and `greaterThanOrEqual` from its start. The case `dateRange` is `greaterThanOrEqual` its start and
`lessThanOrEqual` its end, so both datasets read a date the same way.

A date-time with an offset is that instant. One without an offset is a wall-clock time in the export's
zone; a wall-clock time the zone skips (the spring gap) or shows twice (the autumn overlap) is refused
rather than guessed, with the offsets that would make it exact.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

# Calendar dates only (extended 2024-06-01 or basic 20240601), optionally with a time of day in the
# same form and an offset (RFC 3339's lower-case t and z, and a space for the T, are accepted too).
# Week and ordinal dates, bare numbers and more than microseconds are refused: a number is never read
# as Unix seconds, and no digit is dropped silently.
_EXTENDED = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<z>[Zz]|[+-]\d{2}:\d{2})?)?"
)
_BASIC = re.compile(
    r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2})(?P<mi>\d{2})(?:(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<z>[Zz]|[+-]\d{4})?)?"
)
EXPECTED = (
    "an ISO 8601 date (2024-06-01 or 20240601) or date-time (2024-06-01T09:30:00Z, "
    "2024-06-01T11:30:00+02:00; at most 6 decimals of a second)"
)


class LocalTimeError(ValueError):
    """A wall-clock time the export's zone skips or shows twice: refused with the offsets that are exact."""


def parse_moment(text: str, *, offset_required: bool = False, zone: tzinfo | None = UTC) -> date | datetime:
    """A bare date, or a date-time with its offset; a date-time without an offset is wall-clock time in `zone`.

    `zone` is the export's zone (UTC by default); with None, a date-time without an offset is returned
    naive, for the caller to read in a zone it learns later (`local_instant`). With `offset_required`,
    a date-time without an offset, or with RFC 3339's "offset unknown" (`-00:00`), is refused instead:
    for values people typed, where any zone would be a guess.
    """
    found = _EXTENDED.fullmatch(text) or _BASIC.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not {EXPECTED}")
    parts = found.groupdict()
    if offset_required and parts["h"] is not None and parts["z"] in (None, "-00:00", "-0000"):
        raise ValueError(f"{text!r} has no offset from UTC")
    try:
        day = date(int(parts["y"]), int(parts["mo"]), int(parts["d"]))
        if parts["h"] is None:
            return day
        wall = datetime.combine(
            day, time(int(parts["h"]), int(parts["mi"]), int(parts["s"] or 0), int((parts["f"] or "0").ljust(6, "0")))
        )
        if parts["z"] is None:
            if zone is None:
                return wall
            return local_instant(wall, zone, text)
        moment = wall.replace(tzinfo=_zone(parts["z"]))
        moment.astimezone(UTC)  # refused here rather than when it is compared or sent to storage
    except LocalTimeError:
        raise
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a valid date or time") from None
    return moment


def local_instant(wall: datetime, zone: tzinfo, text: str | None = None) -> datetime:
    """The instant a wall-clock time (naive) names in `zone`, with that instant's offset as its zone.

    A time the zone skips (clocks go forward) or shows twice (clocks go back) names no single instant:
    it is refused, not moved or picked, and the message gives the offsets that would make it exact.
    """
    shown = text if text is not None else wall.isoformat()
    if zone is UTC:
        moment = wall.replace(tzinfo=UTC)
    else:
        first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
        offset, other = first.utcoffset(), second.utcoffset()
        assert offset is not None and other is not None
        if offset != other:
            candidates = " or ".join(
                wall.replace(tzinfo=timezone(choice)).isoformat() for choice in sorted({offset, other}, reverse=True)
            )
            if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
                happens = "happens twice (the clocks go back)"
            else:
                happens = "does not exist (the clocks skip it)"
            raise LocalTimeError(
                f"{shown!r} has no offset and {happens} in {zone}; give the offset you mean: {candidates}"
            )
        moment = wall.replace(tzinfo=timezone(offset))
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{shown!r} is not a valid date or time") from None
    return moment


ZONE_EXPECTED = "an IANA time zone name such as Europe/Paris, America/New_York or UTC"


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every zone the tzdata package holds, by its name folded to lower case (to point out a mere case slip)."""
    listing = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return {name.casefold(): name for name in (line.strip() for line in listing.splitlines()) if name}


@functools.lru_cache(maxsize=64)
def zone_named(name: str) -> tzinfo:
    """The IANA zone `name` (case as in the database), with its rules from the tzdata package the app ships.

    The host's zone files are not read: the rules are the pinned ones wherever the app runs, so an export
    gives the same file on every worker. `UTC` is `datetime.UTC`, which the writers keep writing as `Z`.
    """
    known = _zone_names()
    if known.get(name.casefold()) != name:
        hint = known.get(name.casefold())
        if hint is not None:
            raise ValueError(f"unknown time zone {name!r}: zone names are case-sensitive, did you mean {hint!r}?")
        raise ValueError(f"unknown time zone {name!r}: expected {ZONE_EXPECTED}")
    if name == "UTC":
        return UTC
    with importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as rules:
        return ZoneInfo.from_file(rules, key=name)


def _zone(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def as_moment(value: object) -> date | datetime:
    """A request value: ISO 8601 text only (numbers are refused, not read as Unix seconds).

    A date-time without an offset stays naive: the request reads it in its own zone (`local_instant`).
    """
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return parse_moment(value, zone=None)
    if isinstance(value, bool) or value is None:
        kind = str(value).lower() if value is not None else "null"
    else:
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
    raise ValueError(f"must be a string holding {EXPECTED}, not {kind}")


@dataclass(frozen=True)
class Span:
    """What a value covers: one instant [start, start], or a whole day of the export's zone [start, end)."""

    start: datetime
    # The next day's first instant for a day (None when no time there is is later); the instant itself otherwise.
    end: datetime | None
    whole_day: bool

    @classmethod
    def of(cls, value: date | datetime, zone: tzinfo = UTC) -> Span:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return cls(moment, moment, whole_day=False)
        start = _day_start(value, zone)
        if value < date.max:
            end = _day_start(value + timedelta(days=1), zone)
        else:
            # The day after 9999-12-31 has no date; east of UTC its start is still a time there is.
            try:
                end = start + timedelta(days=1)
            except OverflowError:
                end = None
        return cls(start, end, whole_day=True)

    def up_to_end(self, moment: datetime) -> bool:
        if self.end is None:
            return True
        return moment < self.end if self.whole_day else moment <= self.end


# Every time there is is at or after this: a day that starts earlier (0001-01-01 east of UTC) starts here.
_FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)


def _day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of `day` in `zone`, in UTC: its local midnight.

    Where the clocks skip midnight (a daylight-saving start at 00:00), fold 0 reads the missing midnight
    with the offset before the change, which is the instant of the change: the first time the day has.
    Where midnight happens twice, fold 0 is its first occurrence.
    """
    try:
        return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return _FIRST_INSTANT


@functools.lru_cache(maxsize=256)
def _span(value: date | datetime, zone: tzinfo) -> Span:
    return Span.of(value, zone)  # a filter's value is compared with every row: worked out once


# Operator names as the ticket filters spell them (FilterOperator values).
EQUALS = "equals"
NOT_EQUALS = "notEquals"
BEFORE = "before"
AFTER = "after"
LESS_THAN = "lessThan"
GREATER_THAN = "greaterThan"
LESS_OR_EQUAL = "lessThanOrEqual"
GREATER_OR_EQUAL = "greaterThanOrEqual"


def holds(operator: str, value: date | datetime, moment: object, zone: tzinfo = UTC) -> bool:
    """Whether a stored time satisfies `operator value` (a bare date: `zone`'s day); a missing or non-time
    value never does."""
    if not isinstance(moment, datetime):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    span = _span(value, zone)
    if operator == EQUALS:
        return span.start <= moment and span.up_to_end(moment)
    if operator == NOT_EQUALS:
        return not (span.start <= moment and span.up_to_end(moment))
    if operator in (BEFORE, LESS_THAN):
        return moment < span.start
    if operator in (AFTER, GREATER_THAN):
        return not span.up_to_end(moment)
    if operator == LESS_OR_EQUAL:
        return span.up_to_end(moment)
    if operator == GREATER_OR_EQUAL:
        return moment >= span.start
    raise ValueError(f"{operator} does not compare times")


# A comparison Table storage evaluates the same way: ("ge", 2024-06-01T00:00Z) and so on.
ComparisonOp = Literal["eq", "gt", "ge", "lt", "le"]
Comparison = tuple[ComparisonOp, datetime]
# Table storage keeps times from 1601-01-01 UTC on: "ge" this is true of every stored time.
STORED_TIMES_START = datetime(1601, 1, 1, tzinfo=UTC)


def comparisons(operator: str, value: date | datetime, zone: tzinfo = UTC) -> tuple[Comparison, ...] | None:
    """`operator value` as comparisons that are all true exactly when `holds` is, for a stored row.

    None when it is not one AND of comparisons (`notEquals`, after 9999-12-31): the worker alone
    evaluates it then.
    """
    found = _comparisons(operator, value, zone)
    return None if found is None else tuple(_storable(op, bound) for op, bound in found)


def _storable(op: ComparisonOp, bound: datetime) -> Comparison:
    """A bound before 1601 as one Table storage can read (the SDK writes year 1 as `1-01-01`), same meaning."""
    if bound >= STORED_TIMES_START:
        return op, bound
    # Every stored time is later than such a bound: "after it" is every time, "up to it" none.
    return ("ge" if op in ("gt", "ge") else "lt"), STORED_TIMES_START


def _comparisons(operator: str, value: date | datetime, zone: tzinfo) -> tuple[Comparison, ...] | None:
    span = Span.of(value, zone)
    if operator == NOT_EQUALS:
        return None
    if operator in (BEFORE, LESS_THAN):
        return (("lt", span.start),)
    if operator == GREATER_OR_EQUAL:
        return (("ge", span.start),)
    if not span.whole_day:
        single: dict[str, ComparisonOp] = {EQUALS: "eq", AFTER: "gt", GREATER_THAN: "gt", LESS_OR_EQUAL: "le"}
        if operator not in single:
            raise ValueError(f"{operator} does not compare times")
        return ((single[operator], span.start),)
    end = span.end
    if operator == EQUALS:
        return (("ge", span.start), ("lt", end)) if end else (("ge", span.start),)
    if operator in (AFTER, GREATER_THAN):
        return (("ge", end),) if end else None
    if operator == LESS_OR_EQUAL:
        # Through 9999-12-31 is every time there is, but still not a missing value.
        return (("lt", end),) if end else (("ge", STORED_TIMES_START),)
    raise ValueError(f"{operator} does not compare times")
