"""Dates in requests: strict ISO 8601 text, and one rule for what a bare date means (the whole UTC day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from exports import dates

OPERATORS = [
    "equals",
    "notEquals",
    "before",
    "lessThan",
    "after",
    "greaterThan",
    "lessThanOrEqual",
    "greaterThanOrEqual",
]
# The edges of 2024-06-01: the last instant before it, its first and last, and the next day's first.
BEFORE_START = datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)
START = datetime(2024, 6, 1, tzinfo=UTC)
LAST = datetime(2024, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)
NEXT_DAY = datetime(2024, 6, 2, tzinfo=UTC)
EDGES = [BEFORE_START, START, LAST, NEXT_DAY]


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-06-01", date(2024, 6, 1)),
            ("20240601", date(2024, 6, 1)),
            ("2024-06-01T09:30:00Z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("2024-06-01T09:30Z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("2024-06-01 09:30:00.5Z", datetime(2024, 6, 1, 9, 30, 0, 500000, tzinfo=UTC)),
            ("2024-06-01T09:30:00.123456+00:00", datetime(2024, 6, 1, 9, 30, 0, 123456, tzinfo=UTC)),
            ("20240601T093000Z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("20240601T1130+0200", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("2024-06-01T00:00:00Z", datetime(2024, 6, 1, tzinfo=UTC)),
            ("2024-06-01t09:30:00z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),  # RFC 3339 allows lower case
        ],
    )
    def test_iso_8601_dates_and_date_times_are_read_as_written(self, text: str, expected: date) -> None:
        parsed = dates.parse_moment(text)
        assert parsed == expected and type(parsed) is type(expected)

    def test_a_date_time_keeps_its_offset_and_one_without_an_offset_is_utc(self) -> None:
        assert dates.parse_moment("2024-06-01T11:30:00+02:00") == datetime(
            2024, 6, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))
        )
        assert dates.parse_moment("2024-06-01T09:30:00") == datetime(2024, 6, 1, 9, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text",
        [
            "1717200000",  # Unix seconds
            "0",
            "86400",
            "2024",
            "202406",
            "2024-06",
            "2024-W22-6",  # week date
            "2024-153",  # ordinal date
            "2024-06-01T09:30:00.1234567Z",  # more than microseconds would be dropped
            "2024-06-01T24:00:00Z",
            "2024-13-01",
            "2024-02-30",
            "2024-06-01T09:30:00+24:00",
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "2024-06-01T09",
            "2024-0601",
            "01/06/2024",
            " 2024-06-01",
            "2024-06-01 ",
            "yesterday",
            "",
        ],
    )
    def test_anything_else_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="is not"):
            dates.parse_moment(text)

    @pytest.mark.parametrize("value", [0, 86400, 20240601, 1.5, True, None, ["2024-06-01"]])
    def test_a_request_value_that_is_not_text_is_refused(self, value: object) -> None:
        with pytest.raises(ValueError, match="must be a string holding an ISO 8601 date"):
            dates.as_moment(value)


class TestTheDayRule:
    @pytest.mark.parametrize(
        ("operator", "expected"),
        [
            ("equals", [False, True, True, False]),
            ("notEquals", [True, False, False, True]),
            ("before", [True, False, False, False]),
            ("lessThan", [True, False, False, False]),
            ("after", [False, False, False, True]),
            ("greaterThan", [False, False, False, True]),
            ("lessThanOrEqual", [True, True, True, False]),
            ("greaterThanOrEqual", [False, True, True, True]),
        ],
    )
    def test_a_bare_date_is_the_whole_utc_day_for_every_operator(self, operator: str, expected: list[bool]) -> None:
        assert [dates.holds(operator, date(2024, 6, 1), edge) for edge in EDGES] == expected

    @pytest.mark.parametrize(
        ("operator", "expected"),
        [
            ("equals", [False, True, False, False]),
            ("notEquals", [True, False, True, True]),
            ("before", [True, False, False, False]),
            ("after", [False, False, True, True]),
            ("lessThanOrEqual", [True, True, False, False]),
            ("greaterThanOrEqual", [False, True, True, True]),
        ],
    )
    def test_a_date_time_is_that_instant(self, operator: str, expected: list[bool]) -> None:
        assert [dates.holds(operator, START, edge) for edge in EDGES] == expected

    @pytest.mark.parametrize("operator", OPERATORS)
    @pytest.mark.parametrize("value", [date(2024, 6, 1), START, LAST, date(9999, 12, 31), date(1, 1, 1)])
    def test_the_comparisons_sent_to_storage_select_exactly_what_the_rule_selects(
        self, operator: str, value: date
    ) -> None:
        found = dates.comparisons(operator, value)
        if found is None:
            return  # evaluated by the worker only
        compare = {
            "eq": lambda a, b: a == b,
            "gt": lambda a, b: a > b,
            "ge": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "le": lambda a, b: a <= b,
        }
        stored = [*EDGES, datetime(1601, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
        for moment in stored:
            assert all(compare[op](moment, bound) for op, bound in found) == dates.holds(operator, value, moment), (
                operator,
                value,
                moment,
            )

    def test_the_last_day_there_is_still_covers_its_end(self) -> None:
        last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        assert dates.holds("lessThanOrEqual", date(9999, 12, 31), last)
        assert not dates.holds("after", date(9999, 12, 31), last)
        assert dates.comparisons("after", date(9999, 12, 31)) is None

    @pytest.mark.parametrize("operator", OPERATORS)
    def test_a_missing_or_broken_stored_value_matches_no_comparison(self, operator: str) -> None:
        for stored in (None, "", "2024-06-01", 20240601):
            assert not dates.holds(operator, date(2024, 6, 1), stored)


def test_a_bound_before_the_first_time_table_storage_keeps_is_sent_as_one_it_can_read() -> None:
    first = datetime(1601, 1, 1, tzinfo=UTC)
    assert dates.comparisons("greaterThanOrEqual", date(1, 1, 1)) == (("ge", first),)
    assert dates.comparisons("after", date(1500, 1, 1)) == (("ge", first),)
    assert dates.comparisons("lessThanOrEqual", date(1, 1, 1)) == (("lt", first),)
    assert dates.comparisons("equals", datetime(1, 1, 1, tzinfo=UTC)) == (("lt", first),)
