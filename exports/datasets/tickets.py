"""The ticket view dataset (seed 001): a snapshot of a view — filters, search, scope, sort, columns.

Source layout: table `tickets`, PartitionKey = organization id, RowKey = zero-padded ticket number.
Filters are evaluated exactly in Python; the ones Table storage evaluates the same way (equals, in,
ranges) are also pushed down as OData so less is read.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from exports.datasets.columns import DataType, RowChecker
from exports.datasets.tags import json_property
from exports.models import ColumnSpec, CreateExportRequest, FilterOperator, ViewFilter
from exports.ports import Condition, RowSource, SourceQuery
from shared.errors import ValidationFailed

MAX_IN_VALUES = 100
CUSTOM_PREFIX = "customFields."

TICKET_FIELDS: tuple[tuple[str, str, DataType, str], ...] = (
    ("ticket_id", "Ticket ID", DataType.TEXT, "TicketId"),
    ("ticket_number", "Number", DataType.INTEGER, "Number"),
    ("title", "Title", DataType.TEXT, "Title"),
    ("description", "Description", DataType.TEXT, "Description"),
    ("status", "Status", DataType.TEXT, "Status"),
    ("priority", "Priority", DataType.TEXT, "Priority"),
    ("team_id", "Team ID", DataType.TEXT, "TeamId"),
    ("team_name", "Team", DataType.TEXT, "TeamName"),
    ("assignee_id", "Assignee ID", DataType.TEXT, "AssigneeId"),
    ("assignee_name", "Assignee", DataType.TEXT, "AssigneeName"),
    ("requester_name", "Requester", DataType.TEXT, "RequesterName"),
    ("requester_email", "Requester Email", DataType.TEXT, "RequesterEmail"),
    ("created_at", "Created At", DataType.DATETIME, "CreatedAt"),
    ("updated_at", "Updated At", DataType.DATETIME, "UpdatedAt"),
    ("closed_at", "Closed At", DataType.DATETIME, "ClosedAt"),
    ("tags", "Tags", DataType.TEXT, "Tags"),
)
FIELD_BY_NAME = {name: (label, dtype, prop) for name, label, dtype, prop in TICKET_FIELDS}
DATETIME_PROPERTIES = tuple(prop for _, _, dtype, prop in TICKET_FIELDS if dtype is DataType.DATETIME)
SEARCHED_PROPERTIES = ("Title", "Description", "RequesterName", "RequesterEmail", "Number")

OPERATORS: dict[DataType, frozenset[FilterOperator]] = {
    DataType.TEXT: frozenset(
        {
            FilterOperator.EQUALS,
            FilterOperator.NOT_EQUALS,
            FilterOperator.CONTAINS,
            FilterOperator.STARTS_WITH,
            FilterOperator.IN,
            FilterOperator.IS_EMPTY,
            FilterOperator.IS_NOT_EMPTY,
        }
    ),
    DataType.INTEGER: frozenset(
        {
            FilterOperator.EQUALS,
            FilterOperator.NOT_EQUALS,
            FilterOperator.GREATER_THAN,
            FilterOperator.GREATER_OR_EQUAL,
            FilterOperator.LESS_THAN,
            FilterOperator.LESS_OR_EQUAL,
            FilterOperator.IN,
            FilterOperator.IS_EMPTY,
            FilterOperator.IS_NOT_EMPTY,
        }
    ),
    DataType.DATETIME: frozenset(
        {
            FilterOperator.EQUALS,
            FilterOperator.NOT_EQUALS,
            FilterOperator.BEFORE,
            FilterOperator.AFTER,
            FilterOperator.GREATER_THAN,
            FilterOperator.GREATER_OR_EQUAL,
            FilterOperator.LESS_THAN,
            FilterOperator.LESS_OR_EQUAL,
            FilterOperator.IS_EMPTY,
            FilterOperator.IS_NOT_EMPTY,
        }
    ),
}
NO_VALUE = frozenset({FilterOperator.IS_EMPTY, FilterOperator.IS_NOT_EMPTY})
PUSHED_DOWN = {
    FilterOperator.EQUALS: "eq",
    FilterOperator.IN: "in",
    FilterOperator.GREATER_THAN: "gt",
    FilterOperator.GREATER_OR_EQUAL: "ge",
    FilterOperator.LESS_THAN: "lt",
    FilterOperator.LESS_OR_EQUAL: "le",
    FilterOperator.BEFORE: "lt",
    FilterOperator.AFTER: "gt",
}


def catalog() -> list[ColumnSpec]:
    return [ColumnSpec(name=name, label=label, data_type=dtype.value) for name, label, dtype, _ in TICKET_FIELDS]


def field_type(name: str) -> DataType | None:
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return DataType.TEXT
    found = FIELD_BY_NAME.get(name)
    return found[1] if found else None


def columns_for(request: CreateExportRequest) -> list[ColumnSpec]:
    validate(request)
    if not request.columns:
        return catalog()
    return [
        ColumnSpec(
            name=name,
            label=FIELD_BY_NAME[name][0] if name in FIELD_BY_NAME else name,
            data_type=(field_type(name) or DataType.TEXT).value,
        )
        for name in request.columns
    ]


def validate(request: CreateExportRequest) -> None:
    """Every field, operator and value of the snapshot, checked before the job is recorded."""
    errors: list[dict[str, str]] = []
    for index, name in enumerate(request.columns):
        if field_type(name) is None:
            errors.append({"field": f"columns.{index}", "message": f"unknown ticket column {name!r}"})
    if len(set(request.columns)) != len(request.columns):
        errors.append({"field": "columns", "message": "a column is listed more than once"})
    for index, view_filter in enumerate(request.filters):
        problem = _filter_problem(view_filter)
        if problem:
            errors.append({"field": f"filters.{index}", "message": problem})
    if request.sort_field is not None and field_type(request.sort_field) is None:
        errors.append({"field": "sortField", "message": f"unknown ticket column {request.sort_field!r}"})
    if errors:
        raise ValidationFailed(errors[0]["field"] + ": " + errors[0]["message"], errors=errors)


def _filter_problem(view_filter: ViewFilter) -> str | None:
    dtype = field_type(view_filter.field)
    if dtype is None:
        return f"unknown ticket field {view_filter.field!r}"
    if view_filter.operator not in OPERATORS[dtype]:
        allowed = ", ".join(sorted(op.value for op in OPERATORS[dtype]))
        return (
            f"operator {view_filter.operator.value} does not apply to {dtype.value.lower()} field "
            f"{view_filter.field!r}; use one of: {allowed}"
        )
    if view_filter.operator in NO_VALUE:
        return None if view_filter.value in (None, "") else f"operator {view_filter.operator.value} takes no value"
    if view_filter.value is None or view_filter.value == "":
        return f"operator {view_filter.operator.value} needs a value"
    try:
        parsed = _parse(view_filter, dtype)
    except ValueError as error:
        return str(error)
    if isinstance(parsed, tuple) and len(parsed) > MAX_IN_VALUES:
        return f"an 'in' filter takes at most {MAX_IN_VALUES} values"
    return None


def _parse(view_filter: ViewFilter, dtype: DataType) -> Any:
    assert view_filter.value is not None
    if view_filter.operator is FilterOperator.IN:
        return tuple(_parse_one(part.strip(), dtype, view_filter.field) for part in view_filter.value.split(","))
    return _parse_one(view_filter.value, dtype, view_filter.field)


def _parse_one(text: str, dtype: DataType, field: str) -> Any:
    if dtype is DataType.INTEGER:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{field!r} holds whole numbers; {text!r} is not one") from None
    if dtype is DataType.DATETIME:
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field!r} holds dates; {text!r} is not an ISO 8601 date or time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return text


def _value(entity: dict[str, Any], name: str) -> Any:
    if name.startswith(CUSTOM_PREFIX):
        value = json_property(entity, "CustomFieldsJson").get(name[len(CUSTOM_PREFIX) :])
        return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()
    return entity.get(FIELD_BY_NAME[name][2])


def _predicate(view_filter: ViewFilter) -> Callable[[dict[str, Any]], bool]:
    dtype = field_type(view_filter.field)
    assert dtype is not None
    op = view_filter.operator
    name = view_filter.field
    target = None if op in NO_VALUE else _parse(view_filter, dtype)
    folded = target.casefold() if isinstance(target, str) else None

    def test(entity: dict[str, Any]) -> bool:
        value = _value(entity, name)
        empty = value is None or value == ""
        if op is FilterOperator.IS_EMPTY:
            return empty
        if op is FilterOperator.IS_NOT_EMPTY:
            return not empty
        if op is FilterOperator.NOT_EQUALS:
            return bool(value != target)
        if empty:
            return False
        if op is FilterOperator.EQUALS:
            return bool(value == target)
        if op is FilterOperator.IN:
            return bool(target is not None and value in target)
        if op is FilterOperator.CONTAINS:
            return folded is not None and folded in str(value).casefold()
        if op is FilterOperator.STARTS_WITH:
            return folded is not None and str(value).casefold().startswith(folded)
        if op in (FilterOperator.GREATER_THAN, FilterOperator.AFTER):
            return bool(value > target)
        if op is FilterOperator.GREATER_OR_EQUAL:
            return bool(value >= target)
        if op in (FilterOperator.LESS_THAN, FilterOperator.BEFORE):
            return bool(value < target)
        return bool(value <= target)

    return test


@dataclass(frozen=True)
class TicketPlan:
    table: str
    organization_id: str
    request: CreateExportRequest
    columns: Sequence[ColumnSpec]

    def query(self, select: tuple[str, ...] | None) -> SourceQuery:
        conditions: list[Condition] = []
        for view_filter in self.request.filters:
            op = PUSHED_DOWN.get(view_filter.operator)
            if op is None or view_filter.field.startswith(CUSTOM_PREFIX):
                continue
            dtype = field_type(view_filter.field)
            assert dtype is not None
            conditions.append(Condition(FIELD_BY_NAME[view_filter.field][2], op, _parse(view_filter, dtype)))  # type: ignore[arg-type]
        scope = self.request.scope
        if scope and scope.team_id:
            conditions.append(Condition("TeamId", "eq", str(scope.team_id)))
        if scope and scope.assigned_to_user_id:
            conditions.append(Condition("AssigneeId", "eq", str(scope.assigned_to_user_id)))
        return SourceQuery(self.table, self.organization_id, tuple(conditions), select)

    def select(self) -> tuple[str, ...]:
        names = [spec.name for spec in self.columns] + [f.field for f in self.request.filters]
        if self.request.sort_field:
            names.append(self.request.sort_field)
        props: dict[str, None] = {"RowKey": None}
        for name in names:
            props[FIELD_BY_NAME[name][2] if name in FIELD_BY_NAME else "CustomFieldsJson"] = None
        if self.request.search_term:
            props.update(dict.fromkeys(SEARCHED_PROPERTIES))
        return tuple(props)

    def matches(self) -> Callable[[dict[str, Any]], bool]:
        tests = [_predicate(view_filter) for view_filter in self.request.filters]
        term = (self.request.search_term or "").strip().casefold()

        def keep(entity: dict[str, Any]) -> bool:
            if term and not any(term in str(entity.get(prop) or "").casefold() for prop in SEARCHED_PROPERTIES):
                return False
            return all(test(entity) for test in tests)

        return keep

    def units(self, source: RowSource, after: str | None) -> Iterator[dict[str, Any]]:
        keep = self.matches()
        for entity in source.read(self.query(self.select()), after):
            if keep(entity):
                yield entity

    def count(self, source: RowSource, after: str | None, limit: int) -> tuple[int, str | None]:
        counted = 0
        last: str | None = None
        for entity in self.units(source, after):
            counted += 1
            last = str(entity["RowKey"])
            if counted >= limit:
                return counted, last
        return counted, None

    def row_builder(self) -> Callable[[dict[str, Any]], list[list[Any]]]:
        names = [spec.name for spec in self.columns]
        check = RowChecker(
            [(index, DataType(spec.data_type), spec.name) for index, spec in enumerate(self.columns)], record="Ticket"
        )

        def build(entity: dict[str, Any]) -> list[list[Any]]:
            row = [_value(entity, name) for name in names]
            check(row, entity.get("RowKey"))
            return [row]

        return build

    # ---- sorting ---------------------------------------------------------------------------------

    def sort_key(self, entity: dict[str, Any]) -> SortKey:
        assert self.request.sort_field is not None
        return SortKey(
            _value(entity, self.request.sort_field), str(entity["RowKey"]), self.request.sort_direction == "desc"
        )


class SortKey:
    """Orders by value (text by collation key, then case, then exactly), nulls last either way, ties by record id."""

    __slots__ = ("descending", "empty", "key", "value")

    def __init__(self, value: Any, key: str, descending: bool) -> None:
        self.empty = value is None or value == ""
        self.value = (collation_key(value), value.casefold(), value) if isinstance(value, str) else value
        self.key = key
        self.descending = descending

    def __lt__(self, other: SortKey) -> bool:
        if self.empty != other.empty:
            return other.empty
        if not self.empty and self.value != other.value:
            return bool(self.value > other.value) if self.descending else bool(self.value < other.value)
        return self.key < other.key


def collation_key(text: str) -> str:
    """Accents and case set aside (Álvaro sorts with the A's), so that people find what they expect."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def encode_entity(entity: dict[str, Any]) -> bytes:
    return orjson.dumps(entity)


def decode_entity(line: bytes) -> dict[str, Any]:
    entity: dict[str, Any] = orjson.loads(line)
    for prop in DATETIME_PROPERTIES:
        value = entity.get(prop)
        if isinstance(value, str):
            # A broken source value stays as it was, and row building reports it.
            with contextlib.suppress(ValueError):
                entity[prop] = datetime.fromisoformat(value)
    return entity
