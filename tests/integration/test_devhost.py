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

from tests.conftest import ADMIN_HEADERS as ADMIN
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

    def release(self, *tokens: str) -> None:
        """Lets the gated invocations of these tokens (`hold:<token>` messages, /api/hold/<token>) end."""
        folder = self.out_file.parent / "release"
        folder.mkdir(exist_ok=True)
        for token in tokens:
            (folder / token).touch()

    def drain_status(self) -> dict[str, Any]:
        response = requests.get(f"{self.base}/admin/host/drain/status", timeout=5)
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        return status

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_devhost(
    tmp: Path, connection: str, *args: str, env: dict[str, str] | None = None, app_dir: Path = APP_DIR
) -> DevHost:
    """Start `python -m devhost` and wait for its readiness line on stdout."""
    tmp.mkdir(parents=True, exist_ok=True)
    settings = tmp / "local.settings.json"
    settings.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "WORK_QUEUE": WORK_QUEUE,
                    "SECOND_QUEUE": f"{WORK_QUEUE}-second",
                    "THIRD_QUEUE": f"{WORK_QUEUE}-third",
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
        "DEVHOST_ADMIN_TOKEN": ADMIN["x-functions-key"],
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    stderr = (tmp / "devhost.stderr.log").open("a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--app-dir",
            str(app_dir),
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


def app_variant(tmp: Path, **host_json: Any) -> Path:
    """The test app with host.json changed: `host_json` entries replace top-level keys, `queues=` and `http=`
    update those extension sections."""
    folder = tmp / "app"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").symlink_to(APP_DIR / "function_app.py")
    doc = json.loads((APP_DIR / "host.json").read_text())
    for section in ("queues", "http"):
        doc["extensions"][section].update(host_json.pop(section, {}))
    doc.update(host_json)
    (folder / "host.json").write_text(json.dumps(doc))
    return folder


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
    response = requests.post(f"{devhost.base}/admin/functions/yearly", json={"input": ""}, headers=ADMIN, timeout=5)
    assert response.status_code == 202
    wait_for(lambda: len([r for r in devhost.records() if r["kind"] == "timer"]) > before, what="the timer run")


def test_admin_runs_a_queue_function_with_the_input(devhost: DevHost) -> None:
    response = requests.post(
        f"{devhost.base}/admin/functions/worker", json={"input": "from admin"}, headers=ADMIN, timeout=5
    )
    assert response.status_code == 202
    wait_for(lambda: for_body(devhost, "from admin"), what="the admin-started queue run")


def test_admin_unknown_function_is_404(devhost: DevHost) -> None:
    response = requests.post(f"{devhost.base}/admin/functions/nope", json={"input": ""}, headers=ADMIN, timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


# --- shutdown ------------------------------------------------------------------------------------------


def test_sigterm_waits_for_a_running_http_request(azurite: Azurite, tmp_path: Path) -> None:
    host = start_devhost(tmp_path, azurite.connection_string, "--only", "http")
    result: dict[str, Any] = {}

    def call() -> None:
        result["response"] = requests.get(f"{host.base}/api/hold/sigterm", timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(lambda: for_body(host, "sigterm", kind="http"), what="the request to be running")
    host.process.send_signal(signal.SIGTERM)
    host.release("sigterm")
    assert host.stop() == 0
    caller.join(10)
    assert result["response"].status_code == 200 and result["response"].text == "sigterm"


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


# --- the worker's one thread pool ----------------------------------------------------------------------------


def bicep_thread_count() -> str:
    from tests.unit.test_infra import app_settings

    return str(app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"])


QUEUE_TRIGGERS = {"work": "WORK_QUEUE", "second": "SECOND_QUEUE", "third": "THIRD_QUEUE"}  # as many as the app's


def started(host: DevHost, queue_name: str, kind: str = "queue") -> list[str]:
    return [r["body"] for r in host.records() if r.get("kind") == kind and r.get("queue") == queue_name]


def test_an_http_request_is_answered_while_every_queue_trigger_runs_as_many_messages_as_host_json_allows(
    azurite: Azurite, tmp_path: Path
) -> None:
    # host.json's queue settings, and the thread count the Bicep sets.
    project = json.loads((PROJECT_ROOT / "host.json").read_text())["extensions"]["queues"]
    batch, threshold = project["batchSize"], project["newBatchThreshold"]
    app = app_variant(tmp_path, queues={"batchSize": batch, "newBatchThreshold": threshold})
    names = {name: f"pool-{name}-{os.getpid()}" for name in QUEUE_TRIGGERS}
    env = {"PYTHON_THREADPOOL_THREAD_COUNT": bicep_thread_count()}
    env.update({setting: names[name] for name, setting in QUEUE_TRIGGERS.items()})
    host = start_devhost(tmp_path, azurite.connection_string, env=env, app_dir=app)
    sent = 2 * batch + 2
    try:
        for name, queue_name in names.items():
            client = queue(azurite, queue_name)
            wait_for(lambda c=client: c.get_queue_properties(), what="devhost to create the queue")  # type: ignore[misc]
            for index in range(sent):
                client.send_message(f"hold:{name}-{index}")
        # Each trigger takes one batch; all of it keeps running, so nothing more is fetched yet.
        wait_for(lambda: all(len(started(host, name)) == batch for name in names), what="a batch per trigger")
        # Let newBatchThreshold of each batch end: the host fetches the next batch, and holds batch + threshold.
        host.release(*(body.split(":", 1)[1] for name in names for body in started(host, name)[:threshold]))
        wait_for(
            lambda: all(len(started(host, name)) == 2 * batch for name in names), what="a second batch per trigger"
        )
        running = len(names) * (batch + threshold)
        assert host.drain_status()["outstandingInvocations"] == running
        for queue_name in names.values():  # the rest wait in the queue, not in the host
            assert len(queue(azurite, queue_name).peek_messages(max_messages=32)) == sent - 2 * batch

        answer = requests.get(f"{host.base}/api/echo/7", timeout=30)

        assert answer.status_code == 200 and answer.json()["route"] == {"id": "7"}
    finally:
        host.release(*(f"{name}-{index}" for name in names for index in range(sent)))
    wait_for(
        lambda: all(len(started(host, name, kind="queue-done")) == sent for name in names),
        timeout=60,
        what="every message done",
    )
    assert host.stop() == 0


def test_with_fewer_threads_than_busy_invocations_an_http_request_waits_for_a_thread(
    azurite: Azurite, tmp_path: Path
) -> None:
    name = f"pool-small-{os.getpid()}"
    host = start_devhost(
        tmp_path, azurite.connection_string, env={"PYTHON_THREADPOOL_THREAD_COUNT": "2", "WORK_QUEUE": name}
    )
    work = queue(azurite, name)
    wait_for(lambda: work.get_queue_properties(), what="devhost to create the queue")
    work.send_message("hold:small-1")
    work.send_message("hold:small-2")
    wait_for(lambda: len(started(host, "work")) == 2, what="both threads busy")
    result: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: result.update(response=requests.get(f"{host.base}/api/hold/page", timeout=60))
    )
    caller.start()
    try:
        # The request reached the worker (it is outstanding) but has no thread: it has not started.
        wait_for(lambda: host.drain_status()["outstandingInvocations"] == 3, what="the request to wait")
        assert not for_body(host, "page", kind="http")

        host.release("small-1")
        wait_for(lambda: for_body(host, "page", kind="http"), what="the request to get the freed thread")
    finally:
        host.release("small-1", "small-2", "page")
        caller.join(30)
    assert result["response"].status_code == 200
    assert host.stop() == 0


# --- host.json limits: HTTP throttles, functionTimeout ---------------------------------------------------------


def test_past_max_concurrent_requests_requests_wait_and_past_max_outstanding_requests_they_get_429(
    azurite: Azurite, tmp_path: Path
) -> None:
    app = app_variant(tmp_path, http={"maxConcurrentRequests": 2, "maxOutstandingRequests": 3})
    host = start_devhost(tmp_path, azurite.connection_string, "--only", "http", app_dir=app)
    answers: dict[str, requests.Response] = {}
    done = threading.Event()

    def call(token: str) -> None:
        answers[token] = requests.get(f"{host.base}/api/hold/{token}", timeout=60)
        done.set()

    callers = [threading.Thread(target=call, args=(token,)) for token in ("a", "b")]
    for caller in callers:
        caller.start()
    wait_for(lambda: len([r for r in host.records() if r["kind"] == "http"]) == 2, what="two requests running")
    # Two more: one waits for a slot (the third outstanding), the other is one too many.
    later = [threading.Thread(target=call, args=(token,)) for token in ("c", "d")]
    for caller in later:
        caller.start()
    try:
        assert done.wait(30), "neither extra request was answered"
        ((refused, answer),) = answers.items()
        assert refused in ("c", "d") and answer.status_code == 429
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert "maxOutstandingRequests" in answer.json()["detail"]
        waiting = "d" if refused == "c" else "c"
        assert not for_body(host, waiting, kind="http"), "only maxConcurrentRequests functions run"
        # The throttles are for function requests: the admin API still answers.
        assert requests.get(f"{host.base}/admin/host/status", timeout=5).status_code == 200
    finally:
        host.release("a", "b", "c", "d")
        for caller in callers + later:
            caller.join(30)
    assert answers["a"].status_code == answers["b"].status_code == answers[waiting].status_code == 200
    assert host.stop() == 0


def test_past_function_timeout_the_invocation_is_abandoned_and_the_worker_restarts_and_its_message_comes_back(
    azurite: Azurite, tmp_path: Path
) -> None:
    app = app_variant(tmp_path, functionTimeout="00:00:02", queues={"visibilityTimeout": "00:00:01"})
    name = f"timeout-{os.getpid()}"
    host = start_devhost(tmp_path, azurite.connection_string, env={"WORK_QUEUE": name}, app_dir=app)
    work = queue(azurite, name)
    wait_for(lambda: work.get_queue_properties(), what="devhost to create the queue")

    work.send_message("hang-once:q")

    # The first attempt hangs: abandoned at the timeout, the worker restarts, and the message, back after
    # the visibility timeout, is tried again by the new worker process.
    done = wait_for(lambda: for_body(host, "hang-once:q", kind="queue-done"), timeout=60, what="the second attempt")
    assert [r["dequeue_count"] for r in for_body(host, "hang-once:q")] == [1, 2]
    assert done[0]["dequeue_count"] == 2
    assert "devhost: restarting the worker process after a function timeout" in host.stdout
    assert sum(line.startswith("devhost: listening on") for line in host.stdout) == 2
    log = (tmp_path / "devhost.stderr.log").read_text()
    assert "Timeout value of 00:00:02 exceeded by function 'Functions.worker'" in log
    wait_for(lambda: work.get_queue_properties().approximate_message_count == 0, what="the message deleted")

    # An HTTP function past the timeout: a 500 problem, then the same restart; the port keeps answering.
    hung = requests.get(f"{host.base}/api/hang", timeout=60)
    assert hung.status_code == 500 and "functionTimeout" in hung.json()["detail"]
    wait_for(lambda: sum(line.startswith("devhost: listening on") for line in host.stdout) == 3, what="a restart")
    assert requests.get(f"{host.base}/api/echo/1", timeout=30).status_code == 200
    assert host.stop() == 0


# --- drain mode ---------------------------------------------------------------------------------------------------


def test_drain_mode_stops_taking_messages_lets_admin_runs_finish_and_resume_takes_them_again(
    azurite: Azurite, tmp_path: Path
) -> None:
    name = f"drain-{os.getpid()}"
    host = start_devhost(tmp_path, azurite.connection_string, env={"WORK_QUEUE": name})
    work = queue(azurite, name)
    wait_for(lambda: work.get_queue_properties(), what="devhost to create the queue")
    assert host.drain_status() == {"state": "Disabled", "outstandingInvocations": 0, "outstandingRetries": 0}

    assert requests.post(f"{host.base}/admin/host/drain", headers=ADMIN, timeout=5).status_code == 202
    wait_for(lambda: host.drain_status()["state"] == "Completed", what="drained")
    work.send_message("while drained")
    admin = requests.post(f"{host.base}/admin/functions/worker", json={"input": "hold:admin"}, headers=ADMIN, timeout=5)
    assert admin.status_code == 202
    # Counted from the moment the admin API answered: no wait needed to see it.
    assert host.drain_status() == {"state": "InProgress", "outstandingInvocations": 1, "outstandingRetries": 0}
    wait_for(lambda: len(work.peek_messages(max_messages=32)) == 1, what="the message to stay in the queue")
    assert requests.get(f"{host.base}/api/echo/3", timeout=10).status_code == 200  # HTTP is still served
    host.release("admin")
    wait_for(lambda: host.drain_status()["state"] == "Completed", what="the admin run to end")
    assert for_body(host, "hold:admin", kind="queue-done")
    assert not for_body(host, "while drained")

    resumed = requests.post(f"{host.base}/admin/host/resume", headers=ADMIN, timeout=5)
    assert resumed.status_code == 200 and resumed.json() == {"state": "Running"}
    wait_for(lambda: for_body(host, "while drained", kind="queue-done"), what="the message taken after resume")
    assert host.drain_status()["state"] == "Disabled"
    assert host.stop() == 0
