"""Export files in Blob storage: staged blocks, one commit."""

from __future__ import annotations

from collections.abc import Sequence

from azure.core.exceptions import ResourceNotFoundError
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
