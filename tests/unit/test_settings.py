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
    [
        ("EXPORTS_DOWNLOAD_LINK_MINUTES", "61"),
        ("EXPORTS_ROWS_PER_BATCH", "1500"),
        ("EXPORTS_EXPIRY_DAYS", "0"),
        ("EXPORTS_CASE_EXPIRY_HOURS", "0"),
        ("EXPORTS_TICKET_EXPIRY_HOURS", "-1"),
    ],
)
def test_out_of_range_settings_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true", **{name: value})


def test_case_exports_are_kept_7_days_and_ticket_exports_72_hours_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert (default.case_expiry_hours, default.ticket_expiry_hours) == (168, 72)
    chosen = settings(
        monkeypatch,
        AzureWebJobsStorage="UseDevelopmentStorage=true",
        EXPORTS_CASE_EXPIRY_HOURS="240",
        EXPORTS_TICKET_EXPIRY_HOURS="24",
    )
    assert (chosen.case_expiry_hours, chosen.ticket_expiry_hours) == (240, 24)


def test_the_old_expiry_days_setting_still_sets_the_case_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    old = settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true", EXPORTS_EXPIRY_DAYS="14")
    assert (old.case_expiry_hours, old.ticket_expiry_hours) == (336, 72)
    with pytest.raises(ValidationError, match=r"EXPORTS_EXPIRY_DAYS .* and EXPORTS_CASE_EXPIRY_HOURS disagree"):
        settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true", EXPORTS_CASE_EXPIRY_HOURS="100")
