"""A job's request snapshot: stored with its version, read back as accepted, without the API's checks."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from exports.models import CreateExportRequest
from exports.models.request import REQUEST_SNAPSHOT_VERSION, request_from_snapshot
from shared.storage.job_table import JobEntity
from tests.unit.test_export_job import a_job


def stored(request_json: dict[str, object], **entity: object) -> JobEntity:
    row = JobEntity.of(a_job()).to_entity()
    row.update({"RequestJson": orjson.dumps(request_json).decode(), **entity})
    return JobEntity.model_validate(row)


def test_a_job_stores_its_request_with_the_snapshot_version() -> None:
    row = JobEntity.of(a_job()).to_entity()
    assert row["RequestVersion"] == REQUEST_SNAPSHOT_VERSION


def test_a_snapshot_reads_back_the_fields_the_caller_set() -> None:
    request = CreateExportRequest.model_validate({"format": "CSV", "statuses": ["Open"], "csvBom": True})
    back = request_from_snapshot(request.model_dump_json(by_alias=True, exclude_unset=True))
    assert back == request and back.model_fields_set == request.model_fields_set


def test_a_request_the_api_would_refuse_today_is_read_back_as_it_was_accepted() -> None:
    refused_today: dict[str, object] = {"format": "CSV", "dataset": "cases", "statuses": [], "callbackUrl": "ftp://example.com/hook",
                     "sortField": "subject"}
    with pytest.raises(ValidationError):
        CreateExportRequest.model_validate(refused_today)
    job = stored(refused_today).to_job(etag=None)
    assert job.request.statuses == [] and job.request.callback_url == "ftp://example.com/hook"


def test_a_job_stored_before_snapshots_were_versioned_reads_as_version_one() -> None:
    row = JobEntity.of(a_job()).to_entity()
    del row["RequestVersion"]
    assert JobEntity.model_validate(row).to_job(etag=None).request.format.value == "CSV"


def test_a_snapshot_version_this_service_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="version 2"):
        stored({"format": "CSV"}, RequestVersion=2).to_job(etag=None)
