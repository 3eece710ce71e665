"""Column definitions and the computations every dataset shares."""

from __future__ import annotations

import base64
import contextlib
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import orjson

from exports.models import WARNING_SAMPLES, CellWarning

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
# (per-cell checks were a quarter of the export's CPU). Anything else takes `fits`.
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


class CellWarnings:
    """The cells one batch exported as text because their source value had the wrong type, and the
    custom-field containers it could not read (see `note`).

    The batch's count and its first samples are saved with the batch's step, in the same ETag update, so a
    batch that runs again (a crash, a re-delivered message) starts from a fresh collector and counts once.
    """

    __slots__ = ("count", "samples")

    def __init__(self) -> None:
        self.count = 0
        self.samples: list[CellWarning] = []

    def add(self, record: Any, column: str, found: Any, expected: DataType) -> None:
        self.note(record, column, type_name(found), expected.value.lower())

    def note(self, record: Any, column: str, found: str, expected: str) -> None:
        """A warning already put in words: a custom-field container that is not a JSON object, say."""
        self.count += 1
        if len(self.samples) < WARNING_SAMPLES:
            self.samples.append(CellWarning(record=str(record), column=column, found=found, expected=expected))


class RowChecker:
    """Checks a whole row against its columns' types; the rules are `fits`', only faster.

    A value of the wrong type is replaced, in the row, by its text (`as_text`) and recorded in `warnings`.
    """

    __slots__ = ("_checks", "warnings")

    def __init__(self, columns: list[tuple[int, DataType, str]], *, warnings: CellWarnings | None = None) -> None:
        # (position, accepted exact types with None, type, column name) for every checked column.
        self._checks = [(index, EXACT_TYPES[dtype] | {_NONE}, dtype, name) for index, dtype, name in columns]
        self.warnings = CellWarnings() if warnings is None else warnings

    def __call__(self, row: list[Any], key: Any) -> None:
        for index, accepted, dtype, name in self._checks:
            value = row[index]
            if type(value) not in accepted and not fits(value, dtype):
                row[index] = as_text(value)
                self.warnings.add(key, name, value, dtype)


def fits(value: Any, dtype: DataType) -> bool:
    """Whether a source value has its column's type (subclasses too; a bool is only a boolean)."""
    if value is None:
        return True
    if isinstance(value, bool) and dtype is not DataType.BOOLEAN:
        return False
    return isinstance(value, EXPECTED_TYPES.get(dtype, (object,)))


def as_text(value: Any) -> str:
    """The text a wrong-typed source value is exported as: deterministic, and the value exactly.

    Text as it is; booleans `true`/`false`; integers in digits; floats as the shortest text that reads back
    as the same number (`0.1`, `1e+20`, `nan`); dates and times in ISO 8601 as stored (`isoformat`);
    binary as base64; a list or object as its JSON text; anything else as `str()`.
    """
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict | list):
        with contextlib.suppress(TypeError):
            return orjson.dumps(value).decode()
    return str(value)


def type_name(value: Any) -> str:
    """A value's type as a person reads it: what the job view says was found instead of the column's type."""
    for cls, name in _TYPE_NAMES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (str, "text"),
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (datetime, "datetime"),
    (date, "date"),
    (bytes, "binary"),
    (bytearray, "binary"),
    (dict, "object"),
    (list, "list"),
)
