"""A bare date in a filter is the whole UTC day, the same in ticket filters and the case date range."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from exports.models import CreateExportRequest, JobStatus
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, Principal
from tests.unit.conftest import ORG_A, World, make_world

PRINCIPAL = Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS, IMPORT_EXPORT_TICKETS}))
# Rows 1-4 sit at the edges of 2024-06-01 and 2024-06-30; row 5 has no time at all.
TIMES = {
    1: datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC),
    2: datetime(2024, 6, 1, tzinfo=UTC),
    3: datetime(2024, 6, 1, 23, 59, 59, 999999, tzinfo=UTC),
    4: datetime(2024, 6, 2, tzinfo=UTC),
    6: datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
    7: datetime(2024, 7, 1, tzinfo=UTC),
}


def rows(number: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": ORG_A, "RowKey": f"{number:010d}"}
    if number in TIMES:
        entity["CreatedAt"] = TIMES[number]
    return entity


@pytest.fixture
def world() -> World:
    world = make_world()
    world.source.add("tickets", [{**rows(n), "Number": n} for n in (1, 2, 3, 4, 5, 6, 7)])
    world.source.add("cases", [{**rows(n), "CaseId": f"case-{n}"} for n in (1, 2, 3, 4, 5, 6, 7)])
    return world


def exported(world: World, body: dict[str, Any], column: str) -> list[Any]:
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate({"format": "JSONL", **body}))
    world.drain()
    stored = world.service.get(PRINCIPAL, job.job_id)
    assert stored.status is JobStatus.COMPLETED, stored.error_message
    found = [orjson.loads(line)[column] for line in world.sink.blobs[job.blob_name].splitlines()]
    assert stored.total_rows == len(found)
    return found


def tickets(world: World, *filters: tuple[str, str]) -> list[int]:
    body = {
        "dataset": "tickets",
        "columns": ["ticket_number"],
        "filters": [{"field": "created_at", "operator": op, "value": value} for op, value in filters],
    }
    return [int(number) for number in exported(world, body, "ticket_number")]


def cases(world: World, start: str, end: str) -> list[int]:
    body = {"exportType": "CUSTOM", "columns": ["case_id"], "dateRange": {"start": start, "end": end}}
    return [int(case_id.removeprefix("case-")) for case_id in exported(world, body, "case_id")]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("equals", [2, 3]),
        ("notEquals", [1, 4, 5, 6, 7]),
        ("before", [1]),
        ("lessThan", [1]),
        ("after", [4, 6, 7]),
        ("greaterThan", [4, 6, 7]),
        ("lessThanOrEqual", [1, 2, 3]),
        ("greaterThanOrEqual", [2, 3, 4, 6, 7]),
    ],
)
@pytest.mark.parametrize("day", ["2024-06-01", "20240601"])
def test_a_bare_date_in_a_ticket_filter_is_the_whole_day(
    world: World, day: str, operator: str, expected: list[int]
) -> None:
    assert tickets(world, (operator, day)) == expected


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("equals", [2]),
        ("notEquals", [1, 3, 4, 5, 6, 7]),
        ("before", [1]),
        ("after", [3, 4, 6, 7]),
        ("lessThanOrEqual", [1, 2]),
        ("greaterThanOrEqual", [2, 3, 4, 6, 7]),
    ],
)
def test_a_date_time_in_a_ticket_filter_is_that_instant(world: World, operator: str, expected: list[int]) -> None:
    assert tickets(world, (operator, "2024-06-01T00:00:00Z")) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-06-01", "2024-06-01", [2, 3]),
        ("2024-06-01", "2024-06-30", [2, 3, 4, 6]),
        ("20240601", "20240630", [2, 3, 4, 6]),
        ("2024-06-01T00:00:00Z", "2024-06-01T00:00:00Z", [2]),
        ("2024-06-01T00:00:00Z", "2024-06-30T00:00:00Z", [2, 3, 4]),
        ("2024-06-02T01:00:00+01:00", "2024-06-30", [4, 6]),
        ("2024-05-31", "9999-12-31", [1, 2, 3, 4, 6, 7]),
    ],
)
def test_the_case_date_range_covers_the_whole_end_day_and_an_instant_only_that_instant(
    world: World, start: str, end: str, expected: list[int]
) -> None:
    assert cases(world, start, end) == expected


@pytest.mark.parametrize(("start", "end"), [("2024-06-01", "2024-06-01"), ("2024-06-01", "2024-06-30")])
def test_tickets_and_cases_read_a_date_range_the_same_way(world: World, start: str, end: str) -> None:
    assert tickets(world, ("greaterThanOrEqual", start), ("lessThanOrEqual", end)) == cases(world, start, end)
