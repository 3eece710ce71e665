"""A user's journey over real HTTP through the local host, on a real Azurite."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from tests.conftest import ADMIN_HEADERS, Api, LocalHost, principal
from tests.support.stepping import WorkMessages, drained
from tools.synthetic_cases import synthetic_cases

pytestmark = pytest.mark.integration


def parse_csv(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content[3:].decode("utf-8"), newline="")))


def create(api: Api, body: dict[str, object], **kwargs: object) -> requests.Response:
    return api.post("/exports", json=body, **kwargs)


def test_an_export_is_created_runs_in_batches_and_downloads_through_a_sas_link(
    api: Api, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 2_345)

    created = create(api, {"format": "CSV", "exportType": "FLAT_FILE"})

    assert created.status_code == 202, created.text
    job = created.json()
    assert created.headers["Location"] == f"/api/exports/{job['jobId']}"
    assert int(created.headers["Retry-After"]) >= 1
    assert job["status"] == "queued" and job["downloadUrl"] is None
    done = api.wait_for(job["jobId"], "completed", "failed")
    assert done["status"] == "completed", done
    assert done["totalRows"] == done["processedRows"] == 2_345 and done["progress"] == 100
    assert done["downloadUrl"] and done["fileSizeBytes"] > 0 and done["expiresAt"]

    redirect = api.get(f"/exports/{job['jobId']}/download")
    assert redirect.status_code == 302
    file = requests.get(redirect.headers["Location"], timeout=30)  # a plain client, no identity
    assert file.status_code == 200
    assert file.headers["Content-Disposition"].startswith('attachment; filename="cases-flat_file-')
    assert file.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert len(file.content) == done["fileSizeBytes"]
    rows = parse_csv(file.content)
    expected = list(synthetic_cases(org, 2_345))
    assert [row["case_id"] for row in rows] == [entity["CaseId"] for entity in expected]
    assert rows[0]["case_number"] == expected[0]["CaseNumber"]
    assert rows[0]["is_anonymous"] == str(expected[0]["IsAnonymous"]).lower()
    assert rows[0]["case_created_at"] == expected[0]["CreatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_sas_link_is_read_only_and_for_one_blob(api: Api, org: str, load_cases: Callable[..., int]) -> None:
    load_cases(org, 10)
    job = create(api, {"format": "CSV"}).json()
    api.wait_for(job["jobId"], "completed")
    link = api.get(f"/exports/{job['jobId']}/download").headers["Location"]
    assert "sp=r&" in link and "sr=b&" in link
    assert requests.put(link, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=30).status_code == 403
    other_blob = link.replace(".csv?", "-other.csv?")
    assert requests.get(other_blob, timeout=30).status_code == 403


def test_filters_narrow_the_export(api: Api, org: str, load_cases: Callable[..., int]) -> None:
    load_cases(org, 300)
    job = create(
        api, {"format": "JSONL", "statuses": ["CLOSED"], "dateRange": {"start": "2024-01-01", "end": "2024-06-30"}}
    )
    done = api.wait_for(job.json()["jobId"], "completed", "failed")
    expected = [
        e
        for e in synthetic_cases(org, 300)
        if e["Status"] == "CLOSED" and (2024, 1) <= (e["CreatedAt"].year, e["CreatedAt"].month) <= (2024, 6)
    ]
    assert done["totalRows"] == len(expected) > 0


def test_a_cancelled_export_keeps_no_file(
    api: Api, org: str, load_cases: Callable[..., int], blobs: BlobServiceClient
) -> None:
    load_cases(org, 3_000)
    job = create(api, {"format": "CSV"}).json()
    cancelled = api.post(f"/exports/{job['jobId']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(3)  # let the worker see the message
    assert api.get(f"/exports/{job['jobId']}").json()["status"] == "cancelled"
    download = api.get(f"/exports/{job['jobId']}/download")
    assert download.status_code == 409 and download.headers["Content-Type"].startswith("application/problem+json")
    names = [blob.name for blob in blobs.get_container_client("exports").list_blobs()]
    assert not any(name.startswith(job["jobId"]) for name in names)
    assert api.post(f"/exports/{job['jobId']}/cancel").status_code == 200


def completion_events(queue: QueueClient, job_id: str) -> list[dict[str, Any]]:
    """The job's events on the events queue; other jobs' events stay there."""
    found: list[dict[str, Any]] = []
    while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=20)):
        for message in batch:
            event = json.loads(message.content)
            if event["jobId"] == job_id:
                found.append(event)
                queue.delete_message(message)
    return found


def test_a_case_whose_creation_time_holds_text_is_exported_with_that_text_and_a_warning(
    api: Api, org: str, load_cases: Callable[..., int], tables: TableServiceClient
) -> None:
    load_cases(org, 50)
    tables.get_table_client("cases").update_entity(
        {"PartitionKey": org, "RowKey": f"{17:010d}", "CreatedAt": "not a date"}, mode=UpdateMode.MERGE
    )
    job = create(api, {"format": "CSV"}).json()
    done = api.wait_for(job["jobId"], "failed", "completed")
    assert done["status"] == "completed" and done["errorMessage"] is None and done["totalRows"] == 50
    assert done["warnings"] == 1
    assert done["warningSamples"] == [
        {"record": f"{17:010d}", "column": "case_created_at", "found": "text", "expected": "datetime"}
    ]
    rows = parse_csv(requests.get(done["downloadUrl"], timeout=30).content)
    assert rows[16]["case_created_at"] == "not a date"
    assert rows[17]["case_created_at"].endswith("Z")


def test_a_sharded_ticket_export_with_broken_tickets_completes_and_says_so_in_the_job_and_its_event(
    local_host: LocalHost,
    org: str,
    load_tickets: Callable[..., int],
    tables: TableServiceClient,
    queue: Callable[[str], QueueClient],
) -> None:
    load_tickets(org, 2_500)  # over EXPORTS_SHARD_ROWS (1,000 in tests): three shards
    broken = {7: "last tuesday", 1_800: "2024-13-45"}
    for number, text in broken.items():
        tables.get_table_client("tickets").update_entity(
            {"PartitionKey": org, "RowKey": f"{number:010d}", "CreatedAt": text}, mode=UpdateMode.MERGE
        )
    agent = Api(local_host.base_url, principal(org, "agent-1", "import_export_tickets"))
    job = agent.post("/exports", json={"dataset": "tickets", "format": "CSV"}).json()
    assert job["stage"] == "queued"
    done = agent.wait_for(job["jobId"], "failed", "completed")

    assert done["status"] == "completed" and done["totalRows"] == 2_500, done
    samples = [
        {"record": f"{number:010d}", "column": "created_at", "found": "text", "expected": "datetime"}
        for number in broken
    ]
    assert (done["warnings"], done["warningSamples"]) == (2, samples)
    kept = datetime.fromisoformat(done["expiresAt"]) - datetime.fromisoformat(done["completedAt"])
    assert kept == timedelta(hours=72)  # ticket exports are kept 72 hours
    rows = parse_csv(requests.get(done["downloadUrl"], timeout=30).content)
    assert len(rows) == 2_500
    by_number = {int(row["ticket_number"]): row["created_at"] for row in rows}
    assert {number: by_number[number] for number in broken} == broken
    assert rows[0]["created_at"].endswith("Z")
    (event,) = completion_events(queue("export-events"), job["jobId"])
    assert event["status"] == "completed" and event["rowCount"] == 2_500
    assert (event["warnings"], event["warningSamples"]) == (2, samples)


def test_an_idempotency_key_returns_the_same_job(api: Api) -> None:
    first = create(api, {"format": "CSV"}, headers={"Idempotency-Key": "report-2026-11"})
    again = create(api, {"format": "CSV"}, headers={"Idempotency-Key": "report-2026-11"})
    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    different = create(api, {"format": "JSON"}, headers={"Idempotency-Key": "report-2026-11"})
    assert different.status_code == 422
    assert "different export request" in different.json()["detail"]


def test_listing_pages_through_the_callers_jobs_newest_first(api: Api, org: str, api_as: Callable[..., Api]) -> None:
    ids = [create(api, {"format": "CSV"}).json()["jobId"] for _ in range(5)]
    api_as(org, "someone-else", "access_reports").post("/exports", json={"format": "CSV"})
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"pageSize": "2", **({"continuationToken": token} if token else {})}
        page = api.get("/exports", params=params).json()
        seen += [item["jobId"] for item in page["items"]]
        pages += 1
        token = page["continuationToken"]
        if not token:
            break
    assert seen == list(reversed(ids)) and pages >= 3
    completed = api.get("/exports", params={"status": "completed"}).json()["items"]
    assert all(item["status"] == "completed" for item in completed)


def test_a_redelivered_work_message_leaves_the_file_unchanged(
    api: Api,
    org: str,
    load_cases: Callable[..., int],
    blobs: BlobServiceClient,
    queue: Callable[[str], QueueClient],
) -> None:
    load_cases(org, 1_500)
    job = create(api, {"format": "CSV"}).json()
    api.wait_for(job["jobId"], "completed")
    link = api.get(f"/exports/{job['jobId']}/download").headers["Location"]
    before = requests.get(link, timeout=30)
    work = WorkMessages(queue("export-work"), org)
    with drained(api.base_url) as host:
        for seq in range(4):
            work.queue.send_message(f'{{"v":1,"orgId":"{org}","jobId":"{job["jobId"]}","seq":{seq}}}')
        # Each copy runs to its end before the file is read again.
        for message in work.take():
            host.run(message)
    assert len(work.taken) == 4
    after = requests.get(link, timeout=30)
    assert after.content == before.content and after.headers["ETag"] == before.headers["ETag"]


def test_the_timer_deletes_an_expired_file_and_the_download_then_answers_gone(
    api: Api,
    org: str,
    load_cases: Callable[..., int],
    tables: TableServiceClient,
    local_host: LocalHost,
) -> None:
    load_cases(org, 20)
    job = create(api, {"format": "CSV"}).json()
    api.wait_for(job["jobId"], "completed")
    link = api.get(f"/exports/{job['jobId']}/download").headers["Location"]
    # The test moves the job's clock: its expiry is now in the past.
    tables.get_table_client("exportjobs").update_entity(
        {"PartitionKey": org, "RowKey": job["jobId"], "ExpiresAt": datetime.now(UTC) - timedelta(minutes=1)},
        mode=UpdateMode.MERGE,
    )
    assert (
        requests.post(
            f"http://127.0.0.1:{local_host.port}/admin/functions/clean_up_exports",
            json={"input": ""},
            headers=ADMIN_HEADERS,
            timeout=10,
        ).status_code
        == 202
    )
    deadline = time.monotonic() + 30
    while not tables.get_table_client("exportjobs").get_entity(org, job["jobId"]).get("IsCleanedUp"):
        assert time.monotonic() < deadline, "the timer did not clean up"
        time.sleep(0.2)
    gone = api.get(f"/exports/{job['jobId']}/download")
    assert gone.status_code == 410 and gone.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(link, timeout=30).status_code == 404
    assert api.get(f"/exports/{job['jobId']}").json()["downloadUrl"] is None


def test_another_system_can_request_an_export_through_the_request_queue(
    api: Api, org: str, load_cases: Callable[..., int], queue: Callable[[str], QueueClient]
) -> None:
    load_cases(org, 40)
    message = json.dumps(
        {
            "v": 1,
            "orgId": org,
            "requestId": "erp-7",
            "requestedBy": {"userId": "analyst-1", "name": "Ana", "roles": ["access_reports"]},
            "request": {"format": "CSV"},
        }
    )
    requests_queue = queue("export-requests")
    requests_queue.send_message(message)
    requests_queue.send_message(message)  # at-least-once: a duplicate creates nothing new
    deadline = time.monotonic() + 30
    items: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        items = api.get("/exports").json()["items"]
        if items and all(item["status"] == "completed" for item in items):
            break
        time.sleep(0.3)
    assert len(items) == 1 and items[0]["status"] == "completed" and items[0]["totalRows"] == 40


def test_health_and_the_openapi_contract_are_served(anonymous: Api) -> None:
    assert anonymous.get("/health").json() == {"status": "ok", "storage": "reachable"}
    spec = anonymous.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/exports/{jobId}/download" in spec["paths"]
