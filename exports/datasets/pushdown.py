"""Which filter terms Table storage evaluates and which the worker evaluates, within the comparison limit.

Table storage allows at most 15 comparisons in one query; the row source spends two (partition and
cursor). A dataset's filter terms go to the query while they fit; the rest are evaluated by the
worker on every row the query returns, with exactly the meaning Table storage gives them, so the
same rows come out either way (and counting agrees with exporting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from exports.ports import CONDITION_BUDGET, Condition


def split(
    required: Iterable[Condition], optional: Iterable[Condition], budget: int = CONDITION_BUDGET
) -> tuple[tuple[Condition, ...], tuple[Condition, ...]]:
    """(terms for the query, terms left to the worker).

    `required` terms always go to the query (the caller keeps them small); `optional` ones follow in
    order while they fit, a term that does not fit is left to the worker and later, smaller ones may
    still fit.
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


def matcher(conditions: Iterable[Condition]) -> Callable[[dict[str, Any]], bool]:
    """Whether an entity satisfies every `eq` / `in` term, as Table storage compares them."""
    tests: list[tuple[str, frozenset[tuple[type, Any]]]] = []
    for condition in conditions:
        if condition.op not in ("eq", "in"):
            raise ValueError(f"the worker evaluates eq and in terms only, not {condition.op}")
        values = condition.value if condition.op == "in" else (condition.value,)
        # Table storage compares typed values: a string never equals a number, nor 1 true.
        tests.append((condition.prop, frozenset((type(value), value) for value in values)))

    def matches(entity: dict[str, Any]) -> bool:
        for prop, typed_values in tests:
            value = entity.get(prop)
            if value is None or (type(value), value) not in typed_values:
                return False
        return True

    return matches
