"""A refused request on export-requests is answered, once, with an `export.rejected` event on its reply queue
and on export-events, through the local host on Azurite; nothing of it reaches the poison queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from exports.job_ids import new_job_id
from tests.conftest import LocalHost

pytestmark = pytest.mark.integration

ANALYST = {"userId": "crm-system", "name": "CRM nightly", "roles": ["access_reports"]}


def fill_the_daily_quota(tables: TableServiceClient, org: str, quota: int = 100) -> None:
    # The quota counts the day's jobs: as many ids as the host's quota (its default), today and just after
    # midnight UTC, so the quota cannot reset between filling it and the message's turn. Only the keys:
    # the count reads nothing else, and no timer query matches an entity without a Status.
    jobs = tables.get_table_client("exportjobs")
    now = datetime.now(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    for at in (now, tomorrow + timedelta(seconds=1)):
        jobs.submit_transaction([("create", {"PartitionKey": org, "RowKey": new_job_id(at)}) for _ in range(quota)])


def wait_until_taken(requests_queue: QueueClient, *, timeout: float = 60) -> None:
    """Until the host has finished with every message (the count includes messages being processed)."""
    deadline = time.monotonic() + timeout
    while requests_queue.get_queue_properties().approximate_message_count:
        assert time.monotonic() < deadline, "export-requests was not emptied"
        time.sleep(0.3)


def rejections_for(queue: QueueClient, request_id: str) -> list[dict[str, Any]]:
    """Every rejection of one request on a queue; other tests' events stay (they reappear in 20 s)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=20))
        if not batch:
            return found
        for message in batch:
            event = orjson.loads(message.content)
            if event.get("requestId") == request_id:
                found.append(event)
                queue.delete_message(message)


@pytest.mark.parametrize(
    ("refusal", "status", "reason"),
    [
        ("forbidden", 403, "access_reports permission"),
        ("invalid", 422, "request.format: "),
        ("over the quota", 429, "daily limit"),
    ],
)
def test_a_refused_queue_request_is_answered_once_on_its_reply_queue_and_export_events(
    local_host: LocalHost,
    org: str,
    tables: TableServiceClient,
    queue: Callable[[str], QueueClient],
    refusal: str,
    status: int,
    reason: str,
) -> None:
    request_id = f"crm-{uuid.uuid4().hex[:12]}"
    reply_name = f"replies-{uuid.uuid4().hex[:12]}"
    replies = queue(reply_name)
    replies.create_queue()
    message: dict[str, Any] = {
        "v": 1,
        "orgId": org,
        "requestId": request_id,
        "requestedBy": ANALYST,
        "request": {"format": "CSV"},
        "replyQueue": reply_name,
    }
    if refusal == "forbidden":
        message["requestedBy"] = {**ANALYST, "roles": ["import_export_tickets"]}
    elif refusal == "invalid":
        message["request"] = {"format": "PDF"}
    else:
        fill_the_daily_quota(tables, org)
    requests_queue = queue("export-requests")

    for _ in range(2):  # at-least-once delivery: the same message comes again after it was answered
        requests_queue.send_message(orjson.dumps(message).decode())
        wait_until_taken(requests_queue)

    on_replies = rejections_for(replies, request_id)
    on_events = rejections_for(queue("export-events"), request_id)
    assert len(on_replies) == 1, on_replies
    assert on_events == on_replies
    event = on_replies[0]
    assert (event["type"], event["status"], event["organizationId"], event["requestedById"]) == (
        "export.rejected", status, org, "crm-system")
    assert reason in event["reason"] and event["id"].startswith("evt_")
    if status == 429:
        assert event["retryAt"].endswith("T00:00:00Z") and 1 <= event["retryAfterSeconds"] <= 86_401
    else:
        assert event["retryAt"] is None and event["retryAfterSeconds"] is None
    poisoned = queue("export-requests-poison").peek_messages(max_messages=32)
    assert not [m for m in poisoned if request_id in m.content]
    jobs = tables.get_table_client("exportjobs").query_entities("PartitionKey eq @org", parameters={"org": org})
    assert [job for job in jobs if "Status" in job] == []  # only the quota's fillers
