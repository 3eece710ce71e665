"""The create request: seed 000's DTO rules, checked before anything is recorded."""

from __future__ import annotations

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
    start, end = parse(dateRange={"start": "2024-01-01", "end": "2024-01-31"}).date_range.bounds()  # type: ignore[union-attr]
    assert start.isoformat() == "2024-01-01T00:00:00+00:00"
    assert end.isoformat().startswith("2024-01-31T23:59:59.999999")
