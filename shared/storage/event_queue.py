"""Completion and rejection events on the events queue (or a caller's reply queue), and webhook deliveries to make."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy

from exports.events import ExportEvent, RequestRejectedEvent
from exports.models import NotificationMessage

log = logging.getLogger(__name__)


class AzureEventQueues:
    def __init__(self, service: QueueServiceClient, events_queue: str, notifications_queue: str) -> None:
        self._service = service
        self._events_queue = events_queue
        self._notifications = service.get_queue_client(
            notifications_queue, message_encode_policy=TextBase64EncodePolicy()
        )

    def publish(self, event: ExportEvent | RequestRejectedEvent, *, queue: str | None = None) -> None:
        # Base64 like every other queue here, so a queue-triggered function can consume the events as they are.
        client = self._service.get_queue_client(
            queue or self._events_queue, message_encode_policy=TextBase64EncodePolicy()
        )
        body = event.body().decode()
        try:
            client.send_message(body)
        except ResourceNotFoundError:
            if queue is not None and queue != self._events_queue:
                # A reply queue is the requesting system's to create: the service never creates a queue a
                # message names (it could be made to create any number). Checked at intake; gone since then.
                log.warning("reply queue %s does not exist; the event went to %s only", queue, self._events_queue)
                return
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            client.send_message(body)

    def queue_exists(self, name: str) -> bool:
        try:
            self._service.get_queue_client(name).get_queue_properties()
        except ResourceNotFoundError:
            return False
        return True

    def send_notification(self, message: NotificationMessage, *, delay: timedelta | None = None) -> None:
        self._notifications.send_message(
            message.model_dump_json(by_alias=True),
            visibility_timeout=max(0, int(delay.total_seconds())) if delay else None,
        )
