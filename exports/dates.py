"""Dates and times in requests: strict ISO 8601, and one rule for what a bare date means.

A value is either an instant (a date-time) or a bare date. A bare date is the whole day in UTC,
[00:00, next day's 00:00), whatever the operator: `equals` is within the day, `notEquals` outside
it, `before`/`lessThan` before it starts, `after`/`greaterThan` after it ends, `lessThanOrEqual` up
to its end and `greaterThanOrEqual` from its start. The case `dateRange` is `greaterThanOrEqual`
its start and `lessThanOrEqual` its end, so both datasets read a date the same way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal

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


def parse_moment(text: str, *, offset_required: bool = False) -> date | datetime:
    """A bare date, or a date-time with its offset; a date-time without an offset is UTC.

    With `offset_required`, a date-time without an offset, or with RFC 3339's "offset unknown"
    (`-00:00`), is refused instead: for values people typed, where UTC would be a guess.
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
        zone = _zone(parts["z"])
        moment = datetime.combine(
            day,
            time(int(parts["h"]), int(parts["mi"]), int(parts["s"] or 0), int((parts["f"] or "0").ljust(6, "0"))),
            tzinfo=zone,
        )
        moment.astimezone(UTC)  # refused here rather than when it is compared or sent to storage
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a valid date or time") from None
    return moment


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
    """A request value: ISO 8601 text only (numbers are refused, not read as Unix seconds)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return parse_moment(value)
    if isinstance(value, bool) or value is None:
        kind = str(value).lower() if value is not None else "null"
    else:
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
    raise ValueError(f"must be a string holding {EXPECTED}, not {kind}")


@dataclass(frozen=True)
class Span:
    """What a value covers: one instant [start, start], or a whole UTC day [start, end)."""

    start: datetime
    # The next day's midnight for a day (None after 9999-12-31: nothing is later); the instant itself otherwise.
    end: datetime | None
    whole_day: bool

    @classmethod
    def of(cls, value: date | datetime) -> Span:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return cls(moment, moment, whole_day=False)
        start = datetime.combine(value, time.min, tzinfo=UTC)
        end = datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC) if value < date.max else None
        return cls(start, end, whole_day=True)

    def up_to_end(self, moment: datetime) -> bool:
        if self.end is None:
            return True
        return moment < self.end if self.whole_day else moment <= self.end


@functools.lru_cache(maxsize=256)
def _span(value: date | datetime) -> Span:
    return Span.of(value)  # a filter's value is compared with every row: worked out once


# Operator names as the ticket filters spell them (FilterOperator values).
EQUALS = "equals"
NOT_EQUALS = "notEquals"
BEFORE = "before"
AFTER = "after"
LESS_THAN = "lessThan"
GREATER_THAN = "greaterThan"
LESS_OR_EQUAL = "lessThanOrEqual"
GREATER_OR_EQUAL = "greaterThanOrEqual"


def holds(operator: str, value: date | datetime, moment: object) -> bool:
    """Whether a stored time satisfies `operator value`; a missing or non-time value never does."""
    if not isinstance(moment, datetime):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    span = _span(value)
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


def comparisons(operator: str, value: date | datetime) -> tuple[Comparison, ...] | None:
    """`operator value` as comparisons that are all true exactly when `holds` is, for a stored row.

    None when it is not one AND of comparisons (`notEquals`, after 9999-12-31): the worker alone
    evaluates it then.
    """
    found = _comparisons(operator, value)
    return None if found is None else tuple(_storable(op, bound) for op, bound in found)


def _storable(op: ComparisonOp, bound: datetime) -> Comparison:
    """A bound before 1601 as one Table storage can read (the SDK writes year 1 as `1-01-01`), same meaning."""
    if bound >= STORED_TIMES_START:
        return op, bound
    # Every stored time is later than such a bound: "after it" is every time, "up to it" none.
    return ("ge" if op in ("gt", "ge") else "lt"), STORED_TIMES_START


def _comparisons(operator: str, value: date | datetime) -> tuple[Comparison, ...] | None:
    span = Span.of(value)
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
