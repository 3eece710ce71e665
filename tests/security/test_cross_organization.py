"""Organization B, with every permission set, reaches for organization A's jobs, tags and files: it gets
nothing. Every route is probed; A's ids answer 404 (or 403 where B lacks the permission anyway), and no
body or header B receives carries anything of A."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient

from tests.conftest import Api
from tests.security.routes import registered_http_routes

pytestmark = pytest.mark.integration

ACCESS, TICKETS, ADMIN = "access_reports", "import_export_tickets", "manage_system_settings"
PERMISSION_SETS: list[tuple[str, ...]] = [
    (),
    (ACCESS,),
    (TICKETS,),
    (ADMIN,),
    (ACCESS, ADMIN),
    (ACCESS, TICKETS, ADMIN),
]
# B's user has the same object id as A's users: only the organization tells them apart.
SHARED_USER_ID = "same-user-in-both-orgs"
TAG_SLOT = 7


@dataclass
class OrgA:
    org: str
    job_ids: list[str]
    blob_names: list[str]
    continuation_token: str
    case_id: str
    tag_marker: str | None
    markers: list[str] = field(default_factory=list)
    schedule_id: str = ""


@dataclass(frozen=True)
class Probe:
    method: str
    route: str  # the route template, as function_app registers it (constraints stripped)
    path: str
    allowed: frozenset[int]
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    # What B itself sent, which an answer may echo without leaking anything (e.g. "No export <id>").
    echoes: tuple[str, ...] = ()


SCHEDULE_BODY = {
    "name": "A's nightly", "export": {"format": "CSV"}, "recurrence": {"frequency": "daily", "time": "06:00"},
}


def tag_body(slot: int, marker: str) -> dict[str, Any]:
    return {
        "sourceEntityType": "CASE",
        "sourceFieldPath": "customFields.riskLevel",
        "tagSlot": slot,
        "columnName": marker,
        "displayLabel": f"Label {marker}",
        "dataType": "TEXT",
    }


@pytest.fixture(scope="module")
def org_a(local_host: Any, azurite: Any) -> Iterator[OrgA]:
    from tests.conftest import principal
    from tools.load_cases import load
    from tools.synthetic_cases import synthetic_cases

    org = f"org-a-{uuid.uuid4().hex}"
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    load(tables, "cases", org, 25)
    analyst = Api(local_host.base_url, principal(org, SHARED_USER_ID, ACCESS, ADMIN, name="A Analyst"))
    job_ids = []
    for fmt in ("CSV", "JSON"):
        created = analyst.post("/exports", json={"format": fmt})
        assert created.status_code == 202, created.text
        job_ids.append(created.json()["jobId"])
    for job_id in job_ids:
        assert analyst.wait_for(job_id, "completed", "failed")["status"] == "completed"
    page = analyst.get("/exports", params={"pageSize": "1"}).json()
    assert page["continuationToken"], page
    jobs_table = tables.get_table_client("exportjobs")
    blob_names = [str(jobs_table.get_entity(org, job_id)["BlobName"]) for job_id in job_ids]
    tag_marker = None
    if ("PUT", "export-fields/tags/{slot}") in registered_http_routes():
        tag_marker = f"secret_{uuid.uuid4().hex[:12]}"
        put = analyst.request("PUT", f"/export-fields/tags/{TAG_SLOT}", json=tag_body(TAG_SLOT, tag_marker))
        assert put.status_code in (200, 201), put.text
    case_id = str(next(iter(synthetic_cases(org, 1)))["CaseId"])
    markers = [org, *job_ids, *blob_names, page["continuationToken"], *([tag_marker] if tag_marker else [])]
    schedule = analyst.post("/export-schedules", json=SCHEDULE_BODY)
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["scheduleId"]
    markers.append(schedule_id)
    yield OrgA(org, job_ids, blob_names, page["continuationToken"], case_id, tag_marker, markers, schedule_id)


def probes(a: OrgA) -> list[Probe]:
    job, token = a.job_ids[0], a.continuation_token
    own_or_forbidden = frozenset({200, 403})
    tag_path = f"/export-fields/tags/{TAG_SLOT}"
    tag_probe_body = tag_body(TAG_SLOT, f"b_{uuid.uuid4().hex[:12]}")
    return [
        Probe("GET", "exports/{jobId}", f"/exports/{job}", frozenset({404}), echoes=(job,)),
        Probe("GET", "exports/{jobId}/download", f"/exports/{job}/download", frozenset({404}), echoes=(job,)),
        Probe("GET", "exports/{jobId}/manifest", f"/exports/{job}/manifest", frozenset({404}), echoes=(job,)),
        Probe(
            "POST",
            "exports/{jobId}/cancel",
            f"/exports/{a.job_ids[1]}/cancel",
            frozenset({404}),
            echoes=(a.job_ids[1],),
        ),
        Probe("GET", "exports/{jobId}/audit", f"/exports/{job}/audit", frozenset({403, 404}), echoes=(job,)),
        # Deleting A's job must be a 404; test_a_still_has_everything_after_b_tried checks it still downloads.
        Probe("DELETE", "exports/{jobId}", f"/exports/{job}", frozenset({404}), echoes=(job,)),
        Probe("GET", "exports", "/exports", frozenset({200})),
        Probe("GET", "exports", "/exports", own_or_forbidden, params={"all": "true"}),
        Probe(
            "GET", "exports", "/exports", frozenset({200, 400}), params={"continuationToken": token, "pageSize": "1"}
        ),
        Probe(
            "GET",
            "exports",
            "/exports",
            frozenset({200, 400, 403}),
            params={"continuationToken": token, "pageSize": "1", "all": "true"},
        ),
        # An organization id from the caller is never taken: not in the body, not in the query.
        Probe("POST", "exports", "/exports", frozenset({403, 422}), body={"format": "CSV", "organizationId": a.org}),
        Probe("POST", "exports", "/exports", frozenset({403, 422}), body={"format": "CSV", "orgId": a.org}),
        Probe(
            "POST",
            "exports",
            "/exports",
            frozenset({202, 403}),
            params={"orgId": a.org, "organizationId": a.org},
            body={"format": "CSV"},
        ),
        Probe("GET", "export-fields/columns", "/export-fields/columns", own_or_forbidden),
        Probe("GET", "export-fields/columns", "/export-fields/columns", frozenset({403, 422}), params={"orgId": a.org}),
        Probe("GET", "export-fields/tags", "/export-fields/tags", own_or_forbidden),
        # A's tag changes are in A's audit rows; B's listing is its own partition, whatever token it sends.
        Probe("GET", "export-fields/tags/audit", "/export-fields/tags/audit", own_or_forbidden),
        Probe(
            "GET",
            "export-fields/tags/audit",
            "/export-fields/tags/audit",
            frozenset({200, 400, 403}),
            params={"continuationToken": token},
        ),
        Probe("GET", "export-fields/tags/{slot}", tag_path, frozenset({403, 404})),
        Probe(
            "PATCH", "export-fields/tags/{slot}", tag_path, frozenset({403, 404}), body={"displayLabel": "B was here"}
        ),
        Probe("DELETE", "export-fields/tags/{slot}", tag_path, frozenset({403, 404})),
        Probe(
            "GET",
            "export-fields/tags/preview",
            "/export-fields/tags/preview",
            frozenset({403, 404}),
            params={"caseId": a.case_id},
            echoes=(a.case_id,),
        ),
        # Writes last: B may make its own tag in the same slot, which must leave A's alone.
        Probe("PUT", "export-fields/tags/{slot}", tag_path, frozenset({201, 403}), body=tag_probe_body),
        Probe(
            "POST",
            "export-fields/tags",
            "/export-fields/tags",
            frozenset({201, 403}),
            body={**tag_body(TAG_SLOT + 1, f"c_{uuid.uuid4().hex[:12]}"), "sourceFieldPath": "customFields.other"},
        ),
        # Scheduled exports: A's schedule is 404 for B on every route; B's list and creations are its own.
        *(
            Probe(method, route, path.format(a.schedule_id), frozenset({404}), echoes=(a.schedule_id,))
            for method, route, path in (
                ("GET", "export-schedules/{scheduleId}", "/export-schedules/{}"),
                ("POST", "export-schedules/{scheduleId}/pause", "/export-schedules/{}/pause"),
                ("POST", "export-schedules/{scheduleId}/resume", "/export-schedules/{}/resume"),
                ("DELETE", "export-schedules/{scheduleId}", "/export-schedules/{}"),
            )
        ),
        Probe("GET", "export-schedules", "/export-schedules", frozenset({200})),
        Probe("GET", "export-schedules", "/export-schedules", own_or_forbidden, params={"all": "true"}),
        Probe("POST", "export-schedules", "/export-schedules", frozenset({403, 422}),
              body={**SCHEDULE_BODY, "orgId": a.org}),
        Probe("POST", "export-schedules", "/export-schedules", frozenset({201, 403}), body=SCHEDULE_BODY),
        # The exports page is static: the same bytes for everyone, nothing of A in them.
        Probe("GET", "page", "/page", frozenset({200})),
        Probe("GET", "page/{asset}", "/page/app.js", frozenset({200})),
        Probe("GET", "health", "/health", frozenset({200})),
        Probe("GET", "openapi.json", "/openapi.json", frozenset({200})),
    ]


def test_the_matrix_probes_every_http_route(org_a: OrgA) -> None:
    probed = {(p.method, p.route) for p in probes(org_a)}
    assert registered_http_routes() <= probed, registered_http_routes() - probed


@pytest.mark.parametrize("roles", PERMISSION_SETS, ids=lambda roles: "+".join(roles) or "no-permission")
def test_another_organization_gets_nothing_of_a_on_any_route(
    org_a: OrgA, api_as: Callable[..., Api], roles: tuple[str, ...]
) -> None:
    b = api_as(f"org-b-{uuid.uuid4().hex}", SHARED_USER_ID, *roles)
    routes = registered_http_routes()
    for probe in probes(org_a):
        if (probe.method, probe.route) not in routes:
            continue  # a route another change has not added yet
        response = b.request(probe.method, probe.path, params=probe.params, json=probe.body)
        where = f"{'+'.join(roles) or 'no permission'}: {probe.method} {probe.path} {probe.params}"
        assert response.status_code in probe.allowed, f"{where} -> {response.status_code} {response.text}"
        assert_nothing_of_a(org_a, response, probe, where)


def assert_nothing_of_a(a: OrgA, response: requests.Response, probe: Probe, where: str) -> None:
    text = response.text + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    if response.headers.get("Content-Type", "").startswith("application/json"):
        token = response.json().get("continuationToken") if isinstance(response.json(), dict) else None
        if token:  # opaque to callers, but it must not point into A either
            text += " " + base64.urlsafe_b64decode(token.encode()).decode(errors="replace")
    for echoed in probe.echoes:
        text = text.replace(echoed, "<echo>")
    leaked = [marker for marker in a.markers if marker in text]
    assert not leaked, f"{where} leaked {leaked}: {text[:500]}"
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json"), where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


def test_a_still_has_everything_after_b_tried(
    org_a: OrgA, api_as: Callable[..., Api], tables: TableServiceClient
) -> None:
    # Runs after the matrix (pytest keeps file order): A's jobs, files and tag are untouched.
    analyst = api_as(org_a.org, SHARED_USER_ID, ACCESS, ADMIN)
    for job_id in org_a.job_ids:
        job = analyst.get(f"/exports/{job_id}").json()
        assert job["status"] == "completed" and job["downloadUrl"]
        assert requests.get(analyst.get(f"/exports/{job_id}/download").headers["Location"], timeout=30).ok
    listed = analyst.get("/exports", params={"all": "true", "pageSize": "100"}).json()["items"]
    assert sorted(job["jobId"] for job in listed) == sorted(org_a.job_ids), "no job of B landed in A"
    schedules = analyst.get("/export-schedules", params={"all": "true"}).json()["items"]
    assert [(s["scheduleId"], s["status"]) for s in schedules] == [(org_a.schedule_id, "active")]
    if org_a.tag_marker is not None:
        tag = analyst.get(f"/export-fields/tags/{TAG_SLOT}")
        assert tag.status_code == 200 and tag.json()["columnName"] == org_a.tag_marker
        assert tag.json()["displayLabel"] == f"Label {org_a.tag_marker}"
        assert analyst.get(f"/export-fields/tags/{TAG_SLOT + 1}").status_code == 404


def test_job_records_and_blob_names_hold_no_link_and_no_name(org_a: OrgA, tables: TableServiceClient) -> None:
    jobs = tables.get_table_client("exportjobs")
    for job_id, blob_name in zip(org_a.job_ids, org_a.blob_names, strict=True):
        entity = jobs.get_entity(org_a.org, job_id)
        stored = " ".join(str(value) for value in entity.values())
        assert "sig=" not in stored, "a download link was stored in the job record"
        # A uuid4 (122 random bits) and the extension: nothing of the organization, the user or the file name.
        assert re.fullmatch(r"[0-9a-f]{32}\.[a-z.]+", blob_name), blob_name
        assert org_a.org not in blob_name and SHARED_USER_ID not in blob_name


def test_within_the_organization_only_manage_system_settings_sees_other_users_jobs(
    org_a: OrgA, api_as: Callable[..., Api]
) -> None:
    colleague = api_as(org_a.org, "colleague", ACCESS, TICKETS)
    admin = api_as(org_a.org, "admin", ADMIN)
    job = org_a.job_ids[0]
    for method, path in (("GET", ""), ("GET", "/download"), ("GET", "/manifest"), ("POST", "/cancel")):
        assert colleague.request(method, f"/exports/{job}{path}").status_code == 404
    assert colleague.get("/exports").json()["items"] == []
    assert colleague.get("/exports", params={"all": "true"}).status_code == 403
    assert admin.get("/exports").json()["items"] == [], "without all=true, a list is the caller's own"
    everyone = admin.get("/exports", params={"all": "true", "pageSize": "100"}).json()["items"]
    assert {item["jobId"] for item in everyone} >= set(org_a.job_ids)
    seen = admin.get(f"/exports/{job}").json()
    assert seen["createdById"] == SHARED_USER_ID and seen["status"] == "completed"
    # Metadata only: the file needs the dataset's permission (access_reports), which this administrator lacks.
    assert seen["downloadUrl"] is None
    for method, path in (("GET", "/download"), ("GET", "/manifest"), ("DELETE", "")):
        assert admin.request(method, f"/exports/{job}{path}").status_code == 403


def test_filter_values_cannot_reach_into_another_organizations_rows(
    org_a: OrgA, api_as: Callable[..., Api], azurite: Any
) -> None:
    # OData injection through every free-text filter value: a quote, a second $filter, a fragment, braces.
    from tools.synthetic_cases import synthetic_cases

    b = api_as(f"org-b-{uuid.uuid4().hex}", SHARED_USER_ID, ACCESS)
    a = org_a.org
    payloads = [
        f"x' or PartitionKey eq '{a}",
        f"x') or (PartitionKey eq '{a}') or ('x",
        f"x' &$filter=PartitionKey eq '{a}",
        f"x'&$filter=PartitionKey%20eq%20'{a}'&x='",
        f"OPEN'#&$filter=PartitionKey eq '{a}",
        "{0}{a}}{",
        "OPEN",
    ]
    a_case_ids = [str(case["CaseId"]) for case in synthetic_cases(a, 25)]
    for payload in payloads:  # one export each, so one that breaks cannot hide one that leaks
        created = b.post("/exports", json={"format": "JSONL", "statuses": [payload]})
        assert created.status_code == 202, created.text
        done = b.wait_for(created.json()["jobId"], "completed", "failed")
        assert done["status"] == "completed", (payload, done)
        content = requests.get(b.get(f"/exports/{done['jobId']}/download").headers["Location"], timeout=30).text
        assert done["totalRows"] == 0, (payload, content[:300])
        assert not any(case_id in content for case_id in a_case_ids), (payload, content[:300])
