"""Filters over real HTTP on a real Azurite: ISO 8601 date ranges only, and long lists within Table storage's limit.

Azurite accepts a $filter of any length; real Table storage refuses more than 15 comparisons. These exports
go through the same adapter as in Azure, which counts every $filter it sends, so a query Table storage
would refuse fails here too.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.settings import Settings
from shared.storage.clients import StorageClients
from shared.storage.row_source import TableRowSource, filter_text
from shared.storage.table_filter import FilterTooLong, comparisons
from shared.storage.table_query import Condition
from shared.storage.table_query import TableQuery as SourceQuery
from tests.conftest import Api
from tests.support.azurite import Azurite
from tools.synthetic_cases import reference_ids, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

pytestmark = pytest.mark.integration


def other_ids(count: int, seed: str) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def exported_rows(api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    created = api.post("/exports", json={"format": "JSONL", **body})
    assert created.status_code == 202, created.text
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    assert done["status"] == "completed", done
    file = requests.get(api.get(f"/exports/{done['jobId']}/download").headers["Location"], timeout=30)
    rows = [orjson.loads(line) for line in file.content.splitlines()]
    assert done["totalRows"] == len(rows)
    return done, rows


# ---- dateRange: ISO 8601 text only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "date_range",
    [
        {"start": 0, "end": 86400},
        {"start": "1704067200", "end": "1735603200"},
        {"start": 20240101, "end": 20241231},
        {"start": "2024-01-01T00:00:00.0000001Z", "end": "2024-12-31"},
        {"start": "2024-W01-1", "end": "2024-12-31"},
    ],
)
def test_a_date_range_that_is_not_iso_8601_text_is_a_422(api: Api, date_range: dict[str, Any]) -> None:
    response = api.post("/exports", json={"format": "CSV", "dateRange": date_range})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "ISO 8601" in response.text and "dateRange" in response.text


def test_a_basic_form_date_range_is_read_as_the_dates_it_names(
    api: Api, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 300)
    expected = [
        case["CaseId"]
        for case in synthetic_cases(org, 300)
        if datetime(2024, 1, 1, tzinfo=UTC) <= case["CreatedAt"] < datetime(2024, 7, 1, tzinfo=UTC)
    ]

    _, rows = exported_rows(api, {"exportType": "CASES_ONLY", "dateRange": {"start": "20240101", "end": "20240630"}})

    assert [row["case_id"] for row in rows] == expected and expected


# ---- long lists -----------------------------------------------------------------------------------------


def long_case_lists() -> dict[str, Any]:
    """50 statuses, 200 categories, business units and locations: 650 values, some of them the data's."""
    refs = reference_ids(1)
    return {
        "statuses": ["OPEN", "NEW", "CLOSED"] + [f"STATUS_{n}" for n in range(47)],
        "categories": refs["categories"][:3] + other_ids(197, "categories"),
        "businessUnits": refs["business_units"][1:] + other_ids(197, "units"),
        "locations": refs["locations"][:4] + other_ids(196, "locations"),
    }


def test_650_values_in_the_case_lists_export_exactly_the_matching_cases(
    api: Api, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 600)
    lists = long_case_lists()
    expected = [
        case["CaseId"]
        for case in synthetic_cases(org, 600)
        if case["Status"] in lists["statuses"]
        and case["CategoryId"] in lists["categories"]
        and case["BusinessUnitId"] in lists["businessUnits"]
        and case["LocationId"] in lists["locations"]
        and case["CreatedAt"] >= datetime(2023, 7, 1, tzinfo=UTC)
    ]
    assert 0 < len(expected) < 300

    _, rows = exported_rows(
        api, {"exportType": "CASES_ONLY", "dateRange": {"start": "2023-07-01", "end": "9999-12-31"}, **lists}
    )

    assert [row["case_id"] for row in rows] == expected


def test_long_ticket_filter_lists_export_exactly_the_matching_tickets(
    admin_api: Api, org: str, load_tickets: Callable[..., int]
) -> None:
    load_tickets(org, 300)
    team = "6f1d5c1e-0000-4000-8000-000000000001"
    numbers = list(range(2, 302, 3))[:100]
    statuses = ["Open", "Pending"] + [f"Status {n}" for n in range(98)]
    filters = [
        {"field": "ticket_number", "operator": "in", "value": ",".join(map(str, numbers))},
        {"field": "status", "operator": "in", "value": ",".join(statuses)},
        {"field": "created_at", "operator": "lessThanOrEqual", "value": "2025-06-30"},
    ]
    expected = [
        ticket["Number"]
        for ticket in synthetic_tickets(org, 300)
        if ticket["Number"] in numbers
        and ticket["Status"] in statuses
        and ticket.get("TeamId") == team
        and ticket["CreatedAt"] < datetime(2025, 7, 1, tzinfo=UTC)
    ]
    assert expected

    _, rows = exported_rows(
        admin_api,
        {"dataset": "tickets", "columns": ["ticket_number"], "filters": filters, "scope": {"teamId": team}},
    )

    assert [row["ticket_number"] for row in rows] == expected


def test_the_adapter_refuses_the_one_query_the_case_lists_used_to_be(
    azurite: Azurite, tables: TableServiceClient, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 20)
    lists = long_case_lists()
    old_query = SourceQuery(
        "cases",
        org,
        (
            Condition("CreatedAt", "ge", datetime(2023, 7, 1, tzinfo=UTC)),
            Condition("Status", "in", tuple(lists["statuses"])),
            Condition("CategoryId", "in", tuple(lists["categories"])),
            Condition("BusinessUnitId", "in", tuple(lists["businessUnits"])),
            Condition("LocationId", "in", tuple(lists["locations"])),
        ),
    )
    text = filter_text(old_query, None)
    assert comparisons(text) == 652

    with pytest.raises(FilterTooLong, match="652 comparisons"):
        next(iter(TableRowSource(tables).read_table(old_query, None)))
    # Every table client the app builds counts the $filter of every request, whoever wrote the filter.
    app_tables = StorageClients(Settings(storage_connection_string=azurite.connection_string)).tables
    with pytest.raises(FilterTooLong):
        next(iter(app_tables.get_table_client("cases").query_entities(text)))
    # A 16-comparison filter is one Azurite answers and real Table storage refuses: hence the count.
    sixteen = " or ".join(f"Status eq '{status}'" for status in lists["statuses"][:15])
    assert list(tables.get_table_client("cases").query_entities(f"PartitionKey eq '{org}' and ({sixteen})"))
    with pytest.raises(FilterTooLong):
        list(app_tables.get_table_client("cases").query_entities(f"PartitionKey eq '{org}' and ({sixteen})"))
