"""devhost end to end: a real subprocess, real HTTP, and a private Azurite for the queues."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.support.azurite import Azurite, free_port

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = Path(__file__).resolve().parent / "devhost_app"
WORK_QUEUE = "devhost-work"


@dataclass
class DevHost:
    process: subprocess.Popen[str]
    port: int
    out_file: Path
    ready_line: str = ""
    stdout: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> list[dict[str, Any]]:
        if not self.out_file.exists():
            return []
        return [json.loads(line) for line in self.out_file.read_text().splitlines() if line.strip()]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_devhost(tmp: Path, connection: str, *args: str, env: dict[str, str] | None = None) -> DevHost:
    """Start `python -m devhost` and wait for its readiness line on stdout."""
    tmp.mkdir(parents=True, exist_ok=True)
    settings = tmp / "local.settings.json"
    settings.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "WORK_QUEUE": WORK_QUEUE,
                    "YEARLY_SCHEDULE": "0 0 0 1 1 *",
                    "AzureWebJobsStorage": "bogus",
                },
            }
        )
    )
    port = free_port()
    out_file = tmp / "records.jsonl"
    full_env = {
        **os.environ,
        # Set in the environment, so it must win over the bogus value in the settings file.
        "AzureWebJobsStorage": connection,
        "DEVHOST_TEST_OUT": str(out_file),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    stderr = (tmp / "devhost.stderr.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--app-dir",
            str(APP_DIR),
            "--port",
            str(port),
            "--settings",
            str(settings),
            *args,
        ],
        cwd=PROJECT_ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    host = DevHost(process, port, out_file)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            host.stdout.append(line.rstrip("\n"))
            if line.startswith("devhost: "):
                host.ready_line = line.strip()
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(20):
        process.kill()
        raise AssertionError(f"devhost did not start:\n{(tmp / 'devhost.stderr.log').read_text()}")
    return host


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    emulator = Azurite().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def devhost(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    # A short lease so the renewal test does not take minutes.
    host = start_devhost(tmp_path_factory.mktemp("devhost"), azurite.connection_string, "--message-lease-seconds", "2")
    yield host
    host.stop()


def queue(azurite: Azurite, name: str, encoded: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if encoded else None
    return QueueClient.from_connection_string(azurite.connection_string, name, message_encode_policy=policy)


def for_body(host: DevHost, body: str, kind: str = "queue") -> list[dict[str, Any]]:
    return [r for r in host.records() if r.get("kind") == kind and r.get("body") == body]


# --- HTTP ----------------------------------------------------------------------------------------------


def test_ready_line_and_routes_are_printed(devhost: DevHost) -> None:
    assert devhost.ready_line.startswith(f"devhost: listening on {devhost.base}/api (functions: ")
    assert "worker" in devhost.ready_line and "yearly" in devhost.ready_line
    assert any(f"echo: [GET,POST] {devhost.base}/api/echo/{{id:int}}" in line for line in devhost.stdout)


def test_host_status(devhost: DevHost) -> None:
    response = requests.get(f"{devhost.base}/admin/host/status", timeout=5)
    assert response.status_code == 200 and response.json() == {"state": "Running"}


def test_route_params_query_and_headers_reach_the_function(devhost: DevHost) -> None:
    principal = base64.b64encode(b'{"userId":"u1"}').decode()
    response = requests.get(
        f"{devhost.base}/api/echo/42?x=1&x=2&empty=",
        headers={"X-MS-CLIENT-PRINCIPAL": principal, "x-custom": "yes"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Echo"] == "1"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    doc = response.json()
    assert doc["method"] == "GET"
    assert doc["url"] == f"{devhost.base}/api/echo/42?x=1&x=2&empty="
    assert doc["route"] == {"id": "42"}
    assert doc["query"] == {"x": "1", "empty": ""}
    assert doc["principal"] == principal and doc["custom"] == "yes"


def test_body_is_passed_through(devhost: DevHost) -> None:
    body = "héllo\x00world".encode()
    response = requests.post(f"{devhost.base}/api/echo/1", data=body, timeout=5)
    assert response.status_code == 200 and response.json()["body"] == body.decode()


def test_literal_route_wins_and_wrong_method_is_405(devhost: DevHost) -> None:
    assert requests.get(f"{devhost.base}/api/echo/preview", timeout=5).text == "preview"
    response = requests.delete(f"{devhost.base}/api/echo/preview", timeout=5)
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 405


def test_catch_all_route(devhost: DevHost) -> None:
    assert requests.get(f"{devhost.base}/api/files/a/b/c.txt", timeout=5).text == "a/b/c.txt"


def test_unknown_route_is_404_problem(devhost: DevHost) -> None:
    response = requests.get(f"{devhost.base}/api/xyz", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No function handles GET /api/xyz",
    }
    assert requests.get(f"{devhost.base}/echo/1", timeout=5).status_code == 404  # the prefix is required


def test_exception_is_500_without_details(devhost: DevHost) -> None:
    response = requests.get(f"{devhost.base}/api/boom", timeout=5)
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"
    assert "secret" not in response.text


def test_async_function_and_keep_alive(devhost: DevHost) -> None:
    with requests.Session() as session:
        for _ in range(2):
            response = session.get(f"{devhost.base}/api/slow?seconds=0.05", timeout=5)
            assert response.status_code == 201 and response.text == "done"


# --- queue ---------------------------------------------------------------------------------------------


def test_queue_message_is_processed_and_deleted(devhost: DevHost, azurite: Azurite) -> None:
    work = queue(azurite, WORK_QUEUE)
    wait_for(lambda: work.get_queue_properties(), what="devhost to create the queue")
    work.send_message("hello queue")
    records = wait_for(lambda: for_body(devhost, "hello queue"), what="the message to be processed")
    assert records[0]["dequeue_count"] == 1
    wait_for(lambda: work.get_queue_properties().approximate_message_count == 0, what="the message to go")


def test_failing_message_goes_to_poison_after_max_dequeue_count(devhost: DevHost, azurite: Azurite) -> None:
    queue(azurite, WORK_QUEUE).send_message("fail-1")
    poison = queue(azurite, f"{WORK_QUEUE}-poison", encoded=False)
    expected = base64.b64encode(b"fail-1").decode()
    wait_for(
        lambda: any(m.content == expected for m in poison.peek_messages(max_messages=32)),
        what="the poison message",
    )
    assert [r["dequeue_count"] for r in for_body(devhost, "fail-1")] == [1, 2]


def test_message_that_is_not_base64_goes_straight_to_poison(devhost: DevHost, azurite: Azurite) -> None:
    queue(azurite, WORK_QUEUE, encoded=False).send_message("not base64 at all!")
    poison = queue(azurite, f"{WORK_QUEUE}-poison", encoded=False)
    wait_for(
        lambda: any(m.content == "not base64 at all!" for m in poison.peek_messages(max_messages=32)),
        what="the poison message",
    )
    assert not for_body(devhost, "not base64 at all!")


def test_lease_is_renewed_while_a_slow_function_runs(devhost: DevHost, azurite: Azurite) -> None:
    # The lease is 2 s; without renewal the message would be delivered again mid-run.
    queue(azurite, WORK_QUEUE).send_message("sleep:3")
    wait_for(lambda: for_body(devhost, "sleep:3", kind="queue-done"), timeout=20, what="the slow run")
    time.sleep(0.5)
    assert len(for_body(devhost, "sleep:3")) == 1


# --- admin ---------------------------------------------------------------------------------------------


def test_admin_runs_a_timer_function(devhost: DevHost) -> None:
    before = len([r for r in devhost.records() if r["kind"] == "timer"])
    response = requests.post(f"{devhost.base}/admin/functions/yearly", json={"input": ""}, timeout=5)
    assert response.status_code == 202
    wait_for(lambda: len([r for r in devhost.records() if r["kind"] == "timer"]) > before, what="the timer run")


def test_admin_runs_a_queue_function_with_the_input(devhost: DevHost) -> None:
    response = requests.post(f"{devhost.base}/admin/functions/worker", json={"input": "from admin"}, timeout=5)
    assert response.status_code == 202
    wait_for(lambda: for_body(devhost, "from admin"), what="the admin-started queue run")


def test_admin_unknown_function_is_404(devhost: DevHost) -> None:
    response = requests.post(f"{devhost.base}/admin/functions/nope", json={"input": ""}, timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


# --- shutdown ------------------------------------------------------------------------------------------


def test_sigterm_waits_for_a_running_http_request(azurite: Azurite, tmp_path: Path) -> None:
    host = start_devhost(tmp_path, azurite.connection_string, "--only", "http")
    result: dict[str, Any] = {}

    def call() -> None:
        result["response"] = requests.get(f"{host.base}/api/slow?seconds=1", timeout=10)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.4)
    assert host.stop() == 0
    caller.join(10)
    assert result["response"].status_code == 201


def test_queue_only_worker_drains_on_sigterm(azurite: Azurite, tmp_path: Path) -> None:
    other = "devhost-worker-only"
    host = start_devhost(
        tmp_path,
        azurite.connection_string,
        "--only",
        "queue",
        "--functions",
        "worker",
        env={"WORK_QUEUE": other},
    )
    assert host.ready_line == "devhost: running without an HTTP server (functions: worker)"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{host.base}/admin/host/status", timeout=2)
    queue(azurite, other).send_message("sleep:1")
    wait_for(lambda: for_body(host, "sleep:1"), what="the worker to start the message")
    assert host.stop() == 0
    assert for_body(host, "sleep:1", kind="queue-done")
    assert queue(azurite, other).get_queue_properties().approximate_message_count == 0


def test_oversized_body_is_413_without_reading_it(devhost: DevHost) -> None:
    with socket.create_connection(("127.0.0.1", devhost.port), timeout=5) as sock:
        sock.sendall(b"POST /api/echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 104857601\r\n\r\n")
        reply = sock.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413 ")
    assert "application/problem+json" in reply
