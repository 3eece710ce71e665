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
