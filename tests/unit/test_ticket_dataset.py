"""The ticket view export (seed 001): snapshot filters, operators, search, scope, sort, columns."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import CreateExportRequest, JobStatus
from shared.auth import IMPORT_EXPORT_TICKETS, Principal
from shared.errors import Forbidden, ValidationFailed
from tests.support.fixed_data import t
from tests.unit.conftest import ORG_A, ORG_B, World, make_world

AGENT = Principal(ORG_A, "agent-1", "Agent", frozenset({IMPORT_EXPORT_TICKETS}))


def ticket(number: int, **props: Any) -> dict[str, Any]:
    return {"PartitionKey": ORG_A, "RowKey": f"{number:010d}", "TicketId": f"t-{number}", "Number": number, **props}


TICKETS = [
    ticket(
        1,
        Title="Printer jam",
        Status="Open",
        Priority="High",
        TeamId="6f1d5c1e-0000-4000-8000-000000000001",
        AssigneeId="9a0e0d4c-0000-4000-8000-000000000001",
        AssigneeName="Zoë",
        CreatedAt=t(2024, 1, 5),
        RequesterName="Ann",
        Tags="hardware",
    ),
    ticket(
        2,
        Title="VPN down",
        Status="Closed",
        Priority="Urgent",
        TeamId="6f1d5c1e-0000-4000-8000-000000000002",
        AssigneeName="bob",
        CreatedAt=t(2024, 2, 1),
        ClosedAt=t(2024, 2, 3),
        RequesterName="Émile",
        CustomFieldsJson='{"product": "Pro"}',
    ),
    ticket(
        3,
        Title="ärger mit VPN",
        Status="Open",
        Priority="Low",
        CreatedAt=t(2024, 2, 1),
        RequesterName="zed",
        Description="the vpn again",
    ),
    ticket(4, Title="", Status="Pending", CreatedAt=t(2024, 3, 9), AssigneeName="Álvaro"),
    ticket(5, Title="apple", Status="Open", Priority="High", CreatedAt=t(2023, 12, 31, 23, 59), AssigneeName="zoë"),
]


@pytest.fixture
def tickets_world(world: World) -> World:
    world.source.add("tickets", TICKETS)
    return world


def export(world: World, **fields: Any) -> tuple[list[str], list[list[Any]]]:
    request = CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", **fields})
    job, _ = world.service.create(AGENT, request)
    world.drain()
    stored = world.service.get(AGENT, job.job_id)
    assert stored.status is JobStatus.COMPLETED, stored.error_message
    import csv
    import io

    text = world.sink.blobs[job.blob_name].decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert stored.total_rows == len(rows) - 1
    return rows[0], rows[1:]


def numbers(world: World, **fields: Any) -> list[int]:
    _, rows = export(world, columns=["ticket_number"], **fields)
    return [int(row[0]) for row in rows]


def f(field: str, operator: str, value: str | None = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def test_a_ticket_export_needs_the_import_export_tickets_permission(tickets_world: World, analyst: Principal) -> None:
    request = CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV"})
    with pytest.raises(Forbidden, match="import_export_tickets"):
        tickets_world.service.create(analyst, request)


def test_the_default_columns_are_the_whole_catalog(tickets_world: World) -> None:
    header, rows = export(tickets_world)
    assert header[:3] == ["ticket_id", "ticket_number", "title"] and len(header) == 16 and len(rows) == 5


def test_chosen_columns_come_in_the_chosen_order(tickets_world: World) -> None:
    header, rows = export(tickets_world, columns=["title", "customFields.product", "ticket_number"])
    assert header == ["title", "customFields.product", "ticket_number"]
    assert rows[1] == ["VPN down", "Pro", "2"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([f("status", "equals", "Open")], [1, 3, 5]),
        ([f("status", "notEquals", "Open")], [2, 4]),
        ([f("title", "contains", "vpn")], [2, 3]),
        ([f("title", "startsWith", "ÄR")], [3]),
        ([f("priority", "in", "High,Urgent")], [1, 2, 5]),
        ([f("priority", "isEmpty")], [4]),
        ([f("title", "isEmpty")], [4]),
        ([f("closed_at", "isNotEmpty")], [2]),
        ([f("ticket_number", "greaterThan", "3")], [4, 5]),
        ([f("ticket_number", "greaterThanOrEqual", "3")], [3, 4, 5]),
        ([f("ticket_number", "lessThan", "2")], [1]),
        ([f("ticket_number", "lessThanOrEqual", "2")], [1, 2]),
        ([f("ticket_number", "in", "2, 4")], [2, 4]),
        ([f("created_at", "before", "2024-01-01")], [5]),
        ([f("created_at", "after", "2024-02-01")], [4]),
        ([f("created_at", "equals", "2024-02-01T00:00:00Z")], [2, 3]),
        ([f("customFields.product", "equals", "Pro")], [2]),
        ([f("status", "equals", "Open"), f("priority", "equals", "High")], [1, 5]),
    ],
)
def test_every_operator_selects_the_right_tickets(
    tickets_world: World, filters: list[dict[str, Any]], expected: list[int]
) -> None:
    assert numbers(tickets_world, filters=filters) == expected


def test_the_search_term_matches_title_description_and_requester_case_insensitively(tickets_world: World) -> None:
    assert numbers(tickets_world, searchTerm="VPN") == [2, 3]
    assert numbers(tickets_world, searchTerm="émile") == [2]


def test_scope_limits_to_a_team_or_an_assignee(tickets_world: World) -> None:
    assert numbers(tickets_world, scope={"teamId": "6f1d5c1e-0000-4000-8000-000000000002"}) == [2]
    assert numbers(tickets_world, scope={"assignedToUserId": "9a0e0d4c-0000-4000-8000-000000000001"}) == [1]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([f("shoe_size", "equals", "9")], "unknown ticket field 'shoe_size'"),
        ([f("ticket_number", "contains", "1")], "operator contains does not apply to integer field"),
        ([f("title", "before", "2024-01-01")], "operator before does not apply to text field"),
        ([f("created_at", "after", "last week")], "is not an ISO 8601 date"),
        ([f("ticket_number", "equals", "one")], "is not one"),
        ([f("status", "equals")], "needs a value"),
        ([f("status", "isEmpty", "x")], "takes no value"),
        ([f("status", "in", ",".join(["x"] * 101))], "at most 100 values"),
    ],
)
def test_a_filter_that_does_not_fit_is_a_clear_422(tickets_world: World, filters: list[Any], message: str) -> None:
    request = CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", "filters": filters})
    with pytest.raises(ValidationFailed, match=message):
        tickets_world.service.create(AGENT, request)


def test_an_unknown_sort_field_or_column_is_a_clear_422(tickets_world: World) -> None:
    for fields in ({"sortField": "mood"}, {"columns": ["title", "mood"]}):
        request = CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", **fields})
        with pytest.raises(ValidationFailed, match="mood"):
            tickets_world.service.create(AGENT, request)


def test_case_options_do_not_apply_to_tickets_and_view_options_not_to_cases() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="statuses apply to the 'cases' dataset only"):
        CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", "statuses": ["Open"]})
    with pytest.raises(ValidationError, match="searchTerm apply to the 'tickets' dataset only"):
        CreateExportRequest.model_validate({"format": "CSV", "searchTerm": "x"})


@pytest.mark.parametrize(
    ("field", "direction", "expected"),
    [
        ("assignee_name", "asc", [4, 2, 1, 5, 3]),  # Álvaro, bob, Zoë, zoë (same letters: exact order), empty
        ("assignee_name", "desc", [5, 1, 2, 4, 3]),
        ("created_at", "asc", [5, 1, 2, 3, 4]),  # 2 and 3 tie: broken by record id
        ("created_at", "desc", [4, 2, 3, 1, 5]),
        ("priority", "asc", [1, 5, 3, 2, 4]),  # High, High (tie -> id), Low, Urgent, then empty
        ("title", "asc", [5, 3, 1, 2, 4]),
    ],
)
def test_sorting_is_stable_with_nulls_last_and_unicode_case_insensitive(
    tickets_world: World, field: str, direction: str, expected: list[int]
) -> None:
    assert numbers(tickets_world, sortField=field, sortDirection=direction) == expected


def test_a_large_sorted_export_is_merged_from_bounded_runs(analyst: Principal) -> None:
    world = make_world(rows_per_batch=1_000, chunk_rows=100, sort_run_bytes=128 * 1024)
    world.load_tickets(ORG_A, 3_500)
    request = CreateExportRequest.model_validate(
        {
            "dataset": "tickets",
            "format": "CSV",
            "sortField": "created_at",
            "sortDirection": "desc",
            "columns": ["ticket_number", "created_at"],
        }
    )
    job, _ = world.service.create(AGENT, request)
    world.step()
    world.step()
    assert any(name.endswith("00000.jsonl") for name in world.runs.runs)
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.checkpoint.sort_runs >= 4
    import csv
    import io

    rows = list(csv.reader(io.StringIO(world.sink.blobs[job.blob_name].decode("utf-8-sig"), newline="")))[1:]
    source = sorted(
        world.source.tables["tickets"][ORG_A].values(), key=lambda e: (-e["CreatedAt"].timestamp(), e["RowKey"])
    )
    assert [int(row[0]) for row in rows] == [e["Number"] for e in source]
    assert world.runs.runs == {}, "runs are deleted once the file is committed"


def test_a_sorted_export_resumed_after_a_crash_is_byte_identical() -> None:
    def run(crash: bool) -> bytes:
        world = make_world(rows_per_batch=1_000, chunk_rows=100, block_size_bytes=64 * 1024, sort_run_bytes=64 * 1024)
        world.load_tickets(ORG_A, 2_500)
        request = CreateExportRequest.model_validate(
            {"dataset": "tickets", "format": "CSV", "sortField": "title", "searchTerm": "a"}
        )
        job, _ = world.service.create(AGENT, request)
        world.drain(limit=3)
        if crash:
            world.sink.fail_after_stages = 1
            message = world.queue.messages[0]
            with pytest.raises(ConnectionError):
                world.step()
            world.service.run_step(message)
        world.drain()
        return world.sink.blobs[job.blob_name]

    assert run(crash=True) == run(crash=False)


def test_tickets_of_another_organization_never_appear(tickets_world: World) -> None:
    tickets_world.source.add("tickets", [dict(TICKETS[0], PartitionKey=ORG_B)])
    assert numbers(tickets_world) == [1, 2, 3, 4, 5]
