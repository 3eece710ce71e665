"""Refused requests from the request queue are answered, once, on the reply queue and the events queue;
only a message that names no one to answer goes to the poison queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from exports.messages import InvalidRequestMessage, read_export_request
from exports.models import ExportRequestMessage
from shared.errors import BadMessage, TooManyRequests
from tests.unit.conftest import ORG_A, World, make_world

REPLIES = "crm-export-replies"


def message(**fields: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "orgId": ORG_A,
        "requestId": "crm-2026-001",
        "requestedBy": {"userId": "crm-system", "name": "CRM", "roles": ["access_reports"]},
        "request": {"format": "CSV"},
        "replyQueue": REPLIES,
        **fields,
    }


def deliver(world: World, document: dict[str, Any], *, times: int = 1) -> list[Any]:
    """What the queue trigger does with the message's bytes, once per delivery."""
    body = orjson.dumps(document)
    return [world.service.take_request(read_export_request(body)) for _ in range(times)]


def only_rejection(world: World) -> Any:
    on_events, on_replies = world.events.rejections(), world.events.rejections(REPLIES)
    assert len(on_events) == 1 and on_replies == on_events, (on_events, on_replies)
    return on_events[0]


def test_a_forbidden_request_is_answered_once_with_403_even_when_delivered_twice() -> None:
    world = make_world()
    forbidden = message(requestedBy={"userId": "crm-system", "roles": ["import_export_tickets"]})

    assert deliver(world, forbidden, times=2) == [None, None]  # no raise: the host deletes the message

    event = only_rejection(world)
    assert (event.type, event.status, event.request_id, event.organization_id) == (
        "export.rejected", 403, "crm-2026-001", ORG_A)
    assert event.requested_by_id == "crm-system" and "access_reports permission" in event.reason
    assert event.retry_at is None and event.retry_after_seconds is None
    assert world.jobs.jobs == {} and world.queue.messages == []


def test_an_invalid_request_is_answered_once_with_422_naming_the_field() -> None:
    world = make_world()
    invalid = message(request={"format": "PDF", "maxInvestigations": 99})

    deliver(world, invalid, times=2)

    event = only_rejection(world)
    assert event.status == 422 and event.reason.startswith("request.format: ")
    assert event.reason.endswith("(and 1 more)")
    assert event.errors is not None
    assert [error.field for error in event.errors] == ["request.format", "request.maxInvestigations"]
    assert world.jobs.jobs == {}


def test_over_the_quota_a_request_is_answered_with_429_and_the_time_the_quota_resets() -> None:
    world = make_world(daily_quota_per_org=1)
    deliver(world, message(requestId="first"))
    over = message(requestId="second")

    deliver(world, over, times=2)

    event = only_rejection(world)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)  # the world's clock says 2026-03-01 12:00 UTC
    assert event.status == 429 and event.retry_at == midnight
    assert event.retry_after_seconds == 12 * 3600 + 1 and "daily limit" in event.reason
    assert len(world.jobs.jobs) == 1

    world.clock.advance(timedelta(hours=12))  # the quota resets: the same message is now taken
    [job] = deliver(world, over)
    assert job is not None and len(world.jobs.jobs) == 2
    assert len(world.events.rejections()) == 1


def test_the_same_refusal_has_the_same_id_and_a_different_one_a_new_id() -> None:
    first, again, corrected = make_world(), make_world(), make_world()
    deliver(first, message(request={"format": "PDF"}))
    again.clock.advance(timedelta(minutes=5))
    deliver(again, message(request={"format": "PDF"}))
    deliver(corrected, message(request={"format": "CSV", "maxInvestigations": 99}))

    assert only_rejection(first).id == only_rejection(again).id
    assert only_rejection(corrected).id != only_rejection(first).id


def test_a_request_accepted_once_is_never_refused_afterwards() -> None:
    world = make_world(daily_quota_per_org=1)
    [job] = deliver(world, message())
    assert job is not None

    # The quota is used up now, and someone re-uses the request id with another, even an invalid, request.
    again = deliver(world, message())
    other = deliver(world, message(request={"format": "JSONL"}))
    invalid = deliver(world, message(request={"format": "PDF"}))
    forbidden = deliver(world, message(requestedBy={"userId": "crm-system", "roles": []}))

    assert {found.job_id for found in again + other + invalid + forbidden if found is not None} == {job.job_id}
    assert None not in again + other + invalid + forbidden
    assert world.events.rejections() == [] and world.events.rejections(REPLIES) == []
    assert len(world.jobs.jobs) == 1


def test_a_storage_error_while_answering_raises_so_the_message_is_retried_and_answered_once() -> None:
    world = make_world()
    forbidden = orjson.dumps(message(requestedBy={"userId": "crm-system", "roles": []}))
    world.events.fail_publishing = 1

    with pytest.raises(ConnectionError):
        world.service.take_request(read_export_request(forbidden))
    assert world.events.rejections() == []

    world.service.take_request(read_export_request(forbidden))  # the host's retry
    world.service.take_request(read_export_request(forbidden))  # and a duplicate copy
    assert only_rejection(world).status == 403


def test_a_transient_429_while_creating_is_retried_not_refused() -> None:
    world = make_world()

    def always_busy(organization_id: str, at: datetime) -> None:
        raise TooManyRequests("Too many exports are being requested at this moment.", retry_after_seconds=1)

    world.service._take_daily_quota = always_busy  # type: ignore[method-assign]
    with pytest.raises(TooManyRequests):
        deliver(world, message())
    assert world.events.rejections() == []


@pytest.mark.parametrize("queue", ["export-work", "export-events-poison", "azure-webjobs-blobtrigger-abc"])
def test_a_reply_queue_of_the_services_own_is_refused_and_answered_on_the_events_queue_only(queue: str) -> None:
    world = make_world()

    deliver(world, message(replyQueue=queue))

    [event] = world.events.rejections()
    assert event.status == 422 and "own queues" in event.reason
    assert set(world.events.rejected) == {"export-events"}


def test_an_unusable_reply_queue_name_is_refused_on_the_events_queue_only() -> None:
    world = make_world()

    deliver(world, message(replyQueue="Not_A_Queue"))

    [event] = world.events.rejections()
    assert event.status == 422 and event.reason.startswith("replyQueue: ")
    assert set(world.events.rejected) == {"export-events"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"this is {not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({**message(), "v": 2}), "schema version"),
        (orjson.dumps({key: value for key, value in message().items() if key != "orgId"}), "orgId: Field required"),
        (orjson.dumps(message(orgId="a/b")), "orgId: String should match pattern"),
        (orjson.dumps(message(requestedBy={"name": "no user id"})), "requestedBy.userId: Field required"),
        (orjson.dumps({key: value for key, value in message().items() if key != "requestId"}), "requestId: Field"),
    ],
)
def test_a_message_that_names_no_one_to_answer_is_a_bad_message_for_the_poison_queue(body: bytes, why: str) -> None:
    with pytest.raises(BadMessage, match=why):
        read_export_request(body)


def test_a_readable_message_is_read_as_the_request_and_an_invalid_one_as_what_is_wrong() -> None:
    assert isinstance(read_export_request(orjson.dumps(message())), ExportRequestMessage)
    invalid = read_export_request(orjson.dumps(message(request={"format": "CSV", "organizationId": "org-b"})))
    assert isinstance(invalid, InvalidRequestMessage)
    assert (invalid.org_id, invalid.request_id, invalid.requested_by_id, invalid.reply_queue) == (
        ORG_A, "crm-2026-001", "crm-system", REPLIES)
    assert invalid.reason == "request.organizationId: Extra inputs are not permitted"
