"""`python -m exports schedules ...` in a subprocess against the local host: create, list, get, pause, resume
and delete a schedule, and a refused recurrence exits 3 with the API's reason."""

from __future__ import annotations

import json

import pytest

from tests.conftest import LocalHost
from tests.integration.test_cli import as_analyst, cli

pytestmark = pytest.mark.integration


def test_schedules_can_be_created_listed_paused_resumed_and_deleted(local_host: LocalHost, org: str) -> None:
    me = as_analyst(local_host, org)
    made = cli(*me, "schedules", "create", "--name", "Friday cases", "--every", "weekly", "--days", "friday,monday",
               "--time", "07:15", "--time-zone", "Europe/Paris", "--format", "JSONL")
    assert made.returncode == 0, made.stderr
    schedule_id = made.stdout.strip()
    assert "weekly on friday, monday at 07:15 (Europe/Paris)" in made.stderr
    [line] = cli(*me, "schedules", "list").stdout.splitlines()
    assert line.startswith(f"{schedule_id}  active") and line.endswith("Friday cases")
    got = json.loads(cli(*me, "schedules", "get", schedule_id).stdout)
    assert (got["export"]["format"], got["recurrence"]["daysOfWeek"]) == ("JSONL", ["friday", "monday"])
    assert cli(*me, "schedules", "pause", schedule_id).stdout.strip() == f"schedule {schedule_id} is paused"
    assert cli(*me, "schedules", "list", "--status", "active").stderr.strip() == "no schedules"
    assert cli(*me, "schedules", "resume", schedule_id).stdout.strip() == f"schedule {schedule_id} is active"
    assert cli(*me, "schedules", "delete", schedule_id).stdout.strip() == f"schedule {schedule_id} deleted"
    gone = cli(*me, "schedules", "get", schedule_id)
    assert gone.returncode == 3 and gone.stderr.startswith("error: 404")


def test_a_refused_recurrence_exits_3_saying_why(local_host: LocalHost, org: str) -> None:
    refused = cli(*as_analyst(local_host, org), "schedules", "create", "--name", "x", "--every", "monthly",
                  "--day-of-month", "31", "--time", "08:00")
    assert refused.returncode == 3
    assert "error: 422" in refused.stderr and "day 31 does not exist in every month" in refused.stderr
    cron = cli(*as_analyst(local_host, org), "schedules", "create", "--name", "x", "--every", "cron",
               "--expression", "0 0,30 9 * * *")
    assert cron.returncode == 3 and "runs more than once an hour" in cron.stderr
