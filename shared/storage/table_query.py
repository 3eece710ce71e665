"""The neutral row query in Table storage's terms: which table, which RowKey range, which OData terms.

Layout: every entity set is one table with PartitionKey = organization id. Cases and tickets have their
own key as RowKey. A case record's RowKey is `{caseKey}|{kind}|{nnnn}`, so a case's records sort right
after its key and before the next case's (`{caseKey}|~`): one range scan of each table, merged on the key,
gives every case with its records.

Table storage allows at most 15 comparisons in one `$filter` (REST reference, "Querying tables and
entities"), and this adapter spends two on the partition and the cursor. Terms on the key always go to
the query; the others follow in the dataset's order while they fit, and the rest are evaluated here on
every entity the query returns, with exactly the meaning Table storage gives them, so the same rows come
out either way.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from exports.ports import KEY, EntitySet, Predicate, RowQuery

ConditionOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in"]

MAX_FILTER_COMPARISONS = 15
# Every query spends two: the partition and the cursor (`RowKey gt`).
CONDITION_BUDGET = MAX_FILTER_COMPARISONS - 2
ROW_KEY = "RowKey"
RECORD_SEPARATOR = "|"
# Records of case `k` have keys `k|...`; `k|~` sorts after all of them and before the next case.
AFTER_RECORDS = "|~"


@dataclass(frozen=True)
class Condition:
    """One OData term on a property; terms are AND-ed, `in` is an OR of equals."""

    prop: str
    op: ConditionOp
    value: Any

    @property
    def comparisons(self) -> int:
        return len(self.value) if self.op == "in" else 1


@dataclass(frozen=True)
class TableQuery:
    """One range scan of a partition; its conditions may hold at most CONDITION_BUDGET comparisons."""

    table: str
    partition: str
    conditions: tuple[Condition, ...] = ()
    select: tuple[str, ...] | None = None
    # The properties' stored types when known (see RowQuery.schema): only doubles matter to the reader.
    schema: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class TableLayout:
    """The table of each entity set (settings: EXPORTS_CASES_TABLE and its neighbours)."""

    cases: str = "cases"
    case_records: str = "caserecords"
    tickets: str = "tickets"

    def table(self, entity_set: EntitySet) -> str:
        return {"cases": self.cases, "case_records": self.case_records, "tickets": self.tickets}[entity_set]


@dataclass(frozen=True)
class TranslatedQuery:
    """A RowQuery as one Table storage query, the terms left to this adapter, and how to name the key."""

    table_query: TableQuery
    after: str | None
    left: tuple[Condition, ...]
    # Properties read only for the terms left here, dropped from each entity once it is checked.
    extra: tuple[str, ...]
    records: bool

    def unit_key(self, row_key: str) -> str:
        return row_key.partition(RECORD_SEPARATOR)[0] if self.records else row_key


def translate(query: RowQuery, after: str | None, layout: TableLayout) -> TranslatedQuery:
    records = query.entity_set == "case_records"
    key_terms: list[Condition] = []
    terms: list[Condition] = []
    for predicate in query.predicates:
        if predicate.field == KEY:
            key_terms += _key_terms(predicate, records)
        else:
            terms.append(Condition(predicate.field, predicate.op, predicate.value))
    pushed, left = split(key_terms, terms)
    select = query.fields
    extra: tuple[str, ...] = ()
    if select is not None:
        select = tuple(dict.fromkeys(ROW_KEY if name == KEY else name for name in (KEY, *select)))
        extra = tuple(dict.fromkeys(term.prop for term in left if term.prop not in select))
        select = (*select, *extra)
    return TranslatedQuery(
        TableQuery(layout.table(query.entity_set), query.organization_id, pushed, select, query.schema),
        after + AFTER_RECORDS if records and after is not None else after,
        left,
        extra,
        records,
    )


def _key_terms(predicate: Predicate, records: bool) -> list[Condition]:
    key = str(predicate.value)
    if predicate.op not in ("eq", "gt", "ge", "lt", "le"):
        raise ValueError(f"a key takes eq, gt, ge, lt or le, not {predicate.op}")
    if not records:
        return [Condition(ROW_KEY, predicate.op, key)]
    end = key + AFTER_RECORDS  # after every record of that case
    return {
        "eq": [Condition(ROW_KEY, "gt", key), Condition(ROW_KEY, "lt", end)],
        "gt": [Condition(ROW_KEY, "gt", end)],
        "ge": [Condition(ROW_KEY, "gt", key)],
        "lt": [Condition(ROW_KEY, "lt", key)],
        "le": [Condition(ROW_KEY, "lt", end)],
    }[predicate.op]


def split(
    required: Iterable[Condition], optional: Iterable[Condition], budget: int = CONDITION_BUDGET
) -> tuple[tuple[Condition, ...], tuple[Condition, ...]]:
    """(terms for the query, terms left to the adapter).

    `required` terms always go to the query; `optional` ones follow in order while they fit, a term that
    does not fit is left out and later, smaller ones may still fit.
    """
    pushed = list(required)
    spent = sum(condition.comparisons for condition in pushed)
    if spent > budget:
        raise ValueError(f"the required filter terms need {spent} comparisons; a query allows {budget}")
    left: list[Condition] = []
    for condition in optional:
        if spent + condition.comparisons <= budget:
            pushed.append(condition)
            spent += condition.comparisons
        else:
            left.append(condition)
    return tuple(pushed), tuple(left)


# ---- terms as Table storage evaluates them ----------------------------------------------------------

_KINDS: tuple[type, ...] = (bool, int, float, str, datetime, bytes)
_KIND_OF: dict[type, type] = {kind: kind for kind in _KINDS}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def kind_of(value: Any) -> type:
    """The Table storage type family of a typed value (Edm.Int32 and Edm.Int64 are both int)."""
    found = _KIND_OF.get(type(value))
    if found is not None:
        return found
    return next((kind for kind in _KINDS if isinstance(value, kind)), type(value))


def sent_value(value: Any) -> Any:
    """A value as the adapter sends it: anything but text, booleans, numbers and times as its text."""
    return value if isinstance(value, str | bool | int | float | datetime) else str(value)


def _as_utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def holds(op: str, stored: Any, wanted: Any) -> bool:
    """One term as Table storage evaluates it: a missing property, or one of another type than the value,
    satisfies no comparison at all, `ne` included (a string is neither before nor after a time)."""
    if op == "in":
        return any(holds("eq", stored, one) for one in wanted)
    wanted = sent_value(wanted)
    if stored is None or kind_of(stored) is not kind_of(wanted):
        return False
    return _COMPARE[op](_as_utc(stored), _as_utc(wanted))


def matcher(conditions: Iterable[Condition]) -> Callable[[dict[str, Any]], bool]:
    """Whether an entity satisfies every term, as Table storage evaluates them."""
    fast: list[tuple[str, frozenset[tuple[type, Any]]]] = []
    other: list[Condition] = []
    for condition in conditions:
        if condition.op in ("eq", "in"):
            values = condition.value if condition.op == "in" else (condition.value,)
            # Typed values: a string never equals a number, nor 1 true.
            fast.append((condition.prop, frozenset((kind_of(sent_value(v)), sent_value(v)) for v in values)))
        else:
            other.append(condition)

    def matches(entity: dict[str, Any]) -> bool:
        for prop, typed_values in fast:
            value = entity.get(prop)
            if value is None or (kind_of(value), _as_utc(value)) not in typed_values:
                return False
        return all(holds(c.op, entity.get(c.prop), c.value) for c in other)

    return matches
