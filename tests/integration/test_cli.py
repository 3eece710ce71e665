"""`python -m exports` in a subprocess against the local host, as an operator would run it: request, watch,
download; and the exit code and message for a bad URL, a bad principal and an export with warnings."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from tests.conftest import Api, LocalHost
from tests.support.azurite import PROJECT_ROOT, Azurite, free_port

pytestmark = pytest.mark.integration


def cli(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exports", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_analyst(local_host: LocalHost, org: str) -> list[str]:
    return ["--url", local_host.base_url, "--org", org, "--user", "analyst-1", "--roles", "access_reports"]


def test_request_watch_and_download_a_csv(
    local_host: LocalHost, org: str, load_cases: Callable[..., int], api: Api, tmp_path: Path
) -> None:
    load_cases(org, 120)
    done = cli(*as_analyst(local_host, org), "request", "--format", "CSV", "--type", "CASES_ONLY", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    job_id, saved = done.stdout.split()
    assert Path(saved).parent == tmp_path and saved.endswith(".csv")
    # Not a terminal: one progress line per change, ending at 100 %.
    bars = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert bars and bars[-1].startswith(f"[{'#' * 30}] 100 %"), done.stderr
    assert f"export {job_id} completed" in done.stderr and "120 rows" in done.stderr
    rows = list(csv.reader(io.StringIO(Path(saved).read_text(encoding="utf-8-sig"), newline="")))
    assert len(rows) == 121 and rows[0][0] == "case_id"

    # The job is the analyst's own, seen the same way through the API; list, watch and download agree.
    assert api.get(f"/exports/{job_id}").json()["status"] == "completed"
    listed = cli(*as_analyst(local_host, org), "list")
    assert listed.returncode == 0 and listed.stdout.startswith(f"{job_id}  completed")
    watched = cli(*as_analyst(local_host, org), "watch", job_id)
    assert watched.returncode == 0 and "completed" in watched.stderr
    again = cli(*as_analyst(local_host, org), "download", job_id, "-o", str(tmp_path / "again.csv"))
    assert again.returncode == 0 and (tmp_path / "again.csv").read_bytes() == Path(saved).read_bytes()

    # Where the file cannot be written, and a negative poll interval: usage errors, never a traceback.
    nowhere = cli(*as_analyst(local_host, org), "download", job_id, "-o", str(tmp_path / "missing" / "x.csv"))
    assert nowhere.returncode == 2 and nowhere.stderr.startswith(f"error: cannot write {tmp_path / 'missing'}")
    negative = cli(*as_analyst(local_host, org), "watch", job_id, "--interval=-1")
    assert negative.returncode == 2 and "-1 is negative" in negative.stderr and "Traceback" not in negative.stderr


def test_cancel_a_running_export(local_host: LocalHost, org: str, load_tickets: Callable[..., int]) -> None:
    load_tickets(org, 3_000)
    analyst = ["--url", local_host.base_url, "--org", org, "--user", "agent-1", "--roles", "import_export_tickets"]
    job_id = cli(*analyst, "request", "--dataset", "tickets", "--format", "JSONL").stdout.strip()
    cancelled = cli(*analyst, "cancel", job_id)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"export {job_id} is cancelled"
    watched = cli(*analyst, "watch", job_id)
    assert watched.returncode == 1 and f"export {job_id} was cancelled" in watched.stderr
    refused = cli(*analyst, "download", job_id)
    assert refused.returncode == 3 and refused.stderr.startswith("error: 409 Conflict:")


def test_an_export_with_a_value_of_the_wrong_type_completes_and_says_so(
    local_host: LocalHost, org: str, load_cases: Callable[..., int], tables: TableServiceClient
) -> None:
    load_cases(org, 30)
    tables.get_table_client("cases").update_entity(
        {"PartitionKey": org, "RowKey": f"{17:010d}", "CreatedAt": "not a date"}, mode=UpdateMode.MERGE
    )
    done = cli(*as_analyst(local_host, org), "request", "--format", "XLSX", "--wait", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "warning: 1 value of the wrong type exported as text "
        "(first: record 0000000017, column case_created_at: text, expected datetime)"
    )


def test_a_bad_url_exits_4_and_says_the_api_cannot_be_reached() -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}/api"
    refused = cli("--url", nothing_there, "list")
    assert refused.returncode == 4
    assert (
        refused.stderr.strip()
        == f"error: cannot reach the export API at {nothing_there} (is the local host running? see --url)"
    )
    malformed = cli("--url", "localhost:7071/api", "list")
    assert malformed.returncode == 4
    assert malformed.stderr.strip() == "error: localhost:7071/api is not a valid http(s) URL for --url"


def test_a_bad_principal_exits_3_with_the_apis_reason(local_host: LocalHost) -> None:
    garbled = cli("--url", local_host.base_url, "--principal", "not base64 at all!", "list")
    assert garbled.returncode == 3
    assert garbled.stderr.strip() == "error: 401 Unauthenticated: X-MS-CLIENT-PRINCIPAL is not base64-encoded JSON."
    no_permission = cli("--url", local_host.base_url, "--roles", "manage_users", "request", "--format", "CSV")
    assert no_permission.returncode == 3 and no_permission.stderr.startswith("error: 403 Forbidden:")
    assert "access_reports" in no_permission.stderr


def test_a_request_the_api_refuses_names_the_field(local_host: LocalHost, org: str) -> None:
    bad = cli(*as_analyst(local_host, org), "request", "--format", "CSV", "--max-investigations", "11")
    assert bad.returncode == 3 and bad.stderr.startswith("error: 422 Validation failed:")
    assert "maxInvestigations" in bad.stderr
    assert cli(*as_analyst(local_host, org), "request").returncode == 2, "--format is required"


def test_tags_can_be_set_listed_previewed_and_deleted(local_host: LocalHost, org: str, azurite: Azurite) -> None:
    from tools.synthetic_cases import synthetic_cases

    admin = ["--url", local_host.base_url, "--org", org, "--user", "admin-1"]
    assert cli(*admin, "load-demo", "--rows", "5", "--connection-string", azurite.connection_string).returncode == 0
    broken = cli(*admin, "load-demo", "--rows", "5", "--connection-string", "not a connection string")
    assert broken.returncode == 4 and broken.stderr.startswith("error: cannot load demo data: ValueError")
    made = cli(
        *admin, "tags", "set", "4", "--path", "customFields.employeeId", "--column", "employee", "--label", "Emp"
    )
    assert made.returncode == 0 and made.stdout.strip() == "slot 4: employee"
    listed = cli(*admin, "tags", "list").stdout.splitlines()
    assert len(listed) == 20 and listed[3].split()[:4] == ["4", "employee", "TEXT", "CASE"]
    case_id = str(next(iter(synthetic_cases(org, 1)))["CaseId"])
    preview = cli(*admin, "tags", "preview", case_id)
    assert preview.returncode == 0 and preview.stdout.split()[:2] == ["4", "employee"]
    assert cli(*admin, "tags", "delete", "4").stdout.strip() == "slot 4 deleted"
    gone = cli(*admin, "tags", "get", "4")
    assert gone.returncode == 3 and gone.stderr.startswith("error: 404")


def test_download_checks_the_file_against_its_manifest_and_manifest_prints_it(
    local_host: LocalHost, org: str, load_cases: Callable[..., int], api: Api, tmp_path: Path
) -> None:
    load_cases(org, 30)
    done = cli(*as_analyst(local_host, org), "request", "--format", "CSV", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    job_id, saved = done.stdout.split()
    job = api.get(f"/exports/{job_id}").json()
    assert hashlib.sha256(Path(saved).read_bytes()).hexdigest() == job["manifest"]["file"]["sha256"]

    printed = cli(*as_analyst(local_host, org), "manifest", job_id)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == job["manifest"]
    assert hashlib.sha256(printed.stdout.encode()).hexdigest() == job["manifestSha256"]
    saved_manifest = cli(*as_analyst(local_host, org), "manifest", job_id, "-o", str(tmp_path))
    assert saved_manifest.returncode == 0, saved_manifest.stderr
    (written,) = tmp_path.glob("*.manifest.json")
    assert hashlib.sha256(written.read_bytes()).hexdigest() == job["manifestSha256"]
