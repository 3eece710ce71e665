"""Download links: read-only SAS for one blob, short-lived, downloading as a named attachment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

from shared.headers import attachment

# Clocks drift: start the link a little in the past so a fresh link works at once everywhere.
CLOCK_SKEW = timedelta(minutes=2)
USER_DELEGATION_KEY_LIFETIME = timedelta(hours=6)


class AzureLinkSigner:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._service = service
        self._container = container
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_key_expiry = datetime.min.replace(tzinfo=UTC)

    def sign(self, blob_name: str, *, file_name: str, valid_for: timedelta) -> str:
        now = datetime.now(UTC)
        credential = self._service.credential
        signing: dict[str, Any]
        account_key = getattr(credential, "account_key", None)
        if account_key:
            signing = {"account_key": account_key}
        else:
            signing = {"user_delegation_key": self._user_delegation_key(now)}
        blob_url = f"{self._service.url.rstrip('/')}/{self._container}/{blob_name}"
        token = generate_blob_sas(
            account_name=str(self._service.account_name),
            container_name=self._container,
            blob_name=blob_name,
            permission=BlobSasPermissions(read=True),
            start=now - CLOCK_SKEW,
            expiry=now + valid_for,
            # Plain HTTP is only allowed where the endpoint itself is HTTP: the local emulator.
            protocol="https" if blob_url.startswith("https://") else "https,http",
            content_disposition=attachment(file_name),
            **signing,
        )
        return f"{blob_url}?{token}"

    def _user_delegation_key(self, now: datetime) -> UserDelegationKey:
        if self._delegation_key is None or self._delegation_key_expiry - now < timedelta(hours=1):
            expiry = now + USER_DELEGATION_KEY_LIFETIME
            self._delegation_key = self._service.get_user_delegation_key(now - CLOCK_SKEW, expiry)
            self._delegation_key_expiry = expiry
        return self._delegation_key
