"""The job lifecycle beyond polling, through the service on in-memory adapters: events, webhooks,
delete, per-organization limits and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from exports.events import EVENT_ID_HEADER, event_id, verify
from exports.models import CreateExportRequest, ExportRequestMessage, JobStatus, WorkMessage
from exports.ports import LimitRecord
from shared.auth import Principal
from shared.errors import Gone, TooManyRequests, ValidationFailed
from tests.unit.conftest import ORG_A, ORG_B, World, make_world

SECRET = "org-a-secret"
HOOK = "https://hooks.example.com/exports"


def lifecycle_world(**overrides: Any) -> World:
    world = make_world(webhook_secrets={ORG_A: SecretStr(SECRET)}, **overrides)
    world.service.resolve = lambda host, port: ["20.50.60.70"]
    return world


def csv_request(**fields: object) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": "CSV", **fields})


def replay_every_message(world: World, messages: list[WorkMessage]) -> None:
    for message in messages:
        world.service.run_step(message)


def run_recording(world: World) -> list[WorkMessage]:
    """Drains the queue and returns every message that ran, so a test can deliver them all again."""
    ran = []
    while world.queue.messages:
        message = world.queue.pop()
        world.service.run_step(message)
        ran.append(message)
    return ran


# ---- completion events ----------------------------------------------------------------------------


def test_a_completed_export_publishes_one_event_even_when_every_message_is_delivered_twice(
    analyst: Principal,
) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 2_100)
    job, _ = world.service.create(analyst, csv_request())

    ran = run_recording(world)
    replay_every_message(world, ran)
    replay_every_message(world, ran)

    events = world.events.events()
    assert len(events) == 1
    event = events[0]
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and not stored.event_pending
    assert event.id == event_id(job.job_id, JobStatus.COMPLETED)
    assert (event.type, event.status, event.row_count, event.organization_id) == (
        "export.completed", JobStatus.COMPLETED, 2_100, ORG_A)
    assert event.file_size_bytes == stored.file_size_bytes and event.occurred_at == stored.completed_at


def test_a_crash_between_saving_completed_and_publishing_is_repaired_by_the_retried_message(
    analyst: Principal,
) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 1_500)
    job, _ = world.service.create(analyst, csv_request())
    world.step()  # counting, and the first of two batches
    last = world.queue.pop()
    world.events.fail_publishing = 1

    with pytest.raises(ConnectionError):
        world.service.run_step(last)

    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.event_pending
    assert world.events.events() == []
    world.service.run_step(last, attempt=2)  # the queue delivers the failed message again
    world.service.run_step(last, attempt=3)
    assert [e.id for e in world.events.events()] == [event_id(job.job_id, JobStatus.COMPLETED)]


def test_the_timer_publishes_an_event_a_crash_left_pending_and_consumers_see_one_id(analyst: Principal) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 1_500)
    job, _ = world.service.create(analyst, csv_request())
    world.step()  # counting, and the first of two batches
    world.events.fail_publishing = 1
    with pytest.raises(ConnectionError):
        world.service.run_step(world.queue.pop(), attempt=world.service.settings.max_attempts - 1)
    assert world.service.republish_pending() == 0  # too recent: the message's retry may still do it

    world.clock.advance(timedelta(minutes=5))
    assert world.service.republish_pending() == 1
    assert world.service.republish_pending() == 0
    assert {e.id for e in world.events.events()} == {event_id(job.job_id, JobStatus.COMPLETED)}


def test_failed_and_cancelled_exports_publish_their_own_events(analyst: Principal) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 10)
    cancelled, _ = world.service.create(analyst, csv_request())
    failing, _ = world.service.create(analyst, csv_request())
    world.service.cancel(analyst, cancelled.job_id)
    job = world.jobs.get(ORG_A, failing.job_id)
    assert job is not None
    world.service._fail(job, "The source table is gone.", {})

    by_job = {e.job_id: e for e in world.events.events()}
    assert by_job[cancelled.job_id].type == "export.cancelled"
    assert by_job[failing.job_id].type == "export.failed"
    assert by_job[failing.job_id].error_message == "The source table is gone."
    world.drain()
    assert len(world.events.events()) == 2


def test_a_queue_request_with_a_reply_queue_gets_the_event_there_too() -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 10)
    message = ExportRequestMessage.model_validate(
        {"orgId": ORG_A, "requestId": "r-1", "requestedBy": {"userId": "system-x", "roles": ["access_reports"]},
         "request": {"format": "JSONL"}, "replyQueue": "crm-export-replies"}
    )
    job = world.service.take_request(message)
    assert job is not None
    world.drain()
    assert [e.job_id for e in world.events.events("crm-export-replies")] == [job.job_id]
    assert world.events.events("crm-export-replies") == world.events.events()


def test_a_queue_request_naming_a_reply_queue_that_does_not_exist_is_refused_and_no_queue_is_created() -> None:
    world = lifecycle_world()
    world.events.missing_queues.add("made-up-queue-1")
    message = ExportRequestMessage.model_validate(
        {"orgId": ORG_A, "requestId": "r-3", "requestedBy": {"userId": "system-x", "roles": ["access_reports"]},
         "request": {"format": "CSV"}, "replyQueue": "made-up-queue-1"}
    )

    assert world.service.take_request(message) is None

    [refusal] = world.events.rejections()
    assert refusal.status == 422 and "made-up-queue-1 does not exist" in refusal.reason
    assert set(world.events.rejected) == {"export-events"} and world.jobs.jobs == {}


# ---- webhooks -------------------------------------------------------------------------------------


def completed_with_callback(world: World, analyst: Principal, url: str = HOOK) -> str:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request(callbackUrl=url))
    world.drain()
    return job.job_id


def deliver_all(world: World) -> list[timedelta | None]:
    delays = []
    while world.events.notifications:
        message, delay = world.events.notifications.pop(0)
        delays.append(delay)
        world.clock.advance(delay or timedelta(0))
        world.service.deliver_notification(message)
    return delays


def test_a_callback_gets_the_event_signed_with_the_organizations_secret(analyst: Principal) -> None:
    world = lifecycle_world()
    job_id = completed_with_callback(world, analyst)
    deliver_all(world)

    [(url, body, headers)] = world.webhooks.requests
    assert url == HOOK and body == world.events.events()[0].body()
    assert headers[EVENT_ID_HEADER] == event_id(job_id, JobStatus.COMPLETED)
    assert verify(SECRET, headers, body, destination=HOOK, now=world.clock.now().timestamp())
    job = world.jobs.get(ORG_A, job_id)
    assert job is not None and [(d.attempt, d.outcome, d.status_code) for d in job.deliveries] == [
        (1, "delivered", 200)]


def test_a_failing_receiver_is_retried_with_growing_delays_until_it_answers(analyst: Principal) -> None:
    world = lifecycle_world(webhook_backoff_seconds=30)
    world.webhooks.answers = [500, 503, "unreachable"]
    job_id = completed_with_callback(world, analyst)

    delays = deliver_all(world)

    assert delays == [None, timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    job = world.jobs.get(ORG_A, job_id)
    assert job is not None
    assert [(d.outcome, d.status_code) for d in job.deliveries] == [
        ("retrying", 500), ("retrying", 503), ("retrying", None), ("delivered", 200)]
    assert len({headers[EVENT_ID_HEADER] for _, _, headers in world.webhooks.requests}) == 1


def test_delivery_gives_up_after_the_retry_window(analyst: Principal) -> None:
    world = lifecycle_world(webhook_backoff_seconds=600, webhook_retry_window_seconds=3600)
    world.webhooks.answers = [500] * 20
    job_id = completed_with_callback(world, analyst)

    deliver_all(world)

    job = world.jobs.get(ORG_A, job_id)
    assert job is not None
    # Waits of 600 s and 1,200 s fit the hour; the next, 2,400 s, would not.
    assert [d.outcome for d in job.deliveries] == ["retrying", "retrying", "gave_up"]


def test_a_redelivered_notification_does_not_post_or_record_twice(analyst: Principal) -> None:
    world = lifecycle_world()
    job_id = completed_with_callback(world, analyst)
    message, _ = world.events.notifications[0]
    world.service.deliver_notification(message)
    world.service.deliver_notification(message)
    job = world.jobs.get(ORG_A, job_id)
    assert len(world.webhooks.requests) == 1 and job is not None and len(job.deliveries) == 1


def test_in_azure_a_callback_to_a_private_address_is_refused_at_request_time(analyst: Principal) -> None:
    world = lifecycle_world()
    world.service.resolve = lambda host, port: ["10.0.0.4"]
    with pytest.raises(ValidationFailed, match="public address"):
        world.service.create(analyst, csv_request(callbackUrl="https://intranet.example.com/hook"))
    assert world.jobs.jobs == {}


def test_a_name_re_pointed_to_a_private_address_after_the_request_is_refused_at_delivery(
    analyst: Principal,
) -> None:
    world = lifecycle_world()
    job_id = completed_with_callback(world, analyst)
    world.service.resolve = lambda host, port: ["169.254.169.254"]
    deliver_all(world)
    job = world.jobs.get(ORG_A, job_id)
    assert world.webhooks.requests == []
    assert job is not None and [d.outcome for d in job.deliveries] == ["refused"]


def test_a_delivery_connects_to_the_addresses_the_check_saw_and_signs_for_its_destination(
    analyst: Principal,
) -> None:
    world = lifecycle_world()
    job_id = completed_with_callback(world, analyst)
    world.service.resolve = lambda host, port: ["20.50.60.71", "2603:1000::7"]
    deliver_all(world)

    [target] = world.webhooks.targets
    assert target.addresses == ("20.50.60.71", "2603:1000::7") and target.host == "hooks.example.com"
    [(_, body, headers)] = world.webhooks.requests
    now = world.clock.now().timestamp()
    assert verify(SECRET, headers, body, destination=HOOK, now=now)
    assert not verify(SECRET, headers, body, destination="https://other-receiver.example.com/exports", now=now)
    assert job_id


@pytest.mark.parametrize(
    ("answer", "error"),
    [("timeout", "timeout: no complete answer within 10 s"), (503, "refused: the receiver answered 503"),
     ("unreachable", "unreachable: ")],
)
def test_a_failed_attempt_records_the_delivery_outcome_not_an_exception_class(
    analyst: Principal, answer: int | str, error: str
) -> None:
    world = lifecycle_world()
    world.webhooks.answers = [answer]  # type: ignore[list-item]
    job_id = completed_with_callback(world, analyst)
    deliver_all(world)
    job = world.jobs.get(ORG_A, job_id)
    assert job is not None
    first, second = job.deliveries
    assert first.outcome == "retrying" and first.error is not None and first.error.startswith(error)
    assert "Error" not in first.error and "Exception" not in first.error
    assert second.outcome == "delivered"


def test_a_callback_needs_a_secret_for_the_organization(outsider: Principal) -> None:
    world = lifecycle_world()
    with pytest.raises(ValidationFailed, match="no webhook secret"):
        world.service.create(outsider, csv_request(callbackUrl=HOOK))


def test_in_local_development_a_loopback_http_callback_is_accepted(analyst: Principal) -> None:
    world = lifecycle_world(environment="local")
    job_id = completed_with_callback(world, analyst, "http://127.0.0.1:9/hook")
    deliver_all(world)
    job = world.jobs.get(ORG_A, job_id)
    assert job is not None and [d.outcome for d in job.deliveries] == ["delivered"]


# ---- delete ---------------------------------------------------------------------------------------


def test_deleting_a_completed_export_removes_the_file_and_keeps_the_record(analyst: Principal) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    assert world.sink.exists(job.blob_name)

    world.service.delete(analyst, job.job_id)
    world.service.delete(analyst, job.job_id)  # a repeat is fine

    assert not world.sink.exists(job.blob_name)
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.deleted_at is not None and view.download_url is None
    with pytest.raises(Gone, match="deleted"):
        world.service.download_link(analyst, job.job_id)


def test_deleting_a_running_export_cancels_it_first_and_frees_its_slot(analyst: Principal) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, csv_request())
    world.step()
    world.step()
    assert world.jobs.get(ORG_A, job.job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    assert world.limits.read(ORG_A, "running").job_ids == [job.job_id]

    world.service.delete(analyst, job.job_id)
    world.drain()

    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.deleted_at is not None
    assert job.blob_name not in world.sink.blobs and job.blob_name not in world.sink.staged
    assert world.limits.read(ORG_A, "running").job_ids == []
    assert [e.type for e in world.events.events()] == ["export.cancelled"]


# ---- limits ---------------------------------------------------------------------------------------


def test_over_the_running_cap_a_job_waits_queued_and_starts_when_a_slot_frees(analyst: Principal) -> None:
    world = lifecycle_world(max_running_per_org=2)
    world.load_cases(ORG_A, 2_500)
    jobs = [world.service.create(analyst, csv_request())[0] for _ in range(3)]
    for _ in range(3):
        world.step()

    statuses = [world.jobs.get(ORG_A, j.job_id).status for j in jobs]  # type: ignore[union-attr]
    assert statuses == [JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.QUEUED]
    waiting = world.jobs.get(ORG_A, jobs[2].job_id)
    assert waiting is not None and waiting.checkpoint.seq == 0 and waiting.error_message is None
    assert WorkMessage(org_id=ORG_A, job_id=jobs[2].job_id, seq=0) in world.queue.messages

    world.drain()
    assert {world.jobs.get(ORG_A, j.job_id).status for j in jobs} == {JobStatus.COMPLETED}  # type: ignore[union-attr]
    assert world.limits.read(ORG_A, "running").job_ids == []


def test_another_organization_is_not_held_by_the_cap(analyst: Principal, outsider: Principal) -> None:
    world = lifecycle_world(max_running_per_org=1)
    world.load_cases(ORG_A, 10)
    world.load_cases(ORG_B, 10)
    world.service.create(analyst, csv_request())
    world.service.create(analyst, csv_request())
    other, _ = world.service.create(outsider, csv_request())
    for _ in range(3):
        world.step()
    assert world.jobs.get(ORG_B, other.job_id).status is not JobStatus.QUEUED  # type: ignore[union-attr]


def test_two_workers_racing_for_the_last_slot_cannot_both_take_it(analyst: Principal) -> None:
    world = lifecycle_world(max_running_per_org=2)
    world.load_cases(ORG_A, 10)
    first, second, third = (world.service.create(analyst, csv_request())[0] for _ in range(3))
    world.limits.write(ORG_A, "running", LimitRecord(job_ids=[first.job_id]))
    real_read = world.limits.read
    raced: list[bool] = []

    def read_then_lose_the_race(organization_id: str, key: str) -> LimitRecord:
        record = real_read(organization_id, key)
        if not raced:
            # Between this worker's read and write, another worker takes the last slot for `third`.
            raced.append(True)
            other = world.jobs.get(ORG_A, third.job_id)
            assert other is not None
            assert world.service._take_running_slot(other, WorkMessage(org_id=ORG_A, job_id=third.job_id, seq=0))
        return record

    world.limits.read = read_then_lose_the_race  # type: ignore[method-assign]
    job = world.jobs.get(ORG_A, second.job_id)
    assert job is not None
    took = world.service._take_running_slot(job, WorkMessage(org_id=ORG_A, job_id=second.job_id, seq=0))

    assert not took
    assert sorted(real_read(ORG_A, "running").job_ids) == sorted([first.job_id, third.job_id])


def test_a_slot_a_crash_left_behind_is_reclaimed(analyst: Principal) -> None:
    world = lifecycle_world(max_running_per_org=1)
    world.load_cases(ORG_A, 10)
    world.limits.write(ORG_A, "running", LimitRecord(job_ids=["0000000000000-gone"]))
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    assert world.jobs.get(ORG_A, job.job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]


def test_over_the_daily_quota_a_request_is_refused_until_midnight_utc(analyst: Principal) -> None:
    world = lifecycle_world(daily_quota_per_org=2)
    world.service.create(analyst, csv_request(), idempotency_key="k-1")
    world.service.create(analyst, csv_request(), idempotency_key="k-1")  # a repeat is not a new request
    world.service.create(analyst, csv_request())

    with pytest.raises(TooManyRequests) as refused:
        world.service.create(analyst, csv_request())

    assert refused.value.retry_after_seconds == 12 * 3600 + 1  # the clock says 12:00 UTC
    assert len(world.jobs.jobs) == 2
    world.clock.advance(timedelta(hours=12))
    world.service.create(analyst, csv_request())


# ---- the audit trail ------------------------------------------------------------------------------


def test_a_full_lifecycle_leaves_audit_rows_of_who_did_what(analyst: Principal, admin: Principal) -> None:
    world = lifecycle_world()
    world.load_cases(ORG_A, 25)
    request = csv_request(statuses=["OPEN"], includeInvestigations=False)
    job, _ = world.service.create(analyst, request, client="203.0.113.7")
    world.drain()
    world.service.get(analyst, job.job_id, client="203.0.113.7")
    world.service.get(analyst, job.job_id, client="203.0.113.7")  # a poll within the link's lifetime: no new row
    world.clock.advance(timedelta(minutes=world.service.settings.download_link_minutes))
    world.service.download_link(analyst, job.job_id, client="203.0.113.8")
    world.service.delete(admin, job.job_id, client="198.51.100.2")

    rows = world.service.audit_trail(admin, job.job_id).items

    assert [(r.action, r.actor_id, r.client_address) for r in rows] == [
        ("requested", analyst.user_id, "203.0.113.7"),
        ("completed", "system", None),
        ("downloaded", analyst.user_id, "203.0.113.7"),
        ("downloaded", analyst.user_id, "203.0.113.8"),
        ("deleted", admin.user_id, "198.51.100.2"),
    ]
    assert rows[0].filters == {"format": "CSV", "statuses": ["OPEN"], "includeInvestigations": False}
    assert rows[0].columns[:2] == ["case_id", "case_number"]
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and rows[1].row_count == stored.total_rows


def test_the_audit_trail_is_for_administrators_of_the_organization(
    analyst: Principal, admin: Principal, outsider: Principal
) -> None:
    from shared.errors import Forbidden, NotFound

    world = lifecycle_world()
    job, _ = world.service.create(analyst, csv_request())
    with pytest.raises(Forbidden):
        world.service.audit_trail(analyst, job.job_id)
    with pytest.raises(NotFound):
        world.service.audit_trail(outsider, job.job_id)
    assert [r.action for r in world.service.audit_trail(admin, job.job_id).items] == ["requested"]
