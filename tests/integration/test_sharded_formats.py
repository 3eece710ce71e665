"""Sharded XLSX and gzip exports over HTTP: they download, open, and are the bytes an unsharded host writes."""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
import requests
from azure.data.tables import TableServiceClient

from tests.conftest import HOST_ENV, Api, LocalHost, principal
from tests.support.azurite import Azurite
from tools.load_cases import load, loader_client

pytestmark = pytest.mark.integration

ROWS = 2_500  # three shards on the test host (EXPORTS_SHARD_ROWS=1000)
# Stored values only, none derived from when the job was made: both hosts' files hold the same cells.
COLUMNS = [
    "case_id", "case_number", "case_status", "case_created_at", "case_closed_at", "is_anonymous", "category_name"
]


@pytest.fixture(scope="module")
def unsharded_host() -> Iterator[tuple[LocalHost, TableServiceClient]]:
    """A host that never shards, with its own storage so no other host takes its work."""
    storage = Azurite(in_memory=True).start()
    host = LocalHost({**HOST_ENV, "AzureWebJobsStorage": storage.connection_string, "EXPORTS_MAX_SHARDS": "1"})
    try:
        yield host, loader_client(storage.connection_string)
    finally:
        host.stop()
        storage.stop()


def create(api: Api, body: dict[str, Any]) -> str:
    created = api.post("/exports", json=body)
    assert created.status_code == 202, created.text
    return str(created.json()["jobId"])


def download(api: Api, job_id: str) -> tuple[bytes, dict[str, Any]]:
    done = api.wait_for(job_id, "completed", "failed")
    assert done["status"] == "completed", done
    redirect = api.get(f"/exports/{done['jobId']}/download")
    assert redirect.status_code == 302, redirect.text
    response = requests.get(redirect.headers["Location"], timeout=30)
    assert response.status_code == 200
    return response.content, done


@pytest.fixture(scope="module")
def loaded(azurite: Azurite, unsharded_host: tuple[LocalHost, TableServiceClient]) -> str:
    """One organization with the same cases in both hosts' storage, loaded once for every format."""
    organization = f"org-{uuid.uuid4().hex[:12]}"
    load(loader_client(azurite.connection_string), "cases", organization, ROWS)
    load(unsharded_host[1], "cases", organization, ROWS)
    return organization


@pytest.mark.parametrize(
    "body",
    [{"format": "XLSX"}, {"format": "CSV", "compression": "gzip"}, {"format": "JSON", "compression": "gzip"}],
    ids=["xlsx", "csv-gzip", "json-gzip"],
)
def test_a_sharded_export_downloads_opens_and_equals_an_unsharded_one(
    local_host: LocalHost,
    unsharded_host: tuple[LocalHost, TableServiceClient],
    loaded: str,
    body: dict[str, Any],
) -> None:
    other_host, _ = unsharded_host
    request = {"exportType": "CUSTOM", "columns": COLUMNS, **body}
    sharded_api = Api(local_host.base_url, principal(loaded, "u-1", "access_reports"))
    unsharded_api = Api(other_host.base_url, principal(loaded, "u-1", "access_reports"))
    # Both hosts work at once: requested together, then each awaited.
    requested = [(api, create(api, request)) for api in (sharded_api, unsharded_api)]
    (sharded, sharded_job), (unsharded, unsharded_job) = [download(api, job_id) for api, job_id in requested]
    assert [shard["rows"] for shard in sharded_job["manifest"]["shards"]] == [1_000, 1_000, 500]
    assert unsharded_job["manifest"]["shards"] is None
    assert sharded == unsharded
    assert sharded_job["manifest"]["file"]["sha256"] == unsharded_job["manifest"]["file"]["sha256"]
    if body["format"] == "XLSX":
        workbook = openpyxl.load_workbook(io.BytesIO(sharded), read_only=True)
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
        workbook.close()
        assert len(rows) == 1 + ROWS and rows[1][0] is not None
    else:
        text = gzip.decompress(sharded).decode("utf-8")
        assert len(text.splitlines()) == (1 + ROWS if body["format"] == "CSV" else 2 + ROWS)
