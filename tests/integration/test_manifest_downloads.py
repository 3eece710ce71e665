"""The manifest over HTTP: downloaded like the file, and `sha256sum` of the downloaded file prints its hash."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.conftest import Api

pytestmark = pytest.mark.integration

ROWS = 1_500  # two batches with the test host's EXPORTS_ROWS_PER_BATCH=1000, two shards


def download(api: Api, path: str) -> bytes:
    redirect = api.get(path)
    assert redirect.status_code == 302, redirect.text
    response = requests.get(redirect.headers["Location"], timeout=30)
    assert response.status_code == 200
    return response.content


def sha256sum(tmp_path: Path, content: bytes) -> str:
    """What a user runs on the downloaded file."""
    file = tmp_path / "download"
    file.write_bytes(content)
    printed = subprocess.run(["sha256sum", str(file)], check=True, capture_output=True, text=True).stdout
    return printed.split()[0]


@pytest.mark.parametrize(
    "body",
    [
        {"format": "CSV"},
        {"format": "CSV", "compression": "gzip"},
        {"format": "XLSX"},
        {"format": "JSON"},
    ],
    ids=["csv-sharded", "gzip", "xlsx", "json"],
)
def test_sha256sum_of_the_downloaded_file_equals_the_manifests_hash(
    api: Api, org: str, load_cases: Callable[..., int], tmp_path: Path, body: dict[str, Any]
) -> None:
    load_cases(org, ROWS)
    created = api.post("/exports", json={"exportType": "FLAT_FILE", **body})
    assert created.status_code == 202, created.text
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    assert done["status"] == "completed", done

    file = download(api, f"/exports/{done['jobId']}/download")
    manifest_file = download(api, f"/exports/{done['jobId']}/manifest")
    manifest = orjson.loads(manifest_file)

    assert sha256sum(tmp_path, file) == manifest["file"]["sha256"] == hashlib.sha256(file).hexdigest()
    assert manifest["file"]["sizeBytes"] == len(file) == done["fileSizeBytes"]
    assert manifest["file"]["rows"] == ROWS and manifest["exportId"] == done["jobId"]
    assert done["manifest"] == manifest
    assert done["manifestSha256"] == hashlib.sha256(manifest_file).hexdigest()
    if body == {"format": "CSV"}:
        assert [shard["rows"] for shard in manifest["shards"]] == [1_000, 500]


def test_the_audit_trail_records_the_hashes_of_the_file_and_its_manifest(
    api: Api, admin_api: Api, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 20)
    created = api.post("/exports", json={"format": "CSV"})
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    manifest_file = download(api, f"/exports/{done['jobId']}/manifest")

    rows = admin_api.get(f"/exports/{done['jobId']}/audit").json()["items"]
    (completed,) = [row for row in rows if row["action"] == "completed"]
    assert completed["manifestSha256"] == hashlib.sha256(manifest_file).hexdigest() == done["manifestSha256"]
    assert completed["fileSha256"] == done["manifest"]["file"]["sha256"]
    # The manifest holds no data: its link is not a download of the data.
    assert not any("manifest" in (row["detail"] or "") for row in rows)


def test_a_manifest_is_written_once_and_never_replaced(api: Api, org: str, load_cases: Callable[..., int]) -> None:
    load_cases(org, 20)
    created = api.post("/exports", json={"format": "CSV"})
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    link = api.get(f"/exports/{done['jobId']}/manifest").headers["Location"]
    # The link is read-only; the service itself writes with If-None-Match: *, so not even it can replace one.
    assert requests.put(link, data=b"{}", headers={"x-ms-blob-type": "BlockBlob"}, timeout=30).status_code == 403
    assert orjson.loads(requests.get(link, timeout=30).content) == done["manifest"]
