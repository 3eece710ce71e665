"""Long filter lists export exactly the matching rows while no query holds more than 15 comparisons.

The fake row source refuses a query Table storage would refuse (tests/support/fakes.py), so these
exports would fail if a dataset still sent one `or` chain per list.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest

from exports import datasets
from exports.datasets.cases import CasePlan
from exports.models import CreateExportRequest, ExportJob, JobStatus
from exports.ports import KEY
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, Principal
from shared.storage.table_query import CONDITION_BUDGET, TableLayout, translate
from tests.unit.conftest import ORG_A, World, make_world
from tools.synthetic_cases import reference_ids

PRINCIPAL = Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS, IMPORT_EXPORT_TICKETS}))


def other_ids(count: int, seed: str) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def exported(world: World, body: dict[str, Any]) -> tuple[ExportJob, list[dict[str, Any]]]:
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate({"format": "JSONL", **body}))
    world.drain()
    stored = world.service.get(PRINCIPAL, job.job_id)
    assert stored.status is JobStatus.COMPLETED, stored.error_message
    rows = [orjson.loads(line) for line in world.sink.blobs[job.blob_name].splitlines()]
    assert stored.total_rows == len(rows)
    return job, rows


def longest_case_lists(*, broad: bool = False) -> dict[str, Any]:
    """50 statuses and 200 of each id list (650 values), naming some of the data's values among others."""
    refs = reference_ids(1)
    named = 4 if broad else 3
    return {
        "statuses": ["OPEN", "NEW", "CLOSED", "IN_PROGRESS"][:named] + [f"STATUS_{n}" for n in range(50 - named)],
        "categories": refs["categories"][:named] + other_ids(200 - named, "categories"),
        "businessUnits": refs["business_units"][1:] + other_ids(197, "units"),
        "locations": refs["locations"][:4] + other_ids(196, "locations"),
        "dateRange": {"start": "2023-06-01" if not broad else "2020-01-01", "end": "2025-05-31"},
    }


def matches_case_lists(case: dict[str, Any], lists: dict[str, Any]) -> bool:
    return (
        case["Status"] in lists["statuses"]
        and case["CategoryId"] in lists["categories"]
        and case["BusinessUnitId"] in lists["businessUnits"]
        and case["LocationId"] in lists["locations"]
        and lists["dateRange"]["start"] <= case["CreatedAt"].date().isoformat() <= lists["dateRange"]["end"]
    )


@pytest.mark.parametrize(("count", "broad"), [(400, False), (3_500, True)])
def test_650_values_in_the_case_lists_export_exactly_the_matching_cases(count: int, broad: bool) -> None:
    world = make_world()
    cases = world.load_cases(ORG_A, count)
    lists = longest_case_lists(broad=broad)
    expected = [case["CaseId"] for case in cases if matches_case_lists(case, lists)]
    assert 0 < len(expected) < len(cases) * 0.6
    if broad:
        assert len(expected) > world.service.settings.rows_per_batch  # resumed from the cursor at least once

    _, rows = exported(world, {"exportType": "CASES_ONLY", **lists})

    assert [row["case_id"] for row in rows] == expected


def test_a_per_record_export_with_long_lists_counts_and_exports_the_same_records() -> None:
    world = make_world()
    cases = world.load_cases(ORG_A, 200)
    lists = longest_case_lists()
    matching = {case["RowKey"] for case in cases if matches_case_lists(case, lists)}
    investigations = world.source.tables["caserecords"][ORG_A]
    expected = [key for key in sorted(investigations) if key.split("|")[0] in matching and "|INV|" in key]

    _, rows = exported(world, {"exportType": "INVESTIGATIONS_ONLY", **lists})

    assert len(rows) == len(expected) > 0
    assert [row["investigation_id"] for row in rows] == [investigations[key]["InvestigationId"] for key in expected]


def plan(body: dict[str, Any]) -> CasePlan:
    world = make_world()
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate({"format": "CSV", **body}))
    found = datasets.plan_for(job)
    assert isinstance(found, CasePlan)
    return found


def test_short_lists_are_still_evaluated_by_table_storage() -> None:
    refs = reference_ids(1)
    short = plan({"statuses": ["OPEN", "NEW"], "categories": refs["categories"][:5], "locations": refs["locations"]})
    translated = translate(short.case_query((KEY,)), None, TableLayout())
    assert [condition.prop for condition in translated.table_query.conditions] == ["Status", "CategoryId", "LocationId"]
    assert translated.left == ()
    assert translated.table_query.select == ("RowKey",)


def test_lists_that_do_not_fit_are_read_and_evaluated_by_the_worker() -> None:
    lists = longest_case_lists()
    mixed = plan({**lists, "statuses": ["OPEN", "NEW"], "businessUnits": lists["businessUnits"][:3]})
    translated = translate(mixed.case_query((KEY,)), None, TableLayout())
    pushed = translated.table_query.conditions
    assert sum(condition.comparisons for condition in pushed) <= CONDITION_BUDGET
    assert [condition.prop for condition in pushed] == ["CreatedAt", "CreatedAt", "Status", "BusinessUnitId"]
    assert [condition.prop for condition in translated.left] == ["CategoryId", "LocationId"]
    # The adapter needs the properties it evaluates, also when it only counts, and drops them after.
    assert translated.table_query.select == ("RowKey", "CategoryId", "LocationId")
    assert translated.extra == ("CategoryId", "LocationId")


def test_long_ticket_filter_lists_and_scope_export_exactly_the_matching_tickets() -> None:
    world = make_world()
    tickets = world.load_tickets(ORG_A, 300)
    team = "6f1d5c1e-0000-4000-8000-000000000002"
    numbers = list(range(1, 301, 3))[:100]
    statuses = ["Open", "Pending", "New"] + [f"Status {n}" for n in range(97)]
    filters = [
        {"field": "ticket_number", "operator": "in", "value": ",".join(map(str, numbers))},
        {"field": "status", "operator": "in", "value": ",".join(statuses)},
        *({"field": "priority", "operator": "notEquals", "value": f"P{n}"} for n in range(10)),
        *({"field": "ticket_number", "operator": "greaterThan", "value": str(n)} for n in range(20)),
        {"field": "created_at", "operator": "greaterThanOrEqual", "value": "2024-03-01"},
    ]
    expected = [
        ticket["Number"]
        for ticket in tickets
        if ticket["Number"] in numbers
        and ticket["Status"] in statuses
        and ticket.get("TeamId") == team
        and ticket["Number"] > 19
        and ticket["CreatedAt"].date().isoformat() >= "2024-03-01"
    ]
    assert expected

    _, rows = exported(
        world,
        {"dataset": "tickets", "columns": ["ticket_number"], "filters": filters, "scope": {"teamId": team}},
    )

    assert [row["ticket_number"] for row in rows] == expected
