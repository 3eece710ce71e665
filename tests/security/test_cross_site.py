"""No cross-site writes: a page on another site that a signed-in user visits can make the browser send a form (with
the App Service session cookie) but no custom header and no JSON content type. Every state-changing route refuses
what such a form can send: a body in any other type than application/json is 415, a body-less POST or DELETE
without X-Requested-With is 403, and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import requests

from tests.conftest import Api, LocalHost, principal
from tests.security.routes import registered_http_routes

pytestmark = pytest.mark.integration

ROLES = ("access_reports", "import_export_tickets", "manage_system_settings")
SLOT = 5
# What an HTML form can send (enctype), and near misses a lax parser might take for JSON.
NOT_JSON = [
    "text/plain",
    "text/plain; charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=----x",
    "application/json-seq",
    "text/json",
    "application/json; charset=utf-16",
    None,  # no Content-Type at all
]


def tag(label: str) -> dict[str, Any]:
    return {
        "sourceEntityType": "CASE",
        "sourceFieldPath": "customFields.riskLevel",
        "tagSlot": SLOT,
        "columnName": "risk_level",
        "displayLabel": label,
        "dataType": "TEXT",
    }


@dataclass
class Victim:
    """A signed-in user's organization with a job and a tag; `browser` sends what their browser would."""

    org: str
    job_id: str
    owner: Api
    browser: requests.Session
    base_url: str

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.browser.request(method, self.base_url + path, timeout=30, allow_redirects=False, **kwargs)

    def state(self) -> tuple[Any, ...]:
        job = self.owner.get(f"/exports/{self.job_id}").json()
        jobs = self.owner.get("/exports", params={"pageSize": "100"}).json()["items"]
        tags = self.owner.get("/export-fields/tags").json()["items"]
        schedules = [(s["scheduleId"], s["status"]) for s in self.owner.get("/export-schedules").json()["items"]]
        return (job["status"], job["deletedAt"], len(jobs), [(t["tagSlot"], t["displayLabel"]) for t in tags],
                schedules)


@pytest.fixture
def victim(local_host: LocalHost, load_cases: Any) -> Iterator[Victim]:
    import uuid

    org = f"org-csrf-{uuid.uuid4().hex[:12]}"
    load_cases(org, 5)
    who = principal(org, "user-1", *ROLES)
    owner = Api(local_host.base_url, who)
    job_id = owner.post("/exports", json={"format": "CSV"}).json()["jobId"]
    owner.wait_for(job_id, "completed")
    schedule = {"name": "Nightly", "export": {"format": "CSV"}, "recurrence": {"frequency": "daily", "time": "06:00"}}
    assert owner.post("/export-schedules", json=schedule).status_code == 201
    assert owner.request("PUT", f"/export-fields/tags/{SLOT}", json=tag("Risk")).status_code == 201
    browser = requests.Session()
    # Stands in for the session cookie: App Service turns it into this header before the app sees the request.
    browser.headers["X-MS-CLIENT-PRINCIPAL"] = who
    yield Victim(org, job_id, owner, browser, local_host.base_url)


def writes(victim: Victim) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(method, route template, path, JSON body) for every state-changing route."""
    job = victim.job_id
    return [
        ("POST", "exports", "/exports", {"format": "CSV", "callbackUrl": "http://127.0.0.1:9/attacker"}),
        ("POST", "exports/{jobId}/cancel", f"/exports/{job}/cancel", None),
        ("DELETE", "exports/{jobId}", f"/exports/{job}", None),
        ("POST", "export-fields/tags", "/export-fields/tags", {**tag("Mine"), "tagSlot": SLOT + 1}),
        ("PUT", "export-fields/tags/{slot}", f"/export-fields/tags/{SLOT}", tag("Overwritten")),
        ("PATCH", "export-fields/tags/{slot}", f"/export-fields/tags/{SLOT}", {"displayLabel": "Patched"}),
        ("DELETE", "export-fields/tags/{slot}", f"/export-fields/tags/{SLOT}", None),
        *_schedule_writes(victim),
    ]


def _schedule_writes(victim: Victim) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    schedule_id = victim.owner.get("/export-schedules").json()["items"][0]["scheduleId"]
    body = {"name": "Attacker's", "export": {"format": "CSV", "callbackUrl": "http://127.0.0.1:9/attacker"},
            "recurrence": {"frequency": "daily", "time": "06:00"}}
    return [
        ("POST", "export-schedules", "/export-schedules", body),
        ("POST", "export-schedules/{scheduleId}/pause", f"/export-schedules/{schedule_id}/pause", None),
        ("POST", "export-schedules/{scheduleId}/resume", f"/export-schedules/{schedule_id}/resume", None),
        ("DELETE", "export-schedules/{scheduleId}", f"/export-schedules/{schedule_id}", None),
    ]


def test_every_state_changing_route_is_probed(victim: Victim) -> None:
    changing = {(m, r) for m, r in registered_http_routes() if m in ("POST", "PUT", "PATCH", "DELETE")}
    assert changing <= {(m, r) for m, r, _, _ in writes(victim)}, changing


@pytest.mark.parametrize("content_type", NOT_JSON, ids=lambda value: value or "none")
def test_a_body_a_form_could_send_is_refused_on_every_state_changing_route(
    victim: Victim, content_type: str | None
) -> None:
    before = victim.state()
    for method, _, path, body in writes(victim):
        # A text/plain form (`<input name='{"format":"CSV","x":"' value='"}'>`) makes exactly such a body.
        data = orjson.dumps(body or {"x": "="})
        headers = {"Content-Type": content_type} if content_type else {}
        response = victim.send(method, path, data=data, headers=headers)
        assert response.status_code == 415, f"{method} {path} as {content_type}: {response.status_code} {response.text}"
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "application/json" in response.json()["detail"]
    assert victim.state() == before, "a refused request changed something"


def test_a_body_less_post_or_delete_needs_x_requested_with(victim: Victim) -> None:
    before = victim.state()
    body_less = [(m, p) for m, _, p, _ in writes(victim) if m in ("POST", "DELETE")]
    for method, path in body_less:
        response = victim.send(method, path)
        assert response.status_code == 403, f"{method} {path}: {response.status_code} {response.text}"
        assert "X-Requested-With" in response.json()["detail"]
    assert victim.state() == before, "a refused request changed something"
    # With the header (what the page and the command line send), the same calls go through.
    assert victim.send("POST", f"/exports/{victim.job_id}/cancel", headers={"X-Requested-With": "x"}).status_code == 409
    assert victim.send("DELETE", f"/exports/{victim.job_id}", headers={"X-Requested-With": "x"}).status_code == 204


def test_json_bodies_with_or_without_a_utf8_charset_are_taken(victim: Victim) -> None:
    for content_type in ("application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"'):
        response = victim.send("POST", "/exports", data=b'{"format": "CSV"}', headers={"Content-Type": content_type})
        assert response.status_code == 202, (content_type, response.text)


def test_without_a_principal_the_answer_is_401_before_any_cross_site_rule(local_host: LocalHost) -> None:
    headers = {"Content-Type": "text/plain"}
    response = requests.post(f"{local_host.base_url}/exports", data=b"x", headers=headers, timeout=30)
    assert response.status_code == 401
