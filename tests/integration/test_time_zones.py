"""A time zone per export over real HTTP, through the local host and a real Azurite: which rows a date filter in
Europe/Paris selects across a daylight-saving change, and how their times are written in CSV, JSON and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import orjson
import pytest
import requests
from azure.data.tables import TableServiceClient, UpdateMode

from tests.conftest import Api, LocalHost, principal

pytestmark = pytest.mark.integration

TICK = timedelta(microseconds=1)
# Paris's 2024-10-27 has 25 hours: from 2024-10-26T22:00Z up to 2024-10-27T23:00Z. Rows 1-4 sit at its
# edges; row 5 is 02:30 the first time that day (+02:00) and row 6 the second time (+01:00).
CREATED = {
    1: datetime(2024, 10, 26, 22, tzinfo=UTC) - TICK,
    2: datetime(2024, 10, 26, 22, tzinfo=UTC),
    3: datetime(2024, 10, 27, 23, tzinfo=UTC) - TICK,
    4: datetime(2024, 10, 27, 23, tzinfo=UTC),
    5: datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
    6: datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
}
IN_PARIS = {
    2: "2024-10-27T00:00:00+02:00",
    3: "2024-10-27T23:59:59.999999+01:00",
    5: "2024-10-27T02:30:00+02:00",
    6: "2024-10-27T02:30:00+01:00",
}


def created_at(tables: TableServiceClient, table: str, org: str) -> None:
    for number, moment in CREATED.items():
        tables.get_table_client(table).update_entity(
            {"PartitionKey": org, "RowKey": f"{number:010d}", "CreatedAt": moment},
            mode=UpdateMode.MERGE,
        )


def download(api: Api, body: dict[str, Any]) -> bytes:
    created = api.post("/exports", json=body)
    assert created.status_code == 202, created.text
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    assert done["status"] == "completed", done
    return requests.get(done["downloadUrl"], timeout=30).content


@pytest.fixture
def agent(local_host: LocalHost, org: str) -> Api:
    return Api(local_host.base_url, principal(org, "agent-1", "import_export_tickets"))


def test_a_paris_date_filter_on_the_25_hour_day_selects_that_day_and_writes_paris_times(
    api: Api,
    agent: Api,
    org: str,
    load_cases: Callable[..., int],
    load_tickets: Callable[..., int],
    tables: TableServiceClient,
) -> None:
    load_cases(org, len(CREATED))
    load_tickets(org, len(CREATED))
    created_at(tables, "cases", org)
    created_at(tables, "tickets", org)

    # Cases: the date range's bare dates are Paris days.
    body = {
        "format": "CSV",
        "timeZone": "Europe/Paris",
        "exportType": "CUSTOM",
        "columns": ["case_number", "case_created_at"],
        "dateRange": {"start": "2024-10-27", "end": "2024-10-27"},
    }
    rows = list(csv.DictReader(io.StringIO(download(api, body).decode("utf-8-sig"), newline="")))
    assert sorted(row["case_created_at"] for row in rows) == sorted(IN_PARIS.values())
    # The same dates in UTC (the default) are another day: rows 3 and 4 are in it, row 2 is not.
    utc = list(csv.DictReader(io.StringIO(download(api, {**body, "timeZone": "UTC"}).decode("utf-8-sig"))))
    assert sorted(row["case_created_at"] for row in utc) == [
        "2024-10-27T00:30:00Z",
        "2024-10-27T01:30:00Z",
        "2024-10-27T22:59:59.999999Z",
        "2024-10-27T23:00:00Z",
    ]

    # Tickets: every operator reads the same day; a wall-clock time without an offset is Paris time.
    def tickets(fmt: str, *filters: tuple[str, str]) -> bytes:
        return download(
            agent,
            {
                "dataset": "tickets",
                "format": fmt,
                "timeZone": "Europe/Paris",
                "columns": ["ticket_number", "created_at"],
                "filters": [{"field": "created_at", "operator": op, "value": value} for op, value in filters],
            },
        )

    lines = [orjson.loads(line) for line in tickets("JSONL", ("equals", "2024-10-27")).splitlines()]
    assert {line["ticket_number"]: line["created_at"] for line in lines} == IN_PARIS
    before = [orjson.loads(line) for line in tickets("JSONL", ("before", "2024-10-27")).splitlines()]
    assert [line["ticket_number"] for line in before] == [1]
    after = [orjson.loads(line) for line in tickets("JSONL", ("after", "2024-10-27T02:59:59+01:00")).splitlines()]
    assert [line["ticket_number"] for line in after] == [3, 4]
    local = [orjson.loads(line) for line in tickets("JSONL", ("lessThan", "2024-10-27T00:00:00")).splitlines()]
    assert [line["ticket_number"] for line in local] == [1]

    # XLSX: serials are Paris wall-clock times (two rows show 02:30, an hour apart as instants).
    sheet = openpyxl.load_workbook(io.BytesIO(tickets("XLSX", ("equals", "2024-10-27")))).worksheets[0]
    walls = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2)}
    # openpyxl reads a serial to the millisecond: 23:59:59.999999 comes back as the next midnight.
    assert walls == {
        2: datetime(2024, 10, 27, 0, 0),
        3: datetime(2024, 10, 28, 0, 0),
        5: datetime(2024, 10, 27, 2, 30),
        6: datetime(2024, 10, 27, 2, 30),
    }


@pytest.mark.parametrize(
    ("body", "field", "said"),
    [
        ({"timeZone": "Europe/paris"}, "timeZone", "did you mean 'Europe/Paris'"),
        ({"timeZone": "+02:00"}, "timeZone", "such as Europe/Paris"),
        (
            {"timeZone": "Europe/Paris", "dateRange": {"start": "2024-10-27T02:30:00", "end": "2024-12-31"}},
            "dateRange",
            "happens twice",
        ),
        (
            {"timeZone": "Europe/Paris", "dateRange": {"start": "2024-03-31T02:30:00", "end": "2024-12-31"}},
            "dateRange",
            "does not exist",
        ),
    ],
)
def test_an_unknown_zone_or_a_local_time_the_zone_skips_or_repeats_is_a_422(
    api: Api, body: dict[str, Any], field: str, said: str
) -> None:
    response = api.post("/exports", json={"format": "CSV", **body})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == field and said in problem["errors"][0]["message"]
