"""The ticket view dataset (seed 001): a snapshot of a view — filters, search, scope, sort, columns.

Entity set `tickets`, in key order. Filters are evaluated exactly in Python; the ones every source
evaluates the same way (equals, in, ranges) are also passed to the source as predicates so less is read.
"""

from __future__ import annotations

import base64
import contextlib
import math
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import orjson

from exports import dates
from exports.datasets.columns import CellWarnings, DataType, RowChecker, as_text, fits
from exports.datasets.tags import CONTAINER_EXPECTED, Malformed, json_property, json_text, read_container
from exports.models import ColumnSpec, CreateExportRequest, FilterOperator, ViewFilter
from exports.ports import KEY, RECORD, Predicate, PredicateOp, RowQuery, RowSource
from exports.sorting import descending as descending_key
from exports.sorting import escape, int_key, run_line, split_run_line, text_key
from shared.errors import ValidationFailed

MAX_IN_VALUES = 100
CUSTOM_PREFIX = "customFields."
CUSTOM_FIELDS = "CustomFieldsJson"

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
# Text and number filters every source evaluates the same way; times go through exports/dates.py.
PUSHED_DOWN: dict[FilterOperator, PredicateOp] = {
    FilterOperator.EQUALS: "eq",
    FilterOperator.IN: "in",
    FilterOperator.GREATER_THAN: "gt",
    FilterOperator.GREATER_OR_EQUAL: "ge",
    FilterOperator.LESS_THAN: "lt",
    FilterOperator.LESS_OR_EQUAL: "le",
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
    zone = dates.zone_named(request.time_zone)
    for index, view_filter in enumerate(request.filters):
        problem = _filter_problem(view_filter, zone)
        if problem:
            errors.append({"field": f"filters.{index}", "message": problem})
    if request.sort_field is not None and field_type(request.sort_field) is None:
        errors.append({"field": "sortField", "message": f"unknown ticket column {request.sort_field!r}"})
    if errors:
        raise ValidationFailed(errors[0]["field"] + ": " + errors[0]["message"], errors=errors)


def _filter_problem(view_filter: ViewFilter, zone: tzinfo) -> str | None:
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
        parsed = _parse(view_filter, dtype, zone)
    except ValueError as error:
        return str(error)
    if isinstance(parsed, tuple) and len(parsed) > MAX_IN_VALUES:
        return f"an 'in' filter takes at most {MAX_IN_VALUES} values"
    return None


def _parse(view_filter: ViewFilter, dtype: DataType, zone: tzinfo = UTC) -> Any:
    assert view_filter.value is not None
    if view_filter.operator is FilterOperator.IN:
        return tuple(_parse_one(part.strip(), dtype, view_filter.field, zone) for part in view_filter.value.split(","))
    return _parse_one(view_filter.value, dtype, view_filter.field, zone)


def _parse_one(text: str, dtype: DataType, field: str, zone: tzinfo) -> Any:
    if dtype is DataType.INTEGER:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{field!r} holds whole numbers; {text!r} is not one") from None
    if dtype is DataType.DATETIME:
        # A bare date (2024-06-01 or 20240601) stays a date: the filter then means that whole day of the
        # export's zone. A date-time without an offset is wall-clock time there.
        try:
            return dates.parse_moment(text, zone=zone)
        except dates.LocalTimeError as error:
            raise ValueError(f"{field!r}: {error}") from None
        except ValueError:
            raise ValueError(f"{field!r} holds dates; {text!r} is not {dates.EXPECTED}") from None
    return text


def _value(entity: dict[str, Any], name: str) -> Any:
    if name.startswith(CUSTOM_PREFIX):
        return _custom_value(json_property(entity, CUSTOM_FIELDS), name[len(CUSTOM_PREFIX) :])
    return entity.get(FIELD_BY_NAME[name][2])


def _custom_value(fields: dict[str, Any], key: str) -> str | None:
    """A custom field as its column's text: a string as it is, any other value as its JSON text."""
    value = fields.get(key)
    return value if value is None or isinstance(value, str) else json_text(value)


def _predicate(view_filter: ViewFilter, zone: tzinfo) -> Callable[[dict[str, Any]], bool]:
    dtype = field_type(view_filter.field)
    assert dtype is not None
    op = view_filter.operator
    name = view_filter.field
    target = None if op in NO_VALUE else _parse(view_filter, dtype, zone)
    folded = target.casefold() if isinstance(target, str) else None
    moment: date | datetime | None = target if isinstance(target, date) else None

    def test(entity: dict[str, Any]) -> bool:
        value = _value(entity, name)
        empty = value is None or value == ""
        if op is FilterOperator.IS_EMPTY:
            return empty
        if op is FilterOperator.IS_NOT_EMPTY:
            return not empty
        if not empty and not fits(value, dtype):
            # A value of the wrong type (text in created_at) cannot be compared: it matches no comparison,
            # notEquals included, as every source evaluates one, so pushing a filter down changes nothing.
            return False
        if moment is not None:
            # An empty value is not equal to any time, and satisfies no other comparison.
            if op is FilterOperator.NOT_EQUALS:
                return empty or not dates.holds(dates.EQUALS, moment, value, zone)
            return dates.holds(op.value, moment, value, zone)
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


def _pushed_down(view_filter: ViewFilter, zone: tzinfo) -> list[Predicate]:
    """The filter as predicates a source evaluates exactly as `_predicate` does (none if it cannot)."""
    dtype = field_type(view_filter.field)
    if dtype is None or view_filter.field.startswith(CUSTOM_PREFIX) or view_filter.operator in NO_VALUE:
        return []
    prop = FIELD_BY_NAME[view_filter.field][2]
    value = _parse(view_filter, dtype, zone)
    if dtype is DataType.DATETIME:
        found = dates.comparisons(view_filter.operator.value, value, zone)
        return [Predicate(prop, op, bound) for op, bound in found or ()]
    op = PUSHED_DOWN.get(view_filter.operator)
    return [Predicate(prop, op, value)] if op else []


@dataclass(frozen=True)
class TicketPlan:
    organization_id: str
    request: CreateExportRequest
    columns: Sequence[ColumnSpec]

    def query(self, select: tuple[str, ...] | None) -> RowQuery:
        # Scope is evaluated by the source only; filters, which the worker evaluates on every row anyway,
        # also go to the source so that less is read.
        predicates: list[Predicate] = []
        if self.request.scope and self.request.scope.team_id:
            predicates.append(Predicate("TeamId", "eq", str(self.request.scope.team_id)))
        if self.request.scope and self.request.scope.assigned_to_user_id:
            predicates.append(Predicate("AssigneeId", "eq", str(self.request.scope.assigned_to_user_id)))
        zone = dates.zone_named(self.request.time_zone)
        predicates += [
            predicate for view_filter in self.request.filters for predicate in _pushed_down(view_filter, zone)
        ]
        return RowQuery("tickets", self.organization_id, tuple(predicates), select)

    def select(self) -> tuple[str, ...]:
        names = [spec.name for spec in self.columns] + [f.field for f in self.request.filters]
        if self.request.sort_field:
            names.append(self.request.sort_field)
        props: dict[str, None] = {KEY: None}
        for name in names:
            props[FIELD_BY_NAME[name][2] if name in FIELD_BY_NAME else CUSTOM_FIELDS] = None
        if self.request.search_term:
            props.update(dict.fromkeys(SEARCHED_PROPERTIES))
        return tuple(props)

    def matches(self) -> Callable[[dict[str, Any]], bool]:
        zone = dates.zone_named(self.request.time_zone)
        tests = [_predicate(view_filter, zone) for view_filter in self.request.filters]
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
            last = str(entity[KEY])
            if counted >= limit:
                return counted, last
        return counted, None

    def row_builder(self, warnings: CellWarnings | None = None) -> Callable[[dict[str, Any]], list[list[Any]]]:
        """Builds a ticket's row; a value of the wrong type becomes its text, noted in `warnings`.

        A `CustomFieldsJson` that is not a JSON object leaves every custom-field column of the ticket
        empty and is noted once, as for cases (exports/datasets/tags.py `read_container`).
        """
        names = [spec.name for spec in self.columns]
        props = [None if name.startswith(CUSTOM_PREFIX) else FIELD_BY_NAME[name][2] for name in names]
        custom = [(index, name[len(CUSTOM_PREFIX) :]) for index, name in enumerate(names) if props[index] is None]
        check = RowChecker(
            [(index, DataType(spec.data_type), spec.name) for index, spec in enumerate(self.columns)],
            warnings=warnings,
        )
        notes = check.warnings

        def build(entity: dict[str, Any]) -> list[list[Any]]:
            get = entity.get
            row = [get(prop) if prop is not None else None for prop in props]
            broken = None
            if custom:
                fields = read_container(entity, CUSTOM_FIELDS)  # read once, whatever number of columns
                if type(fields) is Malformed:
                    broken = fields
                else:
                    assert isinstance(fields, dict)
                    for index, key in custom:
                        row[index] = _custom_value(fields, key)
            check(row, get(KEY))
            if broken is not None:
                notes.note(broken.record, broken.prop, broken.found, CONTAINER_EXPECTED)
            return [row]

        return build

    # ---- sorting ---------------------------------------------------------------------------------

    def sort_lines(self) -> Callable[[dict[str, Any]], bytes]:
        """Turns a ticket into its line of a sorted run: its sort key, then only what its row needs."""
        field = self.request.sort_field
        assert field is not None
        dtype = field_type(field) or DataType.TEXT
        descending = self.request.sort_direction == "desc"
        names = [spec.name for spec in self.columns]
        kept = {KEY: None, RECORD: None}
        kept.update((FIELD_BY_NAME[name][2], None) for name in names if not name.startswith(CUSTOM_PREFIX))
        if any(name.startswith(CUSTOM_PREFIX) for name in names):
            kept[CUSTOM_FIELDS] = None
        props = tuple(kept)

        def line(entity: dict[str, Any]) -> bytes:
            key = sort_key_bytes(_value(entity, field), str(entity[KEY]), dtype, descending)
            row = {prop: entity[prop] for prop in props if prop in entity}
            return run_line(key, encode_entity(row))

        return line

    def split_line(self, line: bytes) -> tuple[bytes, bytes]:
        """A run line's key and payload; a line of a run written by the previous version (a whole entity,
        `[entity, types]` or a plain object) gets its key computed here, by the same rule."""
        if line[:1] in (b"[", b"{"):
            entity = decode_entity(line)
            field = self.request.sort_field
            assert field is not None
            key = sort_key_bytes(
                _value(entity, field),
                str(entity[KEY]),
                field_type(field) or DataType.TEXT,
                self.request.sort_direction == "desc",
            )
            return escape(key), line
        return split_run_line(line)

    def decode_unit(self, payload: bytes) -> dict[str, Any]:
        return decode_entity(payload)

    def sort_key(self, entity: dict[str, Any]) -> SortKey:
        """The ordering rule as objects that compare: what `sort_key_bytes` encodes (tests hold one to the other)."""
        field = self.request.sort_field
        assert field is not None
        value = _value(entity, field)
        dtype = field_type(field) or DataType.TEXT
        return SortKey(value, str(entity[KEY]), self.request.sort_direction == "desc", misfit=not fits(value, dtype))


def sort_key_bytes(value: Any, key: str, dtype: DataType, descending: bool) -> bytes:
    """`SortKey`'s order as bytes: comparing two such keys bytewise compares the SortKeys.

    A class first (a value of the column's type, then one of another type, then empty: the same either
    way), then the value (reversed when descending), then the record id, always ascending. Times compare
    as instants in microseconds (the same instant in two offsets ties, as datetimes do); a time without a
    zone, which no source gives, is read as UTC.
    """
    if value is None or value == "":
        return _EMPTY + text_key(key)
    if not fits(value, dtype):
        part, kind = _text_part(as_text(value)), _MISFIT
    elif isinstance(value, str):
        part, kind = _text_part(value), _FITS
    elif isinstance(value, datetime):
        moment = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        part, kind = int_key((moment - _EPOCH) // _MICROSECOND), _FITS
    elif isinstance(value, int):
        part, kind = int_key(value), _FITS
    else:  # no ticket column has another type
        raise TypeError(f"no sort key for a {type(value).__name__} in a {dtype.value} column")
    return kind + (descending_key(part) if descending else part) + text_key(key)


def _text_part(text: str) -> bytes:
    return text_key(collation_key(text)) + text_key(text.casefold()) + text_key(text)


_FITS, _MISFIT, _EMPTY = b"\x01", b"\x02", b"\x03"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SortKey:
    """Orders by value (text by collation key, then case, then exactly), nulls last either way, ties by record id.

    A value of the wrong type for the column (text in a date column) cannot be ordered among the others: such
    values sort after every value of the right type, either way, by their text, and before the empty ones.
    """

    __slots__ = ("descending", "empty", "key", "misfit", "value")

    def __init__(self, value: Any, key: str, descending: bool, *, misfit: bool = False) -> None:
        self.empty = value is None or value == ""
        self.misfit = misfit and not self.empty
        if self.misfit:
            value = as_text(value)
        self.value = (collation_key(value), value.casefold(), value) if isinstance(value, str) else value
        self.key = key
        self.descending = descending

    def __lt__(self, other: SortKey) -> bool:
        if self.empty != other.empty:
            return other.empty
        if self.misfit != other.misfit:
            return other.misfit
        if not self.empty and self.value != other.value:
            return bool(self.value > other.value) if self.descending else bool(self.value < other.value)
        return self.key < other.key


def collation_key(text: str) -> str:
    """Accents and case set aside (Álvaro sorts with the A's), so that people find what they expect."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# A sort run holds each ticket as one JSON line, `[entity, types]`: `types` names the properties whose
# value JSON cannot carry as itself (a time, binary data, a double that is not finite), so the merge reads
# back exactly the values that were sorted. Text stays text, whatever it looks like: a created_at that
# holds "2024-07-01T00:00:00Z" is exported as that text, with a warning, after a sort as without one.
_RUN_DATETIME, _RUN_DATE, _RUN_BINARY, _RUN_DOUBLE = "datetime", "date", "binary", "double"


def encode_entity(entity: dict[str, Any]) -> bytes:
    types: dict[str, str] = {}
    plain = entity
    for name, value in entity.items():
        kind = type(value)
        if kind is datetime or kind is date:
            types[name] = _RUN_DATETIME if kind is datetime else _RUN_DATE  # orjson writes ISO 8601
        elif kind is bytes or (kind is float and not math.isfinite(value)):
            if plain is entity:
                plain = dict(entity)
            types[name] = _RUN_BINARY if kind is bytes else _RUN_DOUBLE
            plain[name] = base64.b64encode(value).decode("ascii") if kind is bytes else repr(value)
    return orjson.dumps([plain, types])


def decode_entity(line: bytes) -> dict[str, Any]:
    decoded = orjson.loads(line)
    if isinstance(decoded, dict):
        return _decode_unmarked(decoded)
    entity: dict[str, Any] = decoded[0]
    for name, kind in decoded[1].items():
        value = entity[name]
        if kind == _RUN_DATETIME:
            entity[name] = datetime.fromisoformat(value)
        elif kind == _RUN_DATE:
            entity[name] = date.fromisoformat(value)
        elif kind == _RUN_BINARY:
            entity[name] = base64.b64decode(value)
        else:
            entity[name] = float(value)
    return entity


def _decode_unmarked(entity: dict[str, Any]) -> dict[str, Any]:
    """A line of a run written before runs kept their types (a job sorted by the previous version)."""
    for prop in DATETIME_PROPERTIES:
        value = entity.get(prop)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                entity[prop] = datetime.fromisoformat(value)
    return entity
