"""The one settings class: validated at start, storage by connection string or by identity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings
from shared.storage.clients import StorageClients


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("AzureWebJobsStorage", "AzureWebJobsStorage__accountName", "EXPORTS_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_without_any_storage_setting_the_app_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="storage is not configured"):
        settings(monkeypatch)


def test_an_account_name_means_managed_identity_on_the_public_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    clients = StorageClients(settings(monkeypatch, AzureWebJobsStorage__accountName="acct"))
    assert clients._endpoint("blob") == "https://acct.blob.core.windows.net"
    assert clients._endpoint("table") == "https://acct.table.core.windows.net"


def test_service_uris_may_be_given_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    clients = StorageClients(
        settings(
            monkeypatch,
            AzureWebJobsStorage__blobServiceUri="https://b.example",
            AzureWebJobsStorage__queueServiceUri="https://q.example",
            AzureWebJobsStorage__tableServiceUri="https://t.example",
        )
    )
    assert [clients._endpoint(s) for s in ("blob", "queue", "table")] == [
        "https://b.example",
        "https://q.example",
        "https://t.example",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [("EXPORTS_DOWNLOAD_LINK_MINUTES", "61"), ("EXPORTS_ROWS_PER_BATCH", "1500"), ("EXPORTS_EXPIRY_DAYS", "0")],
)
def test_out_of_range_settings_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true", **{name: value})
