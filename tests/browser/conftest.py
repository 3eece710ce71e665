"""The exports page in a real browser: Debian's Chromium driven by Playwright (PyPI), never a downloaded build.

The suite has its own Azurite and two local hosts: one serving HTTP (with the local-only principal picker) and
one running the export worker, which a test may pause (SIGSTOP) to keep an export running while it looks."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import UpdateMode
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ADMIN_HEADERS, HOST_ENV, Api, LocalHost, principal
from tests.support.azurite import PROJECT_ROOT, Azurite
from tools.load_cases import load, load_tickets, loader_client

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots land here; UPDATE_DOCS_SCREENSHOT=1 also copies the overview into docs/ (commit it after review).
OUTPUT_DIR = Path(os.environ.get("BROWSER_TEST_OUTPUT", "/tmp/browser-test-output"))
DOCS_SCREENSHOT = PROJECT_ROOT / "docs" / "exports-page.png"
CASES = 2_000  # two worker batches at EXPORTS_ROWS_PER_BATCH=1000
ANALYST = ("analyst-1", "Ana Lyst", ("access_reports", "import_export_tickets"))


class WorkerHost(LocalHost):
    """A local host running only the queue triggers: no HTTP server to wait for."""

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log_lines.append(line.rstrip())
            if "running without an HTTP server" in line:
                self._ready.set()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@dataclass
class Stack:
    azurite: Azurite
    front: LocalHost
    worker: WorkerHost
    org: str
    case_id: str

    @property
    def page_url(self) -> str:
        return f"{self.front.base_url}/page"

    def api(self, org: str | None = None, user: str = ANALYST[0], *roles: str) -> Api:
        return Api(self.front.base_url, principal(org or self.org, user, *(roles or ANALYST[2])))

    def run_timer(self) -> None:
        """Runs the clean-up timer now in the HTTP host: expired files, and jobs that stopped moving."""
        root = self.front.base_url.removesuffix("/api")
        response = requests.post(
            f"{root}/admin/functions/clean_up_exports", json={"input": ""}, headers=ADMIN_HEADERS, timeout=30
        )
        assert response.status_code == 202, response.text

    def run_worker_step(self, job_id: str, seq: int) -> None:
        """Runs one step of a job in the HTTP host through the admin API, as the paused worker would have."""
        message = f'{{"v": 1, "orgId": "{self.org}", "jobId": "{job_id}", "seq": {seq}}}'
        root = self.front.base_url.removesuffix("/api")
        response = requests.post(
            f"{root}/admin/functions/run_export_step", json={"input": message}, headers=ADMIN_HEADERS, timeout=30
        )
        assert response.status_code == 202, response.text


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Not the session Azurite: the session's local host would run this suite's exports.
    emulator = Azurite(in_memory=True).start()
    org = f"org-page-{uuid.uuid4().hex[:10]}"
    # Unsharded: the running export is driven one step at a time through the admin API.
    env = {
        "AzureWebJobsStorage": emulator.connection_string,
        **HOST_ENV,
        "EXPORTS_ENVIRONMENT": "local",
        "EXPORTS_MAX_SHARDS": "1",
        # The clean-up timer (run here only through the admin API) fails a job idle for a second at once:
        # how the page gets a failed export to show.
        "EXPORTS_STALLED_AFTER_SECONDS": "1",
        "EXPORTS_MAX_REDRIVES": "0",
    }
    # The hosts start while the rows load: both take seconds, and neither needs the other.
    pool = ThreadPoolExecutor(max_workers=2)
    starting_front = pool.submit(LocalHost, env, "--only", "http,timer")
    starting_worker = pool.submit(WorkerHost, env, "--only", "queue", "--message-lease-seconds", "30")
    pool.shutdown(wait=False)
    try:
        tables = loader_client(emulator.connection_string)
        load(tables, "cases", org, CASES)
        load_tickets(tables, "tickets", org, 20)
        # One ticket whose creation time is not a time: ticket exports write that text and warn about it.
        tables.get_table_client("tickets").update_entity(
            {"PartitionKey": org, "RowKey": f"{7:010d}", "CreatedAt": "not a date"}, mode=UpdateMode.MERGE
        )
        from tools.synthetic_cases import synthetic_cases

        case_id = str(next(iter(synthetic_cases(org, 1)))["CaseId"])
        yield Stack(emulator, starting_front.result(), starting_worker.result(), org, case_id)
    finally:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        for starting, log_name in ((starting_worker, "worker-host.log"), (starting_front, "front-host.log")):
            if starting.exception() is None:
                host = starting.result()
                if isinstance(host, WorkerHost) and host.process.poll() is None:
                    host.resume()  # a stopped process cannot act on SIGTERM
                host.stop()
                (OUTPUT_DIR / log_name).write_text("\n".join(host.log_lines))
        emulator.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 1400})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"the page threw: {errors}"


def act_as(page: Page, org: str, user: str, roles: tuple[str, ...], name: str = "Test User") -> None:
    """Fills the local-only principal picker, as a developer would."""
    page.get_by_label("Organization").fill(org)
    page.get_by_label("User id").fill(user)
    page.get_by_label("Name", exact=True).fill(name)
    for role in ("access_reports", "import_export_tickets", "manage_system_settings"):
        page.get_by_label(role).set_checked(role in roles)
    page.get_by_role("button", name="Use this identity").click()
    page.get_by_role("status").filter(has_text=f"Acting as {user} of {org}").wait_for()


def screenshot(page: Page, name: str) -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUT_DIR / name
    page.screenshot(path=str(path), full_page=True)
    return path


def publish_screenshot(path: Path) -> None:
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)


def wait_for_job(api: Api, job_id: str, check: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/exports/{job_id}").json()
        if check(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never got there: {job}")
        time.sleep(0.1)
