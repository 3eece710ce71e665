"""Queue message handling and the timer loop of devhost, against in-memory fakes."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import QueueMessage

from devhost.app_loader import FunctionInfo, QueueOptions
from devhost.invocation import FunctionFailed, Invocation, invoke
from devhost.queue_runner import QueueRunner
from devhost.timer_runner import TimerRunner
from devhost.worker import Pending


class FakeQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, Any]] = []
        self.fail_delete = False

    def update_message(self, message_id: str, pop_receipt: str, *, visibility_timeout: int) -> QueueMessage:
        self.calls.append(("update", visibility_timeout))
        updated = QueueMessage(content=None)
        updated.pop_receipt = pop_receipt + "'"
        return updated

    def delete_message(self, message_id: str, pop_receipt: str) -> None:
        self.calls.append(("delete", pop_receipt))
        if self.fail_delete:
            raise HttpResponseError("The specified message does not exist.")

    def send_message(self, content: str) -> None:
        self.calls.append(("send", content))


class FakeService:
    def __init__(self) -> None:
        self.queues: dict[str, FakeQueue] = {}

    def get_queue_client(self, name: str) -> FakeQueue:
        return self.queues.setdefault(name, FakeQueue(name))


def message(content: str, dequeue_count: int = 1) -> QueueMessage:
    msg = QueueMessage(content=content)
    msg.id, msg.pop_receipt, msg.dequeue_count = "m1", "r1", dequeue_count
    return msg


def user_function(msg: Any) -> None:
    if msg.get_body() == b"fail":
        raise ValueError("no")
    if msg.get_body() == b"slow":
        time.sleep(1.2)


def runner(lease: int = 600) -> tuple[QueueRunner, FakeService, list[Any]]:
    function = FunctionInfo(
        "worker", "queue", {"type": "queueTrigger", "name": "msg", "queueName": "work"}, (), user_function
    )
    seen: list[Any] = []

    def dispatch(invocation: Invocation, on_done: Any) -> Pending:
        """Runs the invocation at once, in this thread, as a free worker thread would."""
        seen.append(invocation.trigger_value)
        pending = Pending(invocation, None, on_done, lambda _: None)
        pending.start()
        try:
            result = invoke(invocation)
        except FunctionFailed as error:
            pending.finish(error=error)
        else:
            pending.finish(result=result)
        return pending

    service = FakeService()
    options = QueueOptions(batch_size=2, new_batch_threshold=1, max_dequeue_count=2, visibility_timeout=5.0)
    return QueueRunner(function, options, lease, dispatch, service), service, seen  # type: ignore[arg-type]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_success_deletes_the_message() -> None:
    queue_runner, service, seen = runner()
    queue_runner._take(message(b64("ok")))
    assert seen[0].get_body() == b"ok" and seen[0].dequeue_count == 1
    assert service.queues["work"].calls == [("delete", "r1")]


def test_failure_below_the_limit_makes_it_visible_after_visibility_timeout() -> None:
    queue_runner, service, _ = runner()
    queue_runner._take(message(b64("fail"), dequeue_count=1))
    assert service.queues["work"].calls == [("update", 5)]
    assert service.queues["work-poison"].calls == []


def test_failure_at_the_limit_moves_the_original_text_to_poison() -> None:
    queue_runner, service, _ = runner()
    queue_runner._take(message(b64("fail"), dequeue_count=2))
    assert service.queues["work-poison"].calls == [("send", b64("fail"))]
    assert service.queues["work"].calls == [("delete", "r1")]


def test_over_the_limit_goes_to_poison_without_running() -> None:
    queue_runner, service, seen = runner()
    queue_runner._take(message(b64("ok"), dequeue_count=3))
    assert seen == []
    assert service.queues["work-poison"].calls == [("send", b64("ok"))]


def test_stale_pop_receipt_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    queue_runner, service, _ = runner()
    service.queues["work"].fail_delete = True
    queue_runner._take(message(b64("ok")))
    assert queue_runner.in_hand == 0
    assert "does not exist" in caplog.text or "HttpResponseError" in caplog.text


def test_lease_is_renewed_and_the_new_receipt_is_used() -> None:
    queue_runner, service, _ = runner(lease=1)
    queue_runner._renewer.start()
    try:
        queue_runner._take(message(b64("slow")))
    finally:
        queue_runner._renewer_stop.set()
    calls = service.queues["work"].calls
    assert ("update", 1) in calls
    assert calls[-1][0] == "delete" and calls[-1][1].startswith("r1'")


def test_timer_never_overlaps_itself_and_reports_past_due() -> None:
    function = FunctionInfo(
        "tick",
        "timer",
        {"type": "timerTrigger", "name": "t", "schedule": "00:00:00.2", "runOnStartup": True},
        (),
        lambda t: None,
    )
    spans: list[tuple[float, float, bool]] = []

    def run(invocation: Invocation) -> None:
        start = time.monotonic()
        time.sleep(0.5)
        spans.append((start, time.monotonic(), invocation.trigger_value.past_due))

    timer = TimerRunner(function, run)
    timer.start()
    time.sleep(1.8)
    timer.stop()
    timer.join(2)
    assert len(spans) >= 3
    assert spans[0][2] is False  # runOnStartup is on time by definition
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))
    assert any(past_due for *_, past_due in spans[1:])


def test_invoke_passes_context_and_wraps_failures() -> None:
    captured: dict[str, Any] = {}

    def fn(req: Any, context: Any) -> str:
        captured["id"] = context.invocation_id
        return "ok"

    function = FunctionInfo("f", "http", {"type": "httpTrigger", "name": "req"}, (), fn)
    invocation = Invocation(function, object(), "test")
    assert invoke(invocation) == "ok"
    assert captured["id"] == invocation.invocation_id

    async def broken(req: Any) -> None:
        raise RuntimeError("x")

    with pytest.raises(FunctionFailed):
        invoke(Invocation(FunctionInfo("g", "http", {"name": "req"}, (), broken), object(), "test"))
