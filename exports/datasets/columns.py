"""Column definitions and the computations every dataset shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from exports.models import ColumnSpec

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


Entity = dict[str, Any]
# Builds one cell from a source entity and the export's as-of time (the job's creation time), so that
# computed columns come out the same whichever batch or retry computes them.
CellBuilder = Callable[[Entity, datetime], Any]


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    data_type: DataType
    build: CellBuilder
    source_properties: tuple[str, ...]
    format_pattern: str | None = None

    def spec(self) -> ColumnSpec:
        return ColumnSpec(
            name=self.name, label=self.label, data_type=self.data_type.value, format_pattern=self.format_pattern
        )


def prop(name: str) -> CellBuilder:
    def read(entity: Entity, _as_of: datetime) -> Any:
        return entity.get(name)

    return read


def column(name: str, label: str, data_type: DataType, source: str) -> Column:
    """A column copied from one source property."""
    return Column(name, label, data_type, prop(source), (source,))


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
