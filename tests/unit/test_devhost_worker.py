"""The local host's worker: one thread pool for every trigger, functionTimeout with a worker restart, the HTTP
throttles, drain mode and how many queue messages a poller holds. In-memory fakes, no servers."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueMessage

from devhost.app_loader import (
    DEFAULT_FUNCTION_TIMEOUT,
    ConfigError,
    FunctionInfo,
    HttpOptions,
    QueueOptions,
    parse_host_config,
)
from devhost.host import Host, HostOptions
from devhost.http_server import RequestThrottle
from devhost.invocation import FunctionTimedOut, Invocation, NotStarted, WorkerRestarted
from devhost.queue_runner import QueueRunner
from devhost.timer_runner import TimerRunner
from devhost.worker import Pending, WorkerPool, thread_count

WAIT = 10.0  # generous bound for a thread to reach a state it is sure to reach; never a measured time


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)


class Gate:
    """Functions that block until the test opens their gate, and say when they started."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started: list[str] = []
        self._lock = threading.Lock()

    def hold(self, name: str) -> str:
        with self._lock:
            self.started.append(name)
        assert self.opened.wait(WAIT), "the test never opened the gate"
        return name


def function(name: str, kind: Any, target: Callable[..., Any]) -> FunctionInfo:
    return FunctionInfo(name, kind, {"type": f"{kind}Trigger", "name": "arg", "queueName": "work"}, (), target)


def invocation(name: str, kind: Any, target: Callable[..., Any], arg: object = None) -> Invocation:
    return Invocation(function(name, kind, target), arg, "test")


@pytest.fixture
def pools() -> Iterator[list[WorkerPool]]:
    made: list[WorkerPool] = []
    yield made
    for pool in made:
        pool.shutdown()


# ---- the pool's size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cpus", "threads"), [(1, 5), (2, 6), (28, 32), (64, 32)])
def test_without_the_setting_the_pool_has_min_32_cpus_plus_4_threads(cpus: int, threads: int) -> None:
    assert thread_count({}, cpus=cpus) == threads


def test_python_threadpool_thread_count_sets_the_pool_size_and_a_bad_value_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": "24"}, cpus=2) == 24
    assert thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": "40"}, cpus=2) == 40
    for bad in ("0", "-3", "many"):
        assert thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": bad}, cpus=2) == 6
    assert "PYTHON_THREADPOOL_THREAD_COUNT must be a positive integer" in caplog.text


# ---- one pool for every trigger ---------------------------------------------------------------------------------


def test_http_queue_and_timer_invocations_share_one_pool_and_wait_for_a_free_thread(
    pools: list[WorkerPool],
) -> None:
    pool = WorkerPool(2)
    pools.append(pool)
    gate = Gate()
    step = pool.submit(invocation("step", "queue", gate.hold), lambda: gate.hold("step"))
    tick = pool.submit(invocation("tick", "timer", gate.hold), lambda: gate.hold("tick"))
    eventually(lambda: len(gate.started) == 2, "both threads busy")

    health = pool.submit(invocation("health", "http", lambda _: "ok"), lambda: "ok")

    assert not health.started and pool.waiting == 1 and pool.outstanding == 3
    gate.opened.set()
    assert health.result() == "ok" and step.result() == "step" and tick.result() == "tick"
    assert pool.wait_idle(WAIT) and pool.outstanding == 0


def test_async_functions_run_on_the_event_loop_and_take_no_pool_thread(pools: list[WorkerPool]) -> None:
    pool = WorkerPool(1)
    pools.append(pool)
    gate = Gate()
    pool.submit(invocation("busy", "queue", gate.hold), lambda: gate.hold("busy"))
    eventually(lambda: gate.started == ["busy"], "the only thread busy")

    async def answer(arg: object) -> str:
        await asyncio.sleep(0)
        return "async answer"

    work = invocation("answer", "http", answer)

    def call() -> Any:
        from devhost.invocation import invoke

        return invoke(work, loop=pool.loop)

    assert pool.submit(work, call).result() == "async answer"
    gate.opened.set()


# ---- functionTimeout ----------------------------------------------------------------------------------------------


def test_an_invocation_past_its_deadline_is_handed_to_the_host(pools: list[WorkerPool]) -> None:
    late: list[list[Pending]] = []
    seen = threading.Event()

    def on_timeout(pendings: list[Pending]) -> None:
        late.append(pendings)
        for pending in pendings:
            pending.finish(error=FunctionTimedOut(pending.invocation.function.name, pending.invocation.invocation_id))
        seen.set()

    pool = WorkerPool(2, timeout=0.05, on_timeout=on_timeout, tick=0.01)
    pools.append(pool)
    gate = Gate()
    stuck = pool.submit(invocation("stuck", "queue", gate.hold), lambda: gate.hold("stuck"))

    assert seen.wait(WAIT)
    assert late == [[stuck]]
    with pytest.raises(FunctionTimedOut):
        stuck.result()
    gate.opened.set()


def test_the_deadline_counts_from_dispatch_so_waiting_for_a_thread_counts_too(pools: list[WorkerPool]) -> None:
    pool = WorkerPool(1, timeout=60)
    pools.append(pool)
    gate = Gate()
    running = pool.submit(invocation("running", "queue", gate.hold), lambda: gate.hold("running"))
    eventually(lambda: gate.started == ["running"], "the only thread busy")
    waiting = pool.submit(invocation("waiting", "queue", gate.hold), lambda: gate.hold("waiting"))

    assert pool.overdue(time.monotonic()) == []
    assert set(pool.overdue(time.monotonic() + 61)) == {running, waiting}
    gate.opened.set()


class FakeQueue:
    def __init__(self, messages: int = 0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.waiting = [self._message(i) for i in range(messages)]
        self._lock = threading.Lock()

    @staticmethod
    def _message(index: int, content: str | None = None) -> QueueMessage:
        msg = QueueMessage(content=content or base64.b64encode(f"m{index}".encode()).decode())
        msg.id, msg.pop_receipt, msg.dequeue_count = f"m{index}", f"r{index}", 1
        return msg

    def receive_messages(self, *, messages_per_page: int, max_messages: int, visibility_timeout: int) -> list[Any]:
        with self._lock:
            taken, self.waiting = self.waiting[:max_messages], self.waiting[max_messages:]
            self.calls.append(("receive", len(taken)))
            return taken

    def update_message(self, message_id: str, pop_receipt: str, *, visibility_timeout: int) -> QueueMessage:
        self.calls.append(("update", (message_id, visibility_timeout)))
        return self._message(0)

    def delete_message(self, message_id: str, pop_receipt: str) -> None:
        self.calls.append(("delete", message_id))

    def send_message(self, content: str) -> None:
        self.calls.append(("send", content))

    def create_queue(self) -> None:
        pass


class FakeService:
    def __init__(self, messages: int = 0) -> None:
        self.work = FakeQueue(messages)
        self.poison = FakeQueue()

    def get_queue_client(self, name: str) -> FakeQueue:
        return self.poison if name.endswith("-poison") else self.work


OPTIONS = QueueOptions(batch_size=2, new_batch_threshold=1, max_dequeue_count=5, visibility_timeout=7.0)


def make_host(restarts: list[int | None], threads: int = 4) -> Host:
    host = Host(HostOptions(app_dir=Path(".")), restart=restarts.append)
    host.worker = WorkerPool(threads)
    return host


def queue_runner(host: Host, service: FakeService, gate: Gate) -> QueueRunner:
    def step(arg: Any) -> None:
        gate.hold(arg.get_body().decode())

    runner = QueueRunner(function("step", "queue", step), OPTIONS, 600, host.dispatch, service)  # type: ignore[arg-type]
    host._queues.append(runner)
    return runner


def test_after_a_timeout_every_invocation_fails_its_messages_come_back_later_and_the_worker_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEVHOST_ADMIN_TOKEN", "unit-test")  # the restart hands the token on through the environment
    gate, service = Gate(), FakeService()
    restarts: list[int | None] = []
    host = make_host(restarts)
    runner = queue_runner(host, service, gate)
    runner._take(FakeQueue._message(1))
    runner._take(FakeQueue._message(2))
    answer = host.dispatch(invocation("page", "http", lambda arg: gate.hold("page")))
    eventually(lambda: len(gate.started) == 3, "three invocations running")
    overdue = [p for p in host.worker._outstanding if p.invocation.function.name == "step"][:1]  # type: ignore[union-attr]

    host._timed_out(overdue)

    assert restarts == [None]  # no HTTP server here, so no socket to hand on
    assert host.stopping
    with pytest.raises(FunctionTimedOut):
        overdue[0].result()
    with pytest.raises(WorkerRestarted):
        answer.result()
    # Both messages: back after host.json's visibilityTimeout, as after any failed attempt; none deleted.
    assert sorted(call for call in service.work.calls if call[0] != "receive") == [
        ("update", ("m1", 7)),
        ("update", ("m2", 7)),
    ]
    assert runner.in_hand == 0
    gate.opened.set()
    host.worker.shutdown()  # type: ignore[union-attr]


def test_at_shutdown_messages_still_waiting_for_a_thread_go_back_at_once_and_nothing_of_them_runs() -> None:
    gate, service = Gate(), FakeService()
    restarts: list[int | None] = []
    host = make_host(restarts, threads=1)
    runner = queue_runner(host, service, gate)
    runner._take(FakeQueue._message(1))
    eventually(lambda: gate.started == ["m1"], "the only thread busy")
    runner._take(FakeQueue._message(2))
    assert host.worker is not None and host.worker.waiting == 1

    host.worker.give_up(lambda p: not p.started, lambda p: NotStarted("step", p.invocation.invocation_id))

    assert service.work.calls == [("update", ("m2", 0))]
    gate.opened.set()
    assert host.worker.wait_idle(WAIT)
    assert service.work.calls[-1] == ("delete", "m1") and gate.started == ["m1"]
    host.worker.shutdown()


# ---- how many messages a poller holds ----------------------------------------------------------------------------


def test_a_poller_holds_at_most_batch_size_plus_new_batch_threshold_and_keeps_their_leases() -> None:
    gate, service = Gate(), FakeService(messages=10)
    restarts: list[int | None] = []
    host = make_host(restarts, threads=10)
    runner = queue_runner(host, service, gate)
    runner.start()
    try:
        eventually(lambda: runner.in_hand == 2 and len(gate.started) == 2, "the first batch running")
        assert len(service.work.waiting) == 8

        # One of them ends: with no more than newBatchThreshold (1) left in hand, the next batch is fetched.
        first = next(p for p in list(host.worker._outstanding) if p.started)  # type: ignore[union-attr]
        first.finish(result=None)
        eventually(lambda: runner.in_hand == 3, "batchSize + newBatchThreshold in hand")

        assert len(service.work.waiting) == 6  # nothing more is fetched while 3 are in hand
        assert len(runner._leases) == 3  # each renewed from the moment it was received
    finally:
        runner.stop()
        gate.opened.set()
        runner.drain(WAIT)
        host.worker.shutdown()  # type: ignore[union-attr]


# ---- drain mode -----------------------------------------------------------------------------------------------------


def test_drain_mode_stops_fetching_reports_outstanding_invocations_and_resume_fetches_again() -> None:
    gate, service = Gate(), FakeService()
    restarts: list[int | None] = []
    host = make_host(restarts)
    runner = queue_runner(host, service, gate)
    assert host.drain_status() == {"state": "Disabled", "outstandingInvocations": 0, "outstandingRetries": 0}

    host.drain()
    assert not runner._may_fetch()
    running = host.dispatch(invocation("step", "queue", lambda arg: gate.hold("admin-run")))
    assert host.drain_status()["state"] == "InProgress"
    assert host.drain_status()["outstandingInvocations"] == 1
    gate.opened.set()
    running.result()
    assert host.drain_status() == {"state": "Completed", "outstandingInvocations": 0, "outstandingRetries": 0}

    host.resume()
    assert runner._may_fetch() and host.drain_status()["state"] == "Disabled"
    host.worker.shutdown()  # type: ignore[union-attr]


def test_a_timer_skips_occurrences_while_the_host_is_draining() -> None:
    ran: list[Invocation] = []
    tick = FunctionInfo("tick", "timer", {"type": "timerTrigger", "name": "t", "schedule": "00:01:00"}, (), print)
    draining = True
    timer = TimerRunner(tick, ran.append, paused=lambda: draining)
    timer._fire(past_due=False, reason="due")
    assert ran == []
    draining = False
    timer._fire(past_due=False, reason="due")
    assert len(ran) == 1


# ---- HTTP throttles ------------------------------------------------------------------------------------------------


def test_past_max_concurrent_requests_a_request_waits_and_past_max_outstanding_it_is_refused() -> None:
    throttle = RequestThrottle(HttpOptions(max_concurrent_requests=2, max_outstanding_requests=3))
    assert throttle.enter() and throttle.enter()
    third_ran = threading.Event()

    def third() -> None:
        assert throttle.enter()
        third_ran.set()
        throttle.leave()

    waiter = threading.Thread(target=third)
    waiter.start()
    eventually(lambda: throttle._outstanding == 3, "the third request waiting")
    assert not third_ran.is_set()

    assert throttle.enter() is False  # the fourth: 429

    throttle.leave()
    assert third_ran.wait(WAIT)
    waiter.join(WAIT)
    throttle.leave()
    assert throttle._outstanding == 0


# ---- host.json ------------------------------------------------------------------------------------------------------


def test_host_json_function_timeout_and_http_throttles() -> None:
    config = parse_host_config(
        {
            "functionTimeout": "00:10:00",
            "extensions": {"http": {"maxConcurrentRequests": 100, "maxOutstandingRequests": 200}},
        }
    )
    assert config.function_timeout == 600.0
    assert config.http == HttpOptions(max_concurrent_requests=100, max_outstanding_requests=200)
    defaults = parse_host_config({})
    assert defaults.function_timeout == DEFAULT_FUNCTION_TIMEOUT == 1800.0
    assert defaults.http == HttpOptions(None, None)  # -1: unbounded
    assert parse_host_config({"functionTimeout": "-1"}).function_timeout is None


@pytest.mark.parametrize(
    "doc",
    [
        {"functionTimeout": "soon"},
        {"functionTimeout": "00:00:00"},
        {"extensions": {"http": {"maxConcurrentRequests": 0}}},
        {"extensions": {"http": {"maxOutstandingRequests": "many"}}},
    ],
)
def test_bad_timeout_or_throttle_values_are_reported(doc: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_host_config(doc)


def test_the_project_host_json_bounds_http_requests_and_function_time() -> None:
    from devhost.app_loader import load_host_config
    from tests.support.azurite import PROJECT_ROOT

    config = load_host_config(PROJECT_ROOT)
    assert config.function_timeout == 600.0
    assert config.http.max_concurrent_requests == 100 and config.http.max_outstanding_requests == 200
