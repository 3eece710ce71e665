"""Column definitions shared by every dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exports.models import ColumnSpec


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
CellBuilder = Callable[[Entity, Any], Any]


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
    def read(entity: Entity, _as_of: Any) -> Any:
        return entity.get(name)

    return read


def column(name: str, label: str, data_type: DataType, source: str) -> Column:
    """A column copied from one source property."""
    return Column(name, label, data_type, prop(source), (source,))
