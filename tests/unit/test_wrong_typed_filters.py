"""A record whose value has the wrong type for a column never matches a comparison filter on that column.

Table storage evaluates a comparison between values of two types as false (a string is neither before
nor after a time), so the worker does too: a filter gives the same rows whether Table storage or the
worker evaluates it. The fake row source (tests/support/fakes.py) compares as Table storage does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from exports import datasets
from exports.datasets.tickets import TicketPlan
from exports.models import CreateExportRequest, JobStatus
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, Principal
from shared.storage.table_query import CONDITION_BUDGET, Condition, ConditionOp, TableLayout, translate
from shared.storage.table_query import TableQuery as SourceQuery
from tests.support.fakes import FakeRowSource
from tests.unit.conftest import ORG_A, World, make_world
from tools.synthetic_tickets import STATUSES

PRINCIPAL = Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS, IMPORT_EXPORT_TICKETS}))
# A list that fills the query's comparison budget, so any filter after it is left to the worker.
EVERY_STATUS = ",".join([*STATUSES, *(f"Unused {n}" for n in range(CONDITION_BUDGET - len(STATUSES)))])
FIRST_JUNE = datetime(2024, 6, 1, tzinfo=UTC)


def ticket(number: int, created: Any, **more: Any) -> dict[str, Any]:
    return {"PartitionKey": ORG_A, "RowKey": f"{number:010d}", "Number": number, "Status": "Open",
            "CreatedAt": created, **more}  # fmt: skip


@pytest.fixture
def world() -> World:
    world = make_world()
    world.source.add(
        "tickets",
        [
            ticket(1, datetime(2024, 5, 1, tzinfo=UTC)),
            ticket(2, "2024-07-01T00:00:00Z"),  # text that looks like a time is still text
            ticket(3, datetime(2024, 7, 1, tzinfo=UTC)),
            ticket(4, "last tuesday"),
            ticket(5, None),
            ticket(6, FIRST_JUNE),
        ],
    )
    return world


def exported(world: World, *filters: dict[str, str]) -> tuple[list[int], TicketPlan]:
    body = {"dataset": "tickets", "format": "JSONL", "columns": ["ticket_number"], "filters": list(filters)}
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate(body))
    world.drain()
    view = world.service.get(PRINCIPAL, job.job_id)
    assert view.status is JobStatus.COMPLETED, view.error_message
    numbers = [int(orjson.loads(line)["ticket_number"]) for line in world.sink.blobs[job.blob_name].splitlines()]
    assert view.total_rows == len(numbers)
    plan = datasets.plan_for(job)
    assert isinstance(plan, TicketPlan)
    return numbers, plan


def pushed_props(plan: TicketPlan) -> list[str]:
    """The properties Table storage evaluates itself (those that fit in one query)."""
    return [condition.prop for condition in translate(plan.query(None), None, TableLayout()).table_query.conditions]


def test_text_in_created_at_is_excluded_by_after_whether_storage_or_the_worker_evaluates_it(world: World) -> None:
    after = {"field": "created_at", "operator": "after", "value": "2024-06-01"}
    pushed, plan = exported(world, after)
    assert pushed_props(plan) == ["CreatedAt"]
    by_the_worker, plan = exported(world, {"field": "status", "operator": "in", "value": EVERY_STATUS}, after)
    assert "CreatedAt" not in pushed_props(plan)
    assert pushed == by_the_worker == [3]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("equals", "2024-06-01", [6]),
        ("notEquals", "2024-06-01", [1, 3, 5]),  # an empty value is not that day; text cannot be compared
        ("before", "2024-06-01", [1]),
        ("after", "2024-06-01", [3]),
        ("lessThan", "2024-06-01T00:00:00Z", [1]),
        ("lessThanOrEqual", "2024-06-01", [1, 6]),
        ("greaterThan", "2024-06-01T00:00:00Z", [3]),
        ("greaterThanOrEqual", "2024-06-01", [3, 6]),
        ("isNotEmpty", "", [1, 2, 3, 4, 6]),  # text is not empty: it is there, exported as text
        ("isEmpty", "", [5]),
    ],
)
def test_text_in_a_date_column_matches_no_comparison_either_way(
    world: World, operator: str, value: str, expected: list[int]
) -> None:
    date_filter = {"field": "created_at", "operator": operator, "value": value}
    pushed, _ = exported(world, date_filter)
    by_the_worker, _ = exported(world, {"field": "status", "operator": "in", "value": EVERY_STATUS}, date_filter)
    assert pushed == by_the_worker == expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [("greaterThan", "2", [3, 4]), ("lessThanOrEqual", "3", [1, 3]), ("equals", "7", []), ("notEquals", "3", [1, 4])],
)
def test_text_in_the_ticket_number_matches_no_comparison_either_way(
    operator: str, value: str, expected: list[int]
) -> None:
    world = make_world()
    world.source.add(
        "tickets", [ticket(1, FIRST_JUNE), ticket(2, FIRST_JUNE, Number="7"), ticket(3, FIRST_JUNE),
                    ticket(4, FIRST_JUNE)]
    )  # fmt: skip
    number_filter = {"field": "ticket_number", "operator": operator, "value": value}
    pushed, _ = exported(world, number_filter)
    by_the_worker, _ = exported(world, {"field": "status", "operator": "in", "value": EVERY_STATUS}, number_filter)
    assert pushed == by_the_worker == expected


def test_a_case_whose_creation_time_holds_text_is_outside_every_date_range() -> None:
    world = make_world()
    world.source.add(
        "cases",
        [
            {"PartitionKey": ORG_A, "RowKey": "0000000001", "CaseId": "case-1", "CreatedAt": FIRST_JUNE},
            {"PartitionKey": ORG_A, "RowKey": "0000000002", "CaseId": "case-2", "CreatedAt": "2024-06-01"},
        ],
    )
    body = {"format": "JSONL", "exportType": "CUSTOM", "columns": ["case_id"],
            "dateRange": {"start": "2024-01-01", "end": "2024-12-31"}}  # fmt: skip
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate(body))
    world.drain()
    view = world.service.get(PRINCIPAL, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.total_rows == 1
    assert [orjson.loads(line)["case_id"] for line in world.sink.blobs[job.blob_name].splitlines()] == ["case-1"]


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_the_fake_row_source_compares_across_types_as_table_storage_does(op: ConditionOp) -> None:
    source = FakeRowSource()
    stored: list[Any] = ["soon", None, 1, True]
    source.add("t", [{"PartitionKey": "p", "RowKey": str(n), "At": value} for n, value in enumerate(stored, start=1)])
    query = SourceQuery("t", "p", (Condition("At", op, FIRST_JUNE),))
    assert list(source.read_table(query, None)) == []  # text, nothing, a number, a boolean: none is a time
    numbers = SourceQuery("t", "p", (Condition("At", "eq", 1),))
    assert [row["RowKey"] for row in source.read_table(numbers, None)] == ["3"]
