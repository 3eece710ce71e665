"""Sorted runs of sorted exports, as private blobs beside the export files."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient


class AzureRunStore:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._container = service.get_container_client(container)

    def write(self, name: str, data: bytes) -> None:
        self._container.upload_blob(name, data, overwrite=True, length=len(data))

    def read(self, name: str, offset: int, length: int) -> bytes:
        try:
            return bytes(self._container.download_blob(name, offset=offset, length=length).readall())
        except HttpResponseError as error:
            if error.status_code == 416:  # the offset is at the end of the run
                return b""
            raise

    def delete_all(self, prefix: str) -> None:
        for blob in self._container.list_blobs(name_starts_with=prefix):
            with contextlib.suppress(ResourceNotFoundError):
                self._container.delete_blob(blob.name)
