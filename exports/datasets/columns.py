"""Column definitions and the computations every dataset shares."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shared.errors import ExportFailed

SECONDS_PER_DAY = 86_400


class DataType(StrEnum):
    """The seed's ExportDataType plus the integer and timestamp types the core columns need."""

    TEXT = "TEXT"
    NUMBER = "NUMBER"
    INTEGER = "INTEGER"
    DATE = "DATE"
    DATETIME = "DATETIME"
    BOOLEAN = "BOOLEAN"
    CURRENCY = "CURRENCY"
    PERCENTAGE = "PERCENTAGE"


def whole_days(start: Any, end: Any) -> int | None:
    """Whole days from start to end, never negative: days open, days to complete, everywhere."""
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return max(0, int((end - start).total_seconds() // SECONDS_PER_DAY))


EXPECTED_TYPES: dict[DataType, tuple[type, ...]] = {
    DataType.TEXT: (str,),
    DataType.INTEGER: (int,),
    DataType.NUMBER: (int, float),
    DataType.CURRENCY: (int, float),
    DataType.PERCENTAGE: (int, float),
    DataType.DATETIME: (datetime,),
    DataType.DATE: (date,),
    DataType.BOOLEAN: (bool,),
}


# The exact types a column's values usually have: one set lookup per cell instead of isinstance checks
# (issue 6: per-cell checks were a quarter of the export's CPU). Anything else takes `check_cell`.
EXACT_TYPES: dict[DataType, frozenset[type]] = {
    DataType.TEXT: frozenset({str}),
    DataType.INTEGER: frozenset({int}),
    DataType.NUMBER: frozenset({int, float}),
    DataType.CURRENCY: frozenset({int, float}),
    DataType.PERCENTAGE: frozenset({int, float}),
    DataType.DATETIME: frozenset({datetime}),
    DataType.DATE: frozenset({date, datetime}),
    DataType.BOOLEAN: frozenset({bool}),
}
_NONE = type(None)


class RowChecker:
    """Checks a whole row against its columns' types; the rules are `check_cell`'s, only faster."""

    __slots__ = ("_checks", "_record")

    def __init__(self, columns: list[tuple[int, DataType, str]], *, record: str) -> None:
        # (position, accepted exact types with None, type, column name) for every checked column.
        self._checks = [(index, EXACT_TYPES[dtype] | {_NONE}, dtype, name) for index, dtype, name in columns]
        self._record = record

    def __call__(self, row: list[Any], key: Any) -> None:
        for index, accepted, dtype, name in self._checks:
            value = row[index]
            if type(value) not in accepted:
                check_cell(value, dtype, name, record=f"{self._record} {key}", key=key)


def check_cell(value: Any, dtype: DataType, column: str, *, record: str, key: Any) -> None:
    """A source value of the wrong type fails the export with a readable reason, never a wrong file."""
    if value is None:
        return
    # bool is an int in Python; only let it through where a boolean is expected.
    if not isinstance(value, EXPECTED_TYPES.get(dtype, (object,))) or (
        isinstance(value, bool) and dtype is not DataType.BOOLEAN
    ):
        raise ExportFailed(
            f"{record} has a {type(value).__name__} in column {column}, which holds "
            f"{dtype.value.lower()} values; fix the record and retry.",
            details={"row": key, "column": column},
        )
