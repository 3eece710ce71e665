"""The create request: seed 000's DTO rules, checked before anything is recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from exports.models import CreateExportRequest, Dataset, ExportType


def parse(**fields: Any) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": "CSV", **fields})


def test_defaults_follow_the_seed() -> None:
    request = parse()
    assert request.dataset is Dataset.CASES and request.export_type is ExportType.FLAT_FILE
    assert request.include_investigations and request.max_investigations == 3
    assert request.include_tagged_fields and not request.include_overflow


@pytest.mark.parametrize(
    "fields",
    [
        {"maxInvestigations": 0},
        {"maxInvestigations": 11},
        {"categories": ["x"]},
        {"statuses": []},
        {"dateRange": {"start": "2024-02-01", "end": "2024-01-31"}},
        {"dateRange": {"start": "yesterday", "end": "2024-01-31"}},
        {"unknown": 1},
        {"exportType": "CUSTOM"},
        {"columns": ["case_id"]},
        {"sortDirection": "asc"},
        {"dataset": "invoices"},
        {"viewId": "8a3c3f56-3a0e-4a57-9a53-6d9e4c6e7e10"},
        {"statuses": ["x" * 201]},
    ],
)
def test_invalid_requests_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(**fields)


def test_a_date_range_of_bare_dates_covers_whole_days() -> None:
    date_range = parse(dateRange={"start": "2024-01-01", "end": "2024-01-31"}).date_range
    assert date_range is not None
    assert [(op, bound.isoformat()) for op, bound in date_range.comparisons()] == [
        ("ge", "2024-01-01T00:00:00+00:00"),
        ("lt", "2024-02-01T00:00:00+00:00"),
    ]


@pytest.mark.parametrize(
    "date_range",
    [
        {"start": 0, "end": 86400},
        {"start": 1704067200, "end": "2024-12-31"},
        {"start": "2024-01-01", "end": 1735603200.5},
        {"start": "1704067200", "end": "1735603200"},
        {"start": True, "end": "2024-12-31"},
        {"start": "2024-W01-1", "end": "2024-12-31"},
        {"start": "2024-01-01", "end": "2024-366"},
        {"start": "2024-01-01T00:00:00.0000001Z", "end": "2024-12-31"},
        {"start": "2024-01-01", "end": "31/12/2024"},
    ],
)
def test_a_date_range_takes_iso_8601_text_only(date_range: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        parse(dateRange=date_range)


def test_the_basic_form_is_read_as_the_date_it_is_never_as_unix_seconds() -> None:
    date_range = parse(dateRange={"start": "20240101", "end": "20241231"}).date_range
    assert date_range is not None and (date_range.start, date_range.end) == (date(2024, 1, 1), date(2024, 12, 31))


def test_a_date_time_at_midnight_stays_that_instant_and_one_without_offset_is_utc() -> None:
    date_range = parse(dateRange={"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00"}).date_range
    assert date_range is not None
    assert date_range.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert date_range.end == datetime(2024, 1, 31, tzinfo=UTC)
    assert [op for op, _ in date_range.comparisons()] == ["ge", "le"]


def test_a_stored_request_reads_back_as_it_was() -> None:
    for date_range in (
        {"start": "20240101", "end": "2024-12-31"},
        {"start": "2024-01-01T09:30:00.25+02:00", "end": "2024-01-01T10:00:00"},
    ):
        request = parse(dateRange=date_range)
        stored = request.model_dump_json(by_alias=True, exclude_unset=True)  # as the job table keeps it
        assert CreateExportRequest.model_validate_json(stored) == request
