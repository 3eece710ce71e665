"""Every bad input gets a clear problem+json 4xx, or the poison queue; nothing is lost."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from azure.storage.queue import QueueClient

from tests.conftest import Api

pytestmark = pytest.mark.integration


def assert_problem(response: object, status: int, detail_part: str) -> None:
    import requests

    assert isinstance(response, requests.Response)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    assert detail_part in body["detail"], body


def test_a_request_without_a_principal_is_401(anonymous: Api) -> None:
    assert_problem(anonymous.get("/exports"), 401, "X-MS-CLIENT-PRINCIPAL")
    assert_problem(anonymous.post("/exports", json={"format": "CSV"}), 401, "X-MS-CLIENT-PRINCIPAL")


@pytest.mark.parametrize(
    "header",
    [
        "not base64 at all!",
        base64.b64encode(b"{not json").decode(),
        base64.b64encode(b'{"claims": 5}').decode(),
        base64.b64encode(b'{"claims": []}').decode(),
        "eyJjbGFpbXMiOiBbeyJ0eXAiOiAib3JnX2lkIiwgInZh",
    ],
)
def test_a_malformed_principal_is_401(anonymous: Api, header: str) -> None:
    response = anonymous.get("/exports", headers={"X-MS-CLIENT-PRINCIPAL": header})
    assert response.status_code == 401 and response.headers["Content-Type"].startswith("application/problem+json")


def test_a_caller_without_the_permission_is_403(api_as: Callable[..., Api], org: str) -> None:
    assert_problem(api_as(org, "u", "manage_users").post("/exports", json={"format": "CSV"}), 403, "access_reports")


def test_another_organizations_job_is_404_like_a_missing_one(api: Api, api_as: Callable[..., Api]) -> None:
    job = api.post("/exports", json={"format": "CSV"}).json()
    stranger = api_as("org-elsewhere", "analyst-1", "access_reports", "manage_system_settings")
    for method, path in (("GET", ""), ("POST", "/cancel"), ("GET", "/download")):
        response = stranger.request(method, f"/exports/{job['jobId']}{path}")
        assert_problem(response, 404, "No export")
        assert job["jobId"] not in response.text.replace(f"No export {job['jobId']} was found.", "")
    assert_problem(api.get("/exports/0000000000000-ffffffffffffffffffffffffffffffff"), 404, "No export")
    assert stranger.get("/exports", params={"all": "true"}).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "needs a JSON body"),
        (b"[1, 2]", 422, "must be a JSON object"),
        (b'{"format": "CSV", "colour": "blue"}', 422, "colour"),
        (b'{"format": "PDF"}', 422, "format"),
        (b'{"format": "CSV", "maxInvestigations": 11}', 422, "maxInvestigations"),
        (b'{"format": "CSV", "maxInvestigations": 0}', 422, "maxInvestigations"),
        (b'{"format": "CSV", "dateRange": {"start": "2024-05-01", "end": "2024-01-01"}}', 422, "start"),
        (b'{"format": "CSV", "categories": ["not-a-uuid"]}', 422, "categories"),
        (b'{"format": "CSV", "exportType": "EVERYTHING"}', 422, "exportType"),
        (b"{}", 422, "format"),
        (b'{"format": "CSV", "exportType": "CUSTOM", "columns": ["case_id", "shoe_size"]}', 422, "shoe_size"),
        (b'{"format": "CSV", "includeOverflow": "yes please"}', 422, "includeOverflow"),
    ],
)
def test_a_malformed_create_request_is_a_clear_4xx(api: Api, body: bytes, status: int, detail: str) -> None:
    assert_problem(api.post("/exports", data=body, headers={"Content-Type": "application/json"}), status, detail)


def test_an_oversized_body_is_413(api: Api) -> None:
    body = b'{"format": "CSV", "x": "' + b"a" * 70_000 + b'"}'
    assert_problem(api.post("/exports", data=body, headers={"Content-Type": "application/json"}), 413, "limit")


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"status": "sleeping"}, 422, "status"),
        ({"pageSize": "0"}, 422, "pageSize"),
        ({"pageSize": "many"}, 422, "pageSize"),
        ({"continuationToken": "%%%garbage"}, 400, "continuationToken"),
        ({"all": "true"}, 403, "manage_system_settings"),
    ],
)
def test_a_malformed_list_query_is_a_clear_4xx(api: Api, params: dict[str, str], status: int, detail: str) -> None:
    assert_problem(api.get("/exports", params=params), status, detail)


def test_an_unknown_route_is_a_problem_404(api: Api) -> None:
    assert api.get("/nothing-here").status_code == 404


def test_bad_queue_messages_end_in_the_poison_queues_and_disturb_nothing_else(
    api: Api, org: str, queue: Callable[[str], QueueClient]
) -> None:
    job = api.post("/exports", json={"format": "CSV"}).json()
    api.wait_for(job["jobId"], "completed")
    work, work_poison = queue("export-work"), queue("export-work-poison")
    requests_queue, requests_poison = queue("export-requests"), queue("export-requests-poison")
    marker = f"poison-{org}"
    bad_work = [
        f"not json {marker}",
        f'{{"v": 2, "orgId": "{org}", "jobId": "{marker}", "seq": 0}}',
        f'{{"v": 1, "orgId": "{org}", "jobId": "{marker}-missing", "seq": 0}}',
    ]
    # Requests that name no organization or no requester: no one to answer (a refused request that does
    # name them is answered instead, see test_request_refusals.py).
    bad_requests = [
        f'{{"v": 1, "orgId": "{org}", "requestId": "{marker}", "request": {{"format": "CSV"}}}}',
        f'{{"v": 1, "requestId": "{marker}-2", "requestedBy": {{"userId": "u", "roles": ["access_reports"]}}, '
        '"request": {"format": "CSV"}}',
    ]
    for text in bad_work:
        work.send_message(text)
    for text in bad_requests:
        requests_queue.send_message(text)
    deadline = time.monotonic() + 90
    while True:
        poisoned_work = [m.content for m in work_poison.peek_messages(max_messages=32) if marker in m.content]
        poisoned_requests = [m.content for m in requests_poison.peek_messages(max_messages=32) if marker in m.content]
        if len(poisoned_work) == len(bad_work) and len(poisoned_requests) == len(bad_requests):
            break
        assert time.monotonic() < deadline, (poisoned_work, poisoned_requests)
        time.sleep(0.5)
    assert sorted(poisoned_work) == sorted(bad_work)
    assert sorted(poisoned_requests) == sorted(bad_requests)
    assert api.get(f"/exports/{job['jobId']}").json()["status"] == "completed", "nothing else disturbed"
