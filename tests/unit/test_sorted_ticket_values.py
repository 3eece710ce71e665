"""A sorted ticket export passes every value through its sort runs exactly as it was read.

The runs are JSON lines; a value JSON cannot carry as itself (a time, binary data, a double that is not
finite) is named with its type in the line, so the merge reads back what was sorted. Text stays text,
whatever it looks like: a created_at holding "2024-07-01T00:00:00Z" is exported as that text with a
warning, sorted with the other values of the wrong type, as in an unsorted export.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime
from typing import Any

import pytest

from exports.datasets.tickets import decode_entity, encode_entity
from exports.models import CellWarning, CreateExportRequest, JobStatus
from shared.auth import IMPORT_EXPORT_TICKETS, Principal
from tests.unit.conftest import ORG_A, World

AGENT = Principal(ORG_A, "agent-1", "Agent", frozenset({IMPORT_EXPORT_TICKETS}))


def ticket(number: int, created: Any) -> dict[str, Any]:
    return {"PartitionKey": ORG_A, "RowKey": f"{number:010d}", "Number": number, "CreatedAt": created}


def export(world: World, **fields: Any) -> tuple[Any, list[list[str]]]:
    body = {"dataset": "tickets", "format": "CSV", "columns": ["ticket_number", "created_at"], **fields}
    job, _ = world.service.create(AGENT, CreateExportRequest.model_validate(body))
    world.drain()
    view = world.service.get(AGENT, job.job_id)
    assert view.status is JobStatus.COMPLETED, view.error_message
    text = world.sink.blobs[job.blob_name].decode("utf-8-sig")
    return view, list(csv.reader(io.StringIO(text, newline="")))[1:]


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_text_that_reads_as_a_time_stays_text_with_a_warning_after_a_sort(world: World, direction: str) -> None:
    world.source.add(
        "tickets",
        [
            ticket(1, datetime(2024, 5, 1, tzinfo=UTC)),
            ticket(2, "2024-07-01T00:00:00Z"),
            ticket(3, datetime(2024, 8, 1, tzinfo=UTC)),
            ticket(4, None),
        ],
    )
    unsorted_view, unsorted_rows = export(world)
    view, rows = export(world, sortField="created_at", sortDirection=direction)
    times = ["1", "3"] if direction == "asc" else ["3", "1"]
    # The text sorts after every time, either way, and before the empty value.
    assert [row[0] for row in rows] == [*times, "2", "4"]
    assert dict(rows)["2"] == dict(unsorted_rows)["2"] == "2024-07-01T00:00:00Z"
    expected = [CellWarning(record="0000000002", column="created_at", found="text", expected="datetime")]
    assert (view.warnings, view.warning_samples) == (unsorted_view.warnings, unsorted_view.warning_samples)
    assert (view.warnings, view.warning_samples) == (1, expected)


def test_a_run_line_reads_back_every_value_with_its_type() -> None:
    entity = {
        "RowKey": "0000000001",
        "Title": "2024-07-01",
        "CreatedAt": "2024-07-01T00:00:00Z",
        "UpdatedAt": datetime(2024, 6, 1, 1, 2, 3, 456789, tzinfo=UTC),
        "ClosedAt": datetime(2024, 6, 1, 1, 2, 3),
        "Due": date(2024, 6, 2),
        "Number": 7,
        "Ratio": 2.0,
        "Blob": b"\x00\xff",
        "Flag": True,
        "Missing": None,
    }
    back = decode_entity(encode_entity(entity))
    assert back == entity
    assert [type(back[name]) for name in entity] == [type(value) for value in entity.values()]


def test_a_double_that_is_not_finite_survives_a_run() -> None:
    back = decode_entity(encode_entity({"RowKey": "1", "A": math.nan, "B": math.inf, "C": -math.inf}))
    assert math.isnan(back["A"]) and (back["B"], back["C"]) == (math.inf, -math.inf)


def test_a_run_written_before_runs_kept_their_types_still_reads_its_times() -> None:
    # A job sorted by the previous version wrote plain objects; its times were ISO 8601 strings.
    back = decode_entity(b'{"RowKey": "1", "CreatedAt": "2024-06-01T00:00:00+00:00", "Title": "x"}')
    assert back == {"RowKey": "1", "CreatedAt": datetime(2024, 6, 1, tzinfo=UTC), "Title": "x"}
