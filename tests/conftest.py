"""Session fixtures: a private Azurite, a private PostgreSQL, and the app served by the local host over real sockets."""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.auth import encode_principal
from tests.support.azurite import PROJECT_ROOT, Azurite, free_port
from tests.support.postgres import PrivatePostgres

# The local host's admin API takes its run's token (x-functions-key). Every host a test starts gets this one:
# LocalHost passes it, and hosts started otherwise inherit it from this process's environment.
ADMIN_TOKEN = os.environ.setdefault("DEVHOST_ADMIN_TOKEN", secrets.token_urlsafe(24))
ADMIN_HEADERS = {"x-functions-key": ADMIN_TOKEN}

HOST_ENV = {
    "EXPORTS_CLEANUP_SCHEDULE": "0 0 0 1 1 *",  # once a year: tests run the timer through the admin API
    "EXPORTS_ROWS_PER_BATCH": "1000",
    "EXPORTS_CHUNK_ROWS": "100",
    # Exports of more than 1,000 rows are sharded (every format), so integration tests cover shards too.
    "EXPORTS_SHARD_ROWS": "1000",
    # Sorted exports of a few thousand tickets sort in dozens of runs, so the merge reads many runs on Azurite.
    "EXPORTS_SORT_RUN_BYTES": "65536",
    "EXPORTS_REDRIVE_AFTER_SECONDS": "30",
    # Lifecycle: callbacks to a receiver on 127.0.0.1, per-organization secrets derived from a
    # test key (tests.support.webhooks derives the same), and short waits so retries show within a test.
    "EXPORTS_ENVIRONMENT": "local",
    "EXPORTS_WEBHOOK_MASTER_KEY": "test-webhook-master-key",
    "EXPORTS_WEBHOOK_BACKOFF_SECONDS": "1",
    "EXPORTS_CAP_WAIT_SECONDS": "1",
    # The worker's thread pool as the Bicep sizes it (tests/unit/test_infra.py checks they agree).
    "PYTHON_THREADPOOL_THREAD_COUNT": "24",
}


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    emulator = Azurite(in_memory=True).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """A throw-away PostgreSQL cluster, started only when a test of the session asks for it."""
    server = PrivatePostgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def storage_env(azurite: Azurite) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, **HOST_ENV}


class LocalHost:
    """`python -m devhost` serving function_app.py, as `func start` would."""

    def __init__(self, env: dict[str, str], *extra_args: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api"
        self.log_lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--app-dir", str(PROJECT_ROOT), "--port", str(self.port), *extra_args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env, "DEVHOST_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(60):
            self.stop()
            raise RuntimeError("local host did not start:\n" + "\n".join(self.log_lines[-50:]))

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log_lines.append(line.rstrip())
            if "listening on" in line:
                self._ready.set()

    def run_function(self, function: str, input_text: str = "") -> requests.Response:
        """Runs a queue or timer function now through the host's admin API (with this run's token)."""
        root = self.base_url.removesuffix("/api")
        return requests.post(
            f"{root}/admin/functions/{function}", json={"input": input_text}, headers=ADMIN_HEADERS, timeout=30
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def local_host(storage_env: dict[str, str]) -> Iterator[LocalHost]:
    host = LocalHost(storage_env, "--message-lease-seconds", "30")
    yield host
    host.stop()
    log_path = Path(os.environ.get("LOCAL_HOST_LOG", "/tmp/local-host-tests.log"))
    log_path.write_text("\n".join(host.log_lines))


class Api:
    """A caller of the export API with a given identity."""

    def __init__(self, base_url: str, principal: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        # What the exports page sends: body-less POSTs and DELETEs need it (json= bodies say application/json).
        self.session.headers["X-Requested-With"] = "tests"
        if principal is not None:
            self.session.headers["X-MS-CLIENT-PRINCIPAL"] = principal

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def wait_for(self, job_id: str, *statuses: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/exports/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
            time.sleep(0.2)


def download_csv(api: Api, job_id: str) -> list[dict[str, str]]:
    """Waits for the export to complete and reads its CSV file through the download link."""
    done = api.wait_for(job_id, "completed", "failed")
    assert done["status"] == "completed", done
    link = api.get(f"/exports/{job_id}/download").headers["Location"]
    content = requests.get(link, timeout=30).content
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def principal(org: str, user: str, *roles: str, name: str = "Test User") -> str:
    return encode_principal(org, user, name, list(roles))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", help="rewrite tests/golden/* from the current output (then review)"
    )
