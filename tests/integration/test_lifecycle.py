"""The job lifecycle beyond polling, over real HTTP through the local host on a real Azurite: completion
events, signed webhooks with retries, delete, the daily quota, fairness between organizations, audit."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from exports.events import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, event_id, verify
from exports.models import JobStatus, WorkMessage
from tests.conftest import HOST_ENV, Api, LocalHost, principal
from tests.support.azurite import Azurite
from tests.support.stepping import WorkMessages, drained
from tests.support.webhooks import WebhookReceiver, secret_for
from tools.load_cases import load

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def events_for(queue: QueueClient, job_id: str) -> list[dict[str, Any]]:
    """Every event on the events queue for one job; other tests' events stay (they reappear in 20 s)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=20))
        if not batch:
            return found
        for message in batch:
            event = orjson.loads(message.content)
            if event["jobId"] == job_id:
                found.append(event)
                queue.delete_message(message)


def blob_name(tables: TableServiceClient, org: str, job_id: str) -> str:
    return str(tables.get_table_client("exportjobs").get_entity(org, job_id)["BlobName"])


def test_a_callback_gets_a_signed_event_retried_after_500s_and_the_events_queue_gets_it_once(
    api: Api,
    org: str,
    load_cases: Callable[..., int],
    receiver: WebhookReceiver,
    queue: Callable[[str], QueueClient],
) -> None:
    load_cases(org, 30)
    receiver.answers = [500, 500]
    created = api.post("/exports", json={"format": "CSV", "callbackUrl": receiver.url})
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    done = api.wait_for(job_id, "completed", "failed")
    assert done["status"] == "completed" and done["callbackUrl"] == receiver.url

    requests_seen = receiver.wait_for(3)

    assert {r.headers[EVENT_ID_HEADER] for r in requests_seen} == {event_id(job_id, JobStatus.COMPLETED)}
    assert [r.body for r in requests_seen] == [requests_seen[0].body] * 3
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests_seen)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps  # 1 s, then 2 s (EXPORTS_WEBHOOK_BACKOFF_SECONDS=1)
    last = requests_seen[-1]
    assert verify(secret_for(org), last.headers, last.body, destination=receiver.url)
    assert not verify(secret_for("another-org"), last.headers, last.body, destination=receiver.url)
    event = orjson.loads(last.body)
    assert event["type"] == "export.completed" and event["rowCount"] == 30
    assert event["fileSizeBytes"] == done["fileSizeBytes"] and event["organizationId"] == org
    deadline = time.monotonic() + 10
    while [d["outcome"] for d in api.get(f"/exports/{job_id}").json()["deliveries"]] != [
        "retrying", "retrying", "delivered"
    ]:
        assert time.monotonic() < deadline, api.get(f"/exports/{job_id}").json()["deliveries"]
        time.sleep(0.2)
    assert [e["id"] for e in events_for(queue("export-events"), job_id)] == [event["id"]]
    assert SIGNATURE_HEADER in last.headers and TIMESTAMP_HEADER in last.headers


def test_duplicate_work_messages_after_completion_publish_no_second_event(
    api: Api, org: str, tables: TableServiceClient, queue: Callable[[str], QueueClient]
) -> None:
    load(tables, "cases", org, 1_500, records_table=None)
    job_id = api.post("/exports", json={"format": "JSONL", "exportType": "CASES_ONLY"}).json()["jobId"]
    api.wait_for(job_id, "completed")
    work = queue("export-work")
    for seq in range(3):  # counting, then two batches: every step's message, twice more
        for _ in range(2):
            work.send_message(WorkMessage(org_id=org, job_id=job_id, seq=seq).model_dump_json(by_alias=True))
    deadline = time.monotonic() + 20
    while work.get_queue_properties().approximate_message_count:  # counts messages being processed too
        assert time.monotonic() < deadline
        time.sleep(0.2)

    events = events_for(queue("export-events"), job_id)

    assert [(e["id"], e["status"]) for e in events] == [(event_id(job_id, JobStatus.COMPLETED), "completed")]


def test_deleting_a_completed_export_removes_its_file_and_keeps_the_record(
    api: Api, org: str, load_cases: Callable[..., int], tables: TableServiceClient, blobs: BlobServiceClient
) -> None:
    load_cases(org, 20)
    job_id = api.post("/exports", json={"format": "CSV"}).json()["jobId"]
    api.wait_for(job_id, "completed")
    blob = blobs.get_blob_client("exports", blob_name(tables, org, job_id))
    assert blob.exists()

    deleted = api.request("DELETE", f"/exports/{job_id}")

    assert deleted.status_code == 204, deleted.text
    assert not blob.exists()
    job = api.get(f"/exports/{job_id}").json()
    assert job["status"] == "completed" and job["deletedAt"] and job["downloadUrl"] is None
    gone = api.get(f"/exports/{job_id}/download")
    assert gone.status_code == 410 and gone.headers["Content-Type"].startswith("application/problem+json")
    assert api.request("DELETE", f"/exports/{job_id}").status_code == 204


def test_a_small_export_of_one_organization_finishes_while_a_big_one_of_another_is_mid_export(
    local_host: LocalHost,
    azurite: Azurite,
    tables: TableServiceClient,
    blobs: BlobServiceClient,
    queue: Callable[[str], QueueClient],
) -> None:
    big_org, small_org = f"org-big-{uuid.uuid4().hex[:8]}", f"org-small-{uuid.uuid4().hex[:8]}"
    # Cases only: the big export reads one table. The test host shards above 1,000 rows, at most 16 shards:
    # 17,000 rows are 8 shards of 2,000 and one of 1,000, in batches of EXPORTS_ROWS_PER_BATCH=1000.
    load(tables, "cases", big_org, 17_000, records_table=None)
    load(tables, "cases", small_org, 1_000, records_table=None)
    big_api = Api(local_host.base_url, principal(big_org, "u-big", "access_reports"))
    small_api = Api(local_host.base_url, principal(small_org, "u-small", "access_reports"))
    body = {"format": "JSON", "exportType": "CASES_ONLY"}
    work = {org: WorkMessages(queue("export-work"), org) for org in (big_org, small_org)}

    # The test plays the worker, taking steps first in, first out, as the work queue hands them out.
    with drained(local_host.base_url) as host:
        big = big_api.post("/exports", json=body).json()["jobId"]
        line = work[big_org].take()
        # Harder than requesting both together: the big one has a head start and is already writing batches.
        host.run(line.pop(0))  # counting: one message per shard
        line += work[big_org].take()
        host.run(line.pop(0))  # the first shard's first batch
        line += work[big_org].take()
        assert big_api.get(f"/exports/{big}").json()["processedRows"] == 1_000
        small = small_api.post("/exports", json=body).json()["jobId"]
        line += work[small_org].take()
        for _ in range(20):
            if small_api.get(f"/exports/{small}").json()["status"] in ("completed", "failed", "cancelled"):
                break
            message = line.pop(0)
            host.run(message)
            line += work[message["orgId"]].take()

        small_done = small_api.get(f"/exports/{small}").json()
        big_then = big_api.get(f"/exports/{big}").json()
        assert small_done["status"] == "completed" and small_done["totalRows"] == 1_000, small_done
        assert big_then["status"] == "running" and 0 < big_then["processedRows"] < 17_000, big_then

        # The big one, still running, is deleted: cancelled first, then its file (staged blocks) removed.
        assert big_api.request("DELETE", f"/exports/{big}").status_code == 204
        work[big_org].give_back(line)  # its next step, for the host: it finds the job cancelled
    cancelled = big_api.wait_for(big, "cancelled", timeout=10)
    assert cancelled["deletedAt"] and cancelled["processedRows"] < 17_000
    blob = blobs.get_blob_client("exports", blob_name(tables, big_org, big))
    deadline = time.monotonic() + 15
    while blob.exists() or blob_has_blocks(blob):
        assert time.monotonic() < deadline, "the deleted export's blocks were not removed"
        time.sleep(0.3)


def test_over_the_running_cap_a_job_waits_queued_and_runs_later(
    local_host: LocalHost, org: str, tables: TableServiceClient, queue: Callable[[str], QueueClient]
) -> None:
    load(tables, "cases", org, 2_000, records_table=None)
    caller = Api(local_host.base_url, principal(org, "u-1", "access_reports"))
    body = {"format": "CSV", "exportType": "CASES_ONLY"}
    limits = tables.get_table_client("exportlimits")
    with drained(local_host.base_url) as host:
        jobs = [caller.post("/exports", json=body).json()["jobId"] for _ in range(3)]
        first_steps = {message["jobId"]: message for message in WorkMessages(queue("export-work"), org).take()}
        assert set(first_steps) == set(jobs)
        for job_id in jobs:  # each job's first step, one after the other
            host.run(first_steps[job_id])

        statuses = [caller.get(f"/exports/{job_id}").json()["status"] for job_id in jobs]
        assert statuses == ["running", "running", "queued"]  # EXPORTS_MAX_RUNNING_PER_ORG default: 2
        assert orjson.loads(limits.get_entity(org, "running")["JobIdsJson"]) == jobs[:2]
    # Resumed, the host takes the rest: the first two jobs' next steps, and the third's first step, which
    # the app put back on the queue to look again after EXPORTS_CAP_WAIT_SECONDS.
    for job_id in jobs:
        caller.wait_for(job_id, "completed", "failed")

    recorded = {job_id: tables.get_table_client("exportjobs").get_entity(org, job_id) for job_id in jobs}
    assert [recorded[job_id]["Status"] for job_id in jobs] == ["completed"] * 3
    # The third started only after one of the first two had ended and given its slot up.
    assert recorded[jobs[2]]["StartedAt"] > min(recorded[job_id]["CompletedAt"] for job_id in jobs[:2])
    assert orjson.loads(limits.get_entity(org, "running")["JobIdsJson"]) == []


def blob_has_blocks(blob: Any) -> bool:
    try:
        committed, uncommitted = blob.get_block_list("all")
    except ResourceNotFoundError:  # no blob and no blocks
        return False
    return bool(committed or uncommitted)


def test_a_full_lifecycle_leaves_audit_rows_an_administrator_can_read(
    api: Api, admin_api: Api, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 15)
    created = api.post("/exports", json={"format": "JSONL", "statuses": ["OPEN", "CLOSED"]})
    job_id = created.json()["jobId"]
    api.wait_for(job_id, "completed")
    assert api.get(f"/exports/{job_id}/download").status_code == 302
    assert admin_api.request("DELETE", f"/exports/{job_id}").status_code == 204

    assert api.get(f"/exports/{job_id}/audit").status_code == 403
    trail = admin_api.get(f"/exports/{job_id}/audit")

    assert trail.status_code == 200, trail.text
    rows = trail.json()["items"]
    actions = [(r["action"], r["actorId"]) for r in rows]
    assert actions[0] == ("requested", "analyst-1") and actions[1] == ("completed", "system")
    assert ("downloaded", "analyst-1") in actions and actions[-1] == ("deleted", "admin-1")
    requested = rows[0]
    assert requested["clientAddress"] == "127.0.0.1" and requested["source"] == "http"
    assert requested["filters"] == {"format": "JSONL", "statuses": ["OPEN", "CLOSED"]}
    assert requested["actorName"] == "Ana Lyst" and "case_id" in requested["columns"]
    assert rows[1]["rowCount"] == api.get(f"/exports/{job_id}").json()["totalRows"]


@pytest.fixture(scope="module")
def azure_mode_host(azurite: Azurite) -> Iterator[LocalHost]:
    """HTTP only (its settings must not take other tests' queue messages): Azure rules, a quota of 2."""
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        **HOST_ENV,
        "EXPORTS_ENVIRONMENT": "azure",
        "EXPORTS_DAILY_QUOTA_PER_ORG": "2",
    }
    host = LocalHost(env, "--only", "http")
    yield host
    host.stop()


@pytest.mark.parametrize(
    "url",
    ["https://10.0.0.7/hook", "https://169.254.169.254/metadata", "https://localhost/hook", "http://203.0.113.9/x"],
)
def test_in_azure_mode_a_callback_to_a_private_address_or_over_http_is_refused(
    azure_mode_host: LocalHost, org: str, url: str
) -> None:
    caller = Api(azure_mode_host.base_url, principal(org, "u-1", "access_reports"))
    refused = caller.post("/exports", json={"format": "CSV", "callbackUrl": url})
    assert refused.status_code == 422, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert "callbackUrl" in refused.json()["detail"]


def test_over_the_daily_quota_a_request_is_refused_with_429_and_retry_after(
    azure_mode_host: LocalHost, org: str
) -> None:
    caller = Api(azure_mode_host.base_url, principal(org, "u-1", "access_reports"))
    assert [caller.post("/exports", json={"format": "CSV"}).status_code for _ in range(2)] == [202, 202]

    refused = caller.post("/exports", json={"format": "CSV"})

    assert refused.status_code == 429, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_401
    listed = caller.get("/exports").json()["items"]
    assert len(listed) == 2
