"""Which storage clients the app builds: a connection string (Azurite, local) signs with the account key; an account
name or service URIs (Azure) use one DefaultAzureCredential and user delegation SAS. No request leaves the process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobServiceClient, UserDelegationKey
from azure.storage.blob._shared.base_client import StorageAccountHostsMixin

from shared.settings import Settings
from shared.storage.clients import StorageClients
from shared.storage.sas import AzureLinkSigner

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={AZURITE_KEY};"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
STORAGE_ENV = (
    "AzureWebJobsStorage",
    "EXPORTS_STORAGE_CONNECTION_STRING",
    "AzureWebJobsStorage__accountName",
    "EXPORTS_STORAGE_ACCOUNT_NAME",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__clientId",
)


class CredentialFactory:
    """Stands in for DefaultAzureCredential: counts constructions; get_token would be a network call, so it fails."""

    def __init__(self) -> None:
        self.made: list[Any] = []
        self.options: list[dict[str, Any]] = []

    def __call__(self, **options: Any) -> Any:
        factory = self
        factory.options.append(options)

        class Credential:
            def get_token(self, *scopes: str, **kwargs: Any) -> Any:
                raise AssertionError("no token is requested while clients are built")

        credential = Credential()
        factory.made.append(credential)
        return credential


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> CredentialFactory:
    factory = CredentialFactory()
    monkeypatch.setattr("azure.identity.DefaultAzureCredential", factory)
    return factory


def settings_from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def all_clients(clients: StorageClients) -> list[StorageAccountHostsMixin | Any]:
    return [clients.blobs, clients.queues, clients.tables]


# ---- a connection string: Azurite locally ---------------------------------------------------------------------


def test_a_connection_string_builds_every_client_from_it_with_its_account_key(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage=AZURITE))

    assert clients.blobs.url.startswith("http://127.0.0.1:10000/devstoreaccount1")
    assert clients.queues.url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    assert clients.tables.url.startswith("http://127.0.0.1:10002/devstoreaccount1")
    assert clients.blobs.credential.account_key == AZURITE_KEY
    assert clients.queues.credential.account_key == AZURITE_KEY
    table_credential = clients.tables.credential
    assert isinstance(table_credential, AzureNamedKeyCredential) and table_credential.named_key.key == AZURITE_KEY
    assert credentials.made == [], "no Microsoft Entra credential is created for a connection string"


def test_the_emulator_shorthand_is_a_connection_string_too(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true"))

    assert clients.blobs.account_name == "devstoreaccount1"
    assert clients.blobs.credential.account_key
    assert credentials.made == []


def test_a_connection_string_wins_over_an_account_name(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(
        settings_from_env(monkeypatch, AzureWebJobsStorage=AZURITE, AzureWebJobsStorage__accountName="prodacct")
    )

    assert all("devstoreaccount1" in client.url for client in all_clients(clients))
    assert credentials.made == []


def test_download_links_from_a_connection_string_are_signed_with_the_account_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage=AZURITE))
    monkeypatch.setattr(
        BlobServiceClient, "get_user_delegation_key", lambda *a, **k: pytest.fail("no delegation key with a key")
    )

    url = AzureLinkSigner(clients.blobs, "exports").sign("b.csv", file_name="a.csv", valid_for=timedelta(minutes=5))

    query = parse_qs(urlsplit(url).query)
    assert "skoid" not in query and query["sp"] == ["r"] and query["sr"] == ["b"]
    assert query["spr"] == ["https,http"], "plain HTTP is allowed only because the emulator's endpoint is HTTP"


# ---- an account name or service URIs: managed identity in Azure ------------------------------------------------


def test_an_account_name_builds_every_client_on_its_public_endpoint_with_one_entra_credential(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage__accountName="prodacct"))

    assert clients.blobs.url == "https://prodacct.blob.core.windows.net/"
    assert clients.queues.url == "https://prodacct.queue.core.windows.net/"
    assert clients.tables.url.rstrip("/") == "https://prodacct.table.core.windows.net"
    assert len(credentials.made) == 1, "one credential, shared, so one token cache"
    (credential,) = credentials.made
    assert clients.blobs.credential is credential and clients.queues.credential is credential
    assert clients.tables.credential is credential
    assert not hasattr(clients.blobs.credential, "account_key")


def test_a_user_assigned_identity_is_the_one_the_host_is_told_about(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(
        settings_from_env(
            monkeypatch, AzureWebJobsStorage__accountName="prodacct", AzureWebJobsStorage__clientId="client-id-1"
        )
    )

    assert clients.queues.credential is credentials.made[0]
    assert credentials.options == [{"managed_identity_client_id": "client-id-1"}]


def test_service_uris_build_the_clients_on_those_endpoints_with_the_entra_credential(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(
        settings_from_env(
            monkeypatch,
            AzureWebJobsStorage__blobServiceUri="https://acct-secondary.blob.core.windows.net",
            AzureWebJobsStorage__queueServiceUri="https://acct.queue.core.chinacloudapi.cn",
            AzureWebJobsStorage__tableServiceUri="https://acct.table.core.usgovcloudapi.net",
        )
    )

    assert clients.blobs.url.startswith("https://acct-secondary.blob.core.windows.net")
    assert clients.queues.url.startswith("https://acct.queue.core.chinacloudapi.cn")
    assert clients.tables.url.startswith("https://acct.table.core.usgovcloudapi.net")
    assert len(credentials.made) == 1 and clients.tables.credential is credentials.made[0]


def test_the_real_credential_is_default_azure_credential_and_building_it_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage__accountName="prodacct"))

    assert isinstance(clients.blobs.credential, DefaultAzureCredential)
    assert clients.queues.credential is clients.blobs.credential


def test_download_links_with_an_identity_are_user_delegation_sas(
    monkeypatch: pytest.MonkeyPatch, credentials: CredentialFactory
) -> None:
    clients = StorageClients(settings_from_env(monkeypatch, AzureWebJobsStorage__accountName="prodacct"))
    asked: list[tuple[datetime, datetime]] = []

    def delegation_key(self: BlobServiceClient, start: datetime, expiry: datetime, **kwargs: Any) -> UserDelegationKey:
        asked.append((start, expiry))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        key.signed_oid, key.signed_tid = "oid-of-the-app", "tenant"
        key.signed_start, key.signed_expiry = "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z"
        key.signed_service, key.signed_version = "b", "2025-01-05"
        key.value = "c2lnbmluZy1rZXk="
        return key

    monkeypatch.setattr(BlobServiceClient, "get_user_delegation_key", delegation_key)
    signer = AzureLinkSigner(clients.blobs, "exports")

    first = signer.sign("b.csv", file_name="a.csv", valid_for=timedelta(minutes=15))
    signer.sign("c.csv", file_name="c.csv", valid_for=timedelta(minutes=15))

    query = parse_qs(urlsplit(first).query)
    assert first.startswith("https://prodacct.blob.core.windows.net/exports/b.csv?")
    assert query["skoid"] == ["oid-of-the-app"] and query["sp"] == ["r"] and query["spr"] == ["https"]
    assert len(asked) == 1, "one delegation key serves many links"
    start, expiry = asked[0]
    assert start.tzinfo is UTC and expiry - start > timedelta(hours=5)
