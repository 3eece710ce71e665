"""The work queue: base64 text messages, as host.json's messageEncoding expects."""

from __future__ import annotations

from datetime import timedelta

from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

from exports.models import WorkMessage


class AzureWorkQueue:
    def __init__(self, service: QueueServiceClient, queue_name: str) -> None:
        self._queue: QueueClient = service.get_queue_client(queue_name, message_encode_policy=TextBase64EncodePolicy())

    def send(self, message: WorkMessage, *, delay: timedelta | None = None) -> None:
        self._queue.send_message(
            message.model_dump_json(by_alias=True),
            visibility_timeout=int(delay.total_seconds()) if delay else None,
        )
