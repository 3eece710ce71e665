"""Download links: read-only, one blob, short-lived, HTTPS-only outside the emulator; the container is private.

The links are made by the same signer the app uses (shared/storage/sas.py), against the session's Azurite,
which checks SAS tokens as Azure does."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.settings import Settings
from shared.storage.sas import AzureLinkSigner

pytestmark = pytest.mark.integration

CONTAINER = "exports"


@pytest.fixture
def container(blobs: BlobServiceClient) -> ContainerClient:
    client = blobs.get_container_client(CONTAINER)
    if not client.exists():
        client.create_container()
    return client


@pytest.fixture
def blob_name(container: ContainerClient) -> str:
    name = f"{uuid.uuid4().hex}.csv"
    container.upload_blob(name, b"case_id\r\n1\r\n")
    return name


def signer(blobs: BlobServiceClient) -> AzureLinkSigner:
    return AzureLinkSigner(blobs, CONTAINER)


def test_a_link_reads_its_one_blob_as_a_named_attachment(blobs: BlobServiceClient, blob_name: str) -> None:
    url = signer(blobs).sign(blob_name, file_name="cases Zoë.csv", valid_for=timedelta(minutes=15))
    response = requests.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"case_id\r\n1\r\n"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="cases Zo?.csv"')
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"] and query["sr"] == ["b"], "read-only, one blob"


def test_an_expired_link_is_refused_by_storage(blobs: BlobServiceClient, blob_name: str) -> None:
    url = signer(blobs).sign(blob_name, file_name="x.csv", valid_for=timedelta(seconds=2))
    assert requests.get(url, timeout=30).status_code == 200
    time.sleep(3)
    refused = requests.get(url, timeout=30)
    assert refused.status_code == 403, refused.text
    assert b"case_id" not in refused.content


def test_a_link_cannot_write_delete_or_list(blobs: BlobServiceClient, blob_name: str) -> None:
    url = signer(blobs).sign(blob_name, file_name="x.csv", valid_for=timedelta(minutes=5))
    headers = {"x-ms-blob-type": "BlockBlob"}
    assert requests.put(url, data=b"overwritten", headers=headers, timeout=30).status_code == 403
    assert requests.delete(url, timeout=30).status_code == 403
    container_url = url.replace(f"/{blob_name}?", "?") + "&restype=container&comp=list"
    assert requests.get(container_url, timeout=30).status_code == 403
    assert requests.get(url, timeout=30).content == b"case_id\r\n1\r\n", "the file is unchanged"


def test_a_link_opens_only_the_blob_it_was_made_for(
    blobs: BlobServiceClient, container: ContainerClient, blob_name: str
) -> None:
    other = f"{uuid.uuid4().hex}.csv"
    container.upload_blob(other, b"someone else's file")
    url = signer(blobs).sign(blob_name, file_name="x.csv", valid_for=timedelta(minutes=5))
    refused = requests.get(url.replace(blob_name, other), timeout=30)
    assert refused.status_code == 403 and b"someone else" not in refused.content


def test_the_container_is_private(blobs: BlobServiceClient, container: ContainerClient, blob_name: str) -> None:
    assert container.get_container_access_policy().get("public_access") is None
    anonymous = requests.get(f"{container.url}/{blob_name}", timeout=30)
    assert anonymous.status_code in (401, 403, 404) and b"case_id" not in anonymous.content
    listing = requests.get(f"{container.url}?restype=container&comp=list", timeout=30)
    assert listing.status_code in (401, 403, 404) and blob_name.encode() not in listing.content


def test_links_are_https_only_outside_the_emulator() -> None:
    key = "a2V5" * 22
    service = BlobServiceClient(
        "https://acct.blob.core.windows.net", credential={"account_name": "acct", "account_key": key}
    )
    url = AzureLinkSigner(service, CONTAINER).sign("f.csv", file_name="f.csv", valid_for=timedelta(minutes=15))
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://") and query["spr"] == ["https"] and query["sp"] == ["r"]


def test_the_link_lifetime_setting_is_bounded_to_one_hour() -> None:
    from pydantic import ValidationError

    base = {"storage_account_name": "acct"}
    assert Settings.model_validate(base).download_link_minutes == 15
    assert Settings.model_validate({**base, "download_link_minutes": 60}).download_link_minutes == 60
    for bad in (0, 61):
        with pytest.raises(ValidationError, match="download_link_minutes"):
            Settings.model_validate({**base, "download_link_minutes": bad})
