"""Source values stored with another type than their column's, exported over real HTTP from a real Azurite.

A value reaches the file as what it is stored as, never as what its column expects: text that reads as a
date or a number stays that text, an Int64 where text is expected stays a number, and each is exported as
its text with a warning. A filter never matches a value of another type than its own, as in Azure,
although Azurite compares them anyway (the row source drops what Azure would not have returned).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.data.tables import EdmType, EntityProperty, TableServiceClient, UpdateMode

from tests.conftest import Api, LocalHost, principal
from tools.synthetic_cases import synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

pytestmark = pytest.mark.integration


def store(tables: TableServiceClient, table: str, org: str, number: int, **props: Any) -> None:
    """Overwrites properties of one loaded entity with values of the given (possibly wrong) types."""
    tables.get_table_client(table).update_entity(
        {"PartitionKey": org, "RowKey": f"{number:010d}", **props}, mode=UpdateMode.MERGE
    )


def export(api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    created = api.post("/exports", json={"format": "CSV", **body})
    assert created.status_code == 202, created.text
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    assert done["status"] == "completed", done
    content = requests.get(done["downloadUrl"], timeout=30).content
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert done["totalRows"] == len(rows)
    return done, rows


def warning(number: int, column: str, found: str, expected: str) -> dict[str, str]:
    return {"record": f"{number:010d}", "column": column, "found": found, "expected": expected}


@pytest.fixture
def agent(local_host: LocalHost, org: str) -> Api:
    return Api(local_host.base_url, principal(org, "agent-1", "import_export_tickets"))


def test_case_values_stored_with_other_types_are_exported_as_their_text_with_a_warning(
    api: Api, org: str, load_cases: Callable[..., int], tables: TableServiceClient
) -> None:
    load_cases(org, 30)
    store(tables, "cases", org, 5, CreatedAt="2024-06-01")  # an Edm.String that reads as a date
    store(tables, "cases", org, 9, SubjectCount="12")  # an Edm.String of digits
    store(tables, "cases", org, 12, CaseNumber=EntityProperty(12, EdmType.INT64))  # a number where text belongs

    done, rows = export(api, {"exportType": "FLAT_FILE"})

    assert done["totalRows"] == 30
    assert (rows[4]["case_created_at"], rows[4]["case_days_open"]) == ("2024-06-01", "")
    assert rows[8]["subject_count"] == "12"
    assert rows[11]["case_number"] == "12"
    assert rows[5]["case_created_at"].endswith("Z") and rows[5]["subject_count"].isdigit()
    assert done["warningSamples"] == [
        warning(5, "case_created_at", "text", "datetime"),
        warning(9, "subject_count", "text", "integer"),
        warning(12, "case_number", "integer", "text"),
    ]
    assert done["warnings"] == 3


@pytest.mark.parametrize("sort", [{}, {"sortField": "created_at", "sortDirection": "desc"}], ids=["unsorted", "sorted"])
def test_a_ticket_whose_creation_time_is_text_that_reads_as_a_time_is_exported_as_that_text(
    agent: Api, org: str, load_tickets: Callable[..., int], tables: TableServiceClient, sort: dict[str, str]
) -> None:
    load_tickets(org, 30)
    store(tables, "tickets", org, 7, CreatedAt="2024-07-01T00:00:00Z")

    done, rows = export(agent, {"dataset": "tickets", "columns": ["ticket_number", "created_at"], **sort})

    by_number = {int(row["ticket_number"]): row["created_at"] for row in rows}
    assert len(by_number) == 30 and by_number[7] == "2024-07-01T00:00:00Z"
    assert (done["warnings"], done["warningSamples"]) == (1, [warning(7, "created_at", "text", "datetime")])
    if sort:  # a value of the wrong type sorts after every time, either way
        assert int(rows[-1]["ticket_number"]) == 7


def test_a_case_whose_creation_time_is_text_is_outside_every_date_range_on_azurite_too(
    api: Api, org: str, load_cases: Callable[..., int], tables: TableServiceClient
) -> None:
    load_cases(org, 40)
    # Azurite evaluates `CreatedAt ge datetime'2024-01-01T00:00:00Z'` as true for this text; Azure does not.
    store(tables, "cases", org, 5, CreatedAt="2024-06-01")
    store(tables, "cases", org, 6, CreatedAt="2024-06-01T00:00:00Z")
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    expected = [
        case["CaseId"]
        for number, case in enumerate(synthetic_cases(org, 40), start=1)
        if number not in (5, 6) and start <= case["CreatedAt"] < end
    ]

    done, rows = export(api, {"exportType": "CUSTOM", "columns": ["case_id"],
                              "dateRange": {"start": "2024-01-01", "end": "2024-12-31"}})  # fmt: skip

    assert [row["case_id"] for row in rows] == expected and expected
    assert done["warnings"] == 0


@pytest.mark.parametrize(
    ("date_filter", "matches"),
    [
        ({"operator": "after", "value": "2024-06-01"}, lambda at: at >= datetime(2024, 6, 2, tzinfo=UTC)),
        ({"operator": "equals", "value": "2024-06-01"}, lambda at: at.date().isoformat() == "2024-06-01"),
        ({"operator": "notEquals", "value": "2024-06-01"}, lambda at: at.date().isoformat() != "2024-06-01"),
    ],
)
def test_a_ticket_whose_creation_time_is_text_matches_no_date_filter_on_azurite_either(
    agent: Api,
    org: str,
    load_tickets: Callable[..., int],
    tables: TableServiceClient,
    date_filter: dict[str, str],
    matches: Callable[[datetime], bool],
) -> None:
    load_tickets(org, 40)
    # Two texts Azurite compares with times as if they were times, and a time on the filter's day.
    stored = {7: "2024-07-01T00:00:00Z", 8: "2024-06-01", 9: datetime(2024, 6, 1, 12, tzinfo=UTC)}
    for number, created in stored.items():
        store(tables, "tickets", org, number, CreatedAt=created)
    created_at = {
        ticket["Number"]: stored.get(ticket["Number"], ticket["CreatedAt"]) for ticket in synthetic_tickets(org, 40)
    }
    expected = [number for number, at in created_at.items() if isinstance(at, datetime) and matches(at)]

    _, rows = export(agent, {"dataset": "tickets", "columns": ["ticket_number"],
                             "filters": [{"field": "created_at", **date_filter}]})  # fmt: skip

    assert [int(row["ticket_number"]) for row in rows] == expected and expected
