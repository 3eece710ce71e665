"""The per-row type check: exact types pass at once, subclasses by the old rules, anything else fails readably."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum

import pytest

from exports.datasets.columns import DataType, RowChecker
from shared.errors import ExportFailed


class Severity(IntEnum):
    LOW = 1


CHECK = RowChecker(
    [(0, DataType.INTEGER, "count"), (1, DataType.DATE, "due"), (2, DataType.NUMBER, "amount")],
    record="Source record",
)


@pytest.mark.parametrize(
    "row",
    [
        [3, date(2024, 2, 29), 1.5],
        [None, None, None],
        [Severity.LOW, datetime(2024, 2, 29, tzinfo=UTC), 7],  # an int subclass, a datetime as a date, an int
    ],
)
def test_values_of_their_columns_type_pass(row: list[object]) -> None:
    CHECK([*row, "a column nobody checks"], "0001")


def test_a_boolean_is_not_an_integer() -> None:
    with pytest.raises(ExportFailed) as failure:
        CHECK([True, None, None], "0042")
    assert failure.value.message == (
        "Source record 0042 has a bool in column count, which holds integer values; fix the record and retry."
    )
    assert failure.value.details == {"row": "0042", "column": "count"}


def test_text_in_a_number_column_fails_the_row() -> None:
    with pytest.raises(ExportFailed, match="Source record 7 has a str in column amount, which holds number values"):
        CHECK([1, None, "12.5"], "7")
