"""Reply queues on Azurite: the service never creates a queue that a message names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.queue import QueueServiceClient

from exports.events import ExportEvent, event_id
from exports.models import JobStatus
from shared.storage.event_queue import AzureEventQueues
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


def an_event() -> ExportEvent:
    return ExportEvent(
        id=event_id("job-1", JobStatus.COMPLETED), type="export.completed", job_id="job-1", organization_id="org-a",
        status=JobStatus.COMPLETED, row_count=1, file_size_bytes=10, error_message=None,
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_an_event_for_a_reply_queue_that_does_not_exist_creates_no_queue(azurite: Azurite) -> None:
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    events = AzureEventQueues(service, "export-events", "export-notifications")
    missing, existing = f"reply-{uuid.uuid4().hex[:12]}", f"reply-{uuid.uuid4().hex[:12]}"
    service.create_queue(existing)

    assert events.queue_exists(existing) and not events.queue_exists(missing)
    events.publish(an_event(), queue=missing)  # no error: the event still went to export-events at publication
    events.publish(an_event(), queue=existing)

    names = {queue.name for queue in service.list_queues()}
    assert missing not in names, "the service created a queue a message named"
    assert service.get_queue_client(existing).get_queue_properties().approximate_message_count == 1
