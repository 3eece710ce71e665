"""The per-row type check: exact types pass at once, subclasses by the old rules, anything else is exported as
its text and counted as a warning (where, and which type was found instead of which) — never the value itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from enum import IntEnum, StrEnum

import pytest

from exports.datasets.columns import CellWarnings, DataType, RowChecker, as_text
from exports.models import WARNING_SAMPLES, CellWarning


class Severity(IntEnum):
    LOW = 1


class Colour(StrEnum):
    RED = "red"


COLUMNS = [(0, DataType.INTEGER, "count"), (1, DataType.DATE, "due"), (2, DataType.NUMBER, "amount")]


def check(row: list[object], key: str = "0001") -> tuple[list[object], CellWarnings]:
    warnings = CellWarnings()
    RowChecker(COLUMNS, warnings=warnings)(row, key)
    return row, warnings


@pytest.mark.parametrize(
    "row",
    [
        [3, date(2024, 2, 29), 1.5],
        [None, None, None],
        [Severity.LOW, datetime(2024, 2, 29, tzinfo=UTC), 7],  # an int subclass, a datetime as a date, an int
    ],
)
def test_values_of_their_columns_type_pass_unchanged(row: list[object]) -> None:
    checked, warnings = check([*row, "a column nobody checks"])
    assert checked == [*row, "a column nobody checks"]
    assert warnings.count == 0 and warnings.samples == []


def test_a_boolean_is_not_an_integer_so_it_is_exported_as_text_with_a_warning() -> None:
    row, warnings = check([True, None, None], "0042")
    assert row == ["true", None, None]
    assert warnings.count == 1
    assert warnings.samples == [CellWarning(record="0042", column="count", found="boolean", expected="integer")]


def test_text_in_a_number_column_stays_the_text_it_was() -> None:
    row, warnings = check([1, None, "12.5"], "7")
    assert row == [1, None, "12.5"]
    assert warnings.samples == [CellWarning(record="7", column="amount", found="text", expected="number")]


def test_every_wrong_cell_of_a_row_is_counted() -> None:
    row, warnings = check(["three", "last tuesday", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], "9")
    assert row == ["three", "last tuesday", "2024-01-02T03:04:05+00:00"]
    found = [(w.column, w.found) for w in warnings.samples]
    assert found == [("count", "text"), ("due", "text"), ("amount", "datetime")]


def test_a_warning_never_holds_the_value_itself() -> None:
    _, warnings = check(["secret salary 120000", None, None])
    assert "secret" not in warnings.samples[0].model_dump_json()


def test_the_count_goes_on_but_only_the_first_samples_are_kept() -> None:
    warnings = CellWarnings()
    checker = RowChecker(COLUMNS, warnings=warnings)
    for number in range(25):
        checker([f"n{number}", None, None], f"{number:04d}")
    assert warnings.count == 25
    assert [sample.record for sample in warnings.samples] == [f"{n:04d}" for n in range(WARNING_SAMPLES)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("as it is", "as it is"),
        ("", ""),
        (Colour.RED, "red"),
        (True, "true"),
        (False, "false"),
        (12, "12"),
        (Severity.LOW, "1"),
        (-(2**70), "-1180591620717411303424"),
        (0.1, "0.1"),
        (1e20, "1e+20"),
        (float("nan"), "nan"),
        (datetime(2024, 2, 29, 23, 59, 59, 5, tzinfo=timezone(timedelta(hours=2))), "2024-02-29T23:59:59.000005+02:00"),
        (date(2024, 2, 29), "2024-02-29"),
        (b"\x00\xffbin", "AP9iaW4="),
        ({"b": 1, "a": [True, None]}, '{"b":1,"a":[true,null]}'),
        (object, "<class 'object'>"),
    ],
)
def test_the_text_of_a_value_is_deterministic(value: object, text: str) -> None:
    assert as_text(value) == text
    assert type(as_text(value)) is str
