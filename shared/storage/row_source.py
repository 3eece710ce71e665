"""Source rows from Table storage: one organization is one partition, read as a RowKey range scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from azure.data.tables import EntityProperty, TableServiceClient

from exports.ports import Condition, SourceQuery

PAGE_SIZE = 1000


def odata_filter(query: SourceQuery, after: str | None) -> tuple[str, dict[str, Any]]:
    """The query as an OData filter with parameters (values are never pasted into the text)."""
    terms = ["PartitionKey eq @p_org"]
    parameters: dict[str, Any] = {"p_org": query.partition}
    if after is not None:
        terms.append("RowKey gt @p_after")
        parameters["p_after"] = after
    for index, condition in enumerate(query.conditions):
        terms.append(_term(condition, f"p{index}", parameters))
    return " and ".join(terms), parameters


def _term(condition: Condition, name: str, parameters: dict[str, Any]) -> str:
    if condition.op == "in":
        alternatives = []
        for position, value in enumerate(condition.value):
            parameters[f"{name}_{position}"] = _value(value)
            alternatives.append(f"{condition.prop} eq @{name}_{position}")
        # The SDK substitutes @names between spaces, so the parentheses must stand apart.
        return "( " + " or ".join(alternatives) + " )"
    parameters[name] = _value(condition.value)
    return f"{condition.prop} {condition.op} @{name}"


def _value(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float | datetime) else str(value)


def _plain(entity: Any) -> dict[str, Any]:
    return {key: (value.value if isinstance(value, EntityProperty) else value) for key, value in entity.items()}


class TableRowSource:
    def __init__(self, service: TableServiceClient) -> None:
        self._service = service

    def read(self, query: SourceQuery, after: str | None) -> Iterator[dict[str, Any]]:
        text, parameters = odata_filter(query, after)
        table = self._service.get_table_client(query.table)
        select = list(query.select) if query.select else None
        for entity in table.query_entities(text, parameters=parameters, select=select, results_per_page=PAGE_SIZE):
            yield _plain(entity)

    def count(self, query: SourceQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        text, parameters = odata_filter(query, after)
        table = self._service.get_table_client(query.table)
        counted = 0
        last: str | None = None
        for entity in table.query_entities(text, parameters=parameters, select=["RowKey"], results_per_page=PAGE_SIZE):
            counted += 1
            last = entity["RowKey"]
            if counted >= limit:
                return counted, last
        return counted, None
