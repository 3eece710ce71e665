"""Export files in Blob storage: staged blocks, one commit."""

from __future__ import annotations

from collections.abc import Sequence

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobServiceClient, ContentSettings


class AzureBlobSink:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._container = service.get_container_client(container)

    def stage(self, blob_name: str, block_id: str, data: bytes) -> None:
        self._container.get_blob_client(blob_name).stage_block(block_id, data, length=len(data))

    def commit(
        self,
        blob_name: str,
        block_ids: Sequence[str],
        *,
        content_type: str,
        content_disposition: str,
        content_encoding: str | None = None,
    ) -> int:
        blob = self._container.get_blob_client(blob_name)
        blob.commit_block_list(
            [BlobBlock(block_id=block_id) for block_id in block_ids],
            content_settings=ContentSettings(
                content_type=content_type,
                content_disposition=content_disposition,
                content_encoding=content_encoding,
            ),
        )
        return int(blob.get_blob_properties().size)

    def discard(self, blob_name: str) -> None:
        blob = self._container.get_blob_client(blob_name)
        try:
            # Committing an empty list first drops uncommitted blocks, which a plain delete leaves behind.
            blob.commit_block_list([])
            blob.delete_blob()
        except ResourceNotFoundError:
            pass

    def exists(self, blob_name: str) -> bool:
        return bool(self._container.get_blob_client(blob_name).exists())

    def read(self, blob_name: str, offset: int, length: int) -> bytes:
        downloader = self._container.get_blob_client(blob_name).download_blob(offset=offset, length=length)
        return bytes(downloader.readall())

    def write_once(self, blob_name: str, data: bytes, *, content_type: str, content_disposition: str) -> bytes:
        blob = self._container.get_blob_client(blob_name)
        try:
            # If-None-Match: * — the service refuses to replace a blob that exists, whoever wrote it.
            blob.upload_blob(
                data,
                overwrite=False,
                content_settings=ContentSettings(content_type=content_type, content_disposition=content_disposition),
            )
        except ResourceExistsError:
            return bytes(blob.download_blob().readall())
        return data
