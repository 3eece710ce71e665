"""Scheduled exports over real HTTP through the local host on a real Azurite: the routes, their refusals as
problem+json, and the timer turning a due schedule into a job that completes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from tests.conftest import Api, LocalHost

pytestmark = pytest.mark.integration

DAILY = {"frequency": "daily", "time": "06:00", "timeZone": "Europe/Berlin"}


def schedule_body(**recurrence: Any) -> dict[str, Any]:
    return {"name": "Nightly cases", "export": {"format": "CSV"}, "recurrence": recurrence or DAILY}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    found: dict[str, Any] = response.json()
    return found


def test_create_list_get_pause_resume_and_delete(api: Api, api_as: Callable[..., Api], org: str) -> None:
    created = api.post("/export-schedules", json=schedule_body())
    assert created.status_code == 201, created.text
    schedule = created.json()
    schedule_id = schedule["scheduleId"]
    assert created.headers["Location"] == f"/api/export-schedules/{schedule_id}"
    assert (schedule["status"], schedule["lastRun"], schedule["createdById"]) == ("active", None, "analyst-1")
    next_run = datetime.fromisoformat(schedule["nextRunAt"])
    assert next_run > datetime.now(UTC) and next_run.astimezone(UTC).minute == 0
    assert schedule["recurrence"]["timeZone"] == "Europe/Berlin"

    listed = api.get("/export-schedules").json()
    assert [item["scheduleId"] for item in listed["items"]] == [schedule_id]
    assert listed["continuationToken"] is None
    assert api.get(f"/export-schedules/{schedule_id}").json()["name"] == "Nightly cases"

    paused = api.post(f"/export-schedules/{schedule_id}/pause")
    assert paused.status_code == 200 and (paused.json()["status"], paused.json()["nextRunAt"]) == ("paused", None)
    assert api.get("/export-schedules", params={"status": "active"}).json()["items"] == []
    resumed = api.post(f"/export-schedules/{schedule_id}/resume").json()
    assert resumed["status"] == "active" and resumed["nextRunAt"] == schedule["nextRunAt"]

    # An administrator may see the whole organization's schedules, as GET /exports allows.
    admin = api_as(org, "admin-9", "access_reports", "manage_system_settings")
    assert admin.get("/export-schedules").json()["items"] == []
    assert [i["scheduleId"] for i in admin.get("/export-schedules", params={"all": "true"}).json()["items"]] == [
        schedule_id]
    problem(api.get("/export-schedules", params={"all": "true"}), 403)

    deleted = api.request("DELETE", f"/export-schedules/{schedule_id}")
    assert deleted.status_code == 204
    problem(api.get(f"/export-schedules/{schedule_id}"), 404)


@pytest.mark.parametrize(
    ("recurrence", "message"),
    [
        ({"frequency": "daily", "time": "02:30", "timeZone": "Europe/Paris"},
         "does not exist in Europe/Paris on"),
        ({"frequency": "monthly", "time": "08:00", "dayOfMonth": 31}, "day 31 does not exist in every month"),
        ({"frequency": "cron", "expression": "0 */15 * * * *"}, "runs more than once an hour"),
        ({"frequency": "cron", "expression": "0 9 * * *"}, "an NCRONTAB expression has six fields"),
        ({"frequency": "daily", "time": "08:00", "timeZone": "Atlantis/Capital"}, "is not an IANA time zone"),
        ({"frequency": "weekly", "time": "08:00", "daysOfWeek": ["monday"], "dayOfMonth": 2},
         "dayOfMonth do not apply to a weekly recurrence"),
    ],
)
def test_a_bad_recurrence_is_422_problem_json_saying_why(api: Api, recurrence: dict[str, Any], message: str) -> None:
    found = problem(api.post("/export-schedules", json=schedule_body(**recurrence)), 422)
    assert message in found["detail"], found
    assert found["errors"] and found["errors"][0]["field"].startswith("recurrence")


def test_a_bad_export_is_refused_as_post_exports_refuses_it(api: Api) -> None:
    found = problem(api.post("/export-schedules", json={**schedule_body(), "export": {"format": "PDF"}}), 422)
    assert found["errors"][0]["field"] == "export.format"
    custom = {"format": "CSV", "exportType": "CUSTOM"}
    assert "columns" in problem(api.post("/export-schedules", json={**schedule_body(), "export": custom}), 422)[
        "detail"]


def test_another_organization_gets_404_and_a_user_without_the_permission_403(
    api: Api, api_as: Callable[..., Api], org: str
) -> None:
    schedule_id = api.post("/export-schedules", json=schedule_body()).json()["scheduleId"]
    outsider = api_as("org-elsewhere", "analyst-1", "access_reports", "manage_system_settings")
    for method, path in (("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")):
        problem(outsider.request(method, f"/export-schedules/{schedule_id}{path}"), 404)
    assert outsider.get("/export-schedules", params={"all": "true"}).json()["items"] == []
    colleague = api_as(org, "analyst-2", "access_reports")
    problem(colleague.get(f"/export-schedules/{schedule_id}"), 404)
    tickets_only = api_as(org, "analyst-3", "import_export_tickets")
    assert "access_reports permission" in problem(
        tickets_only.post("/export-schedules", json=schedule_body()), 403)["detail"]
    assert api.get(f"/export-schedules/{schedule_id}").json()["status"] == "active"


def test_the_timer_turns_a_due_schedule_into_a_job_that_completes(
    api: Api, org: str, load_cases: Callable[..., int], tables: TableServiceClient, local_host: LocalHost
) -> None:
    load_cases(org, 30)
    schedule = api.post("/export-schedules", json=schedule_body(frequency="daily", time="00:00")).json()
    schedule_id = schedule["scheduleId"]
    # As if the app had been down since yesterday's run: the schedule is due now.
    table = tables.get_table_client("exportschedules")
    due = datetime.now(UTC) - timedelta(days=1, minutes=5)
    table.update_entity({"PartitionKey": org, "RowKey": schedule_id, "NextRunAt": due}, mode=UpdateMode.MERGE)

    assert local_host.run_function("run_export_schedules").status_code == 202
    deadline = time.monotonic() + 60
    while (ran := api.get(f"/export-schedules/{schedule_id}").json())["lastRun"] is None:
        assert time.monotonic() < deadline, "the timer did not run the schedule"
        time.sleep(0.2)
    assert ran["lastRun"]["outcome"] == "created", ran
    # One run for the missed days: the latest midnight (UTC), and the next one is tomorrow's.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(ran["lastRun"]["runAt"]) in (today, today - timedelta(days=1))
    assert datetime.fromisoformat(ran["nextRunAt"]) > datetime.now(UTC)

    job_id = ran["lastRun"]["jobId"]
    done = api.wait_for(job_id, "completed", "failed")
    assert (done["status"], done["scheduleId"], done["totalRows"], done["createdById"]) == (
        "completed", schedule_id, 30, "analyst-1")
    assert (done["manifest"]["requestedVia"], done["manifest"]["scheduleId"]) == ("schedule", schedule_id)
    # A second tick (the host's own minute timer may have been one) makes nothing new.
    assert local_host.run_function("run_export_schedules").status_code == 202
    jobs = [job for job in api.get("/exports").json()["items"] if job["scheduleId"] == schedule_id]
    assert [job["jobId"] for job in jobs] == [job_id]
