from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from tests.conftest import Api, LocalHost, principal
from tests.support.azurite import Azurite
from tools.load_cases import load, loader_client

pytestmark = pytest.mark.integration


@pytest.fixture
def org() -> str:
    """A fresh organization per test, so tests never see each other's jobs or rows."""
    return f"org-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tables(azurite: Azurite) -> TableServiceClient:
    return loader_client(azurite.connection_string)


@pytest.fixture
def blobs(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def queue(azurite: Azurite) -> Callable[[str], QueueClient]:
    def client(name: str) -> QueueClient:
        return QueueClient.from_connection_string(
            azurite.connection_string,
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )

    return client


@pytest.fixture
def load_cases(tables: TableServiceClient) -> Callable[..., int]:
    def loader(organization_id: str, rows: int, **kwargs: Any) -> int:
        return load(tables, "cases", organization_id, rows, **kwargs)

    return loader


@pytest.fixture
def api(local_host: LocalHost, org: str) -> Api:
    """An analyst of `org` who may export cases."""
    return Api(local_host.base_url, principal(org, "analyst-1", "access_reports", name="Ana Lyst"))


@pytest.fixture
def api_as(local_host: LocalHost) -> Callable[..., Api]:
    def make(org: str, user: str, *roles: str) -> Api:
        return Api(local_host.base_url, principal(org, user, *roles))

    return make


@pytest.fixture
def anonymous(local_host: LocalHost) -> Api:
    return Api(local_host.base_url, None)


@pytest.fixture
def load_tickets(tables: TableServiceClient) -> Callable[..., int]:
    from tools.load_cases import load_tickets as loader

    def load_for(organization_id: str, rows: int, **kwargs: Any) -> int:
        return loader(tables, "tickets", organization_id, rows, **kwargs)

    return load_for


@pytest.fixture
def admin_api(local_host: LocalHost, org: str) -> Api:
    """An administrator of `org`: every permission."""
    return Api(
        local_host.base_url,
        principal(org, "admin-1", "access_reports", "import_export_tickets", "manage_system_settings", name="Ad Min"),
    )
