"""Calling a user function the way the Python worker does, with the host's start/end log lines."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

import azure.functions as func

from devhost.app_loader import FunctionInfo
from devhost.functions_sdk import RetryContext, RpcException, TraceContext

log = logging.getLogger("devhost")


class FunctionFailed(Exception):
    """The invocation failed. Its cause is logged already; callers only decide what failure means."""

    def __init__(self, function_name: str, invocation_id: str) -> None:
        super().__init__(f"function {function_name} failed (invocation {invocation_id})")
        self.invocation_id = invocation_id


class FunctionTimedOut(FunctionFailed):
    """It ran past host.json's functionTimeout; the worker process is being restarted."""


class WorkerRestarted(FunctionFailed):
    """Another invocation timed out and the worker process restarts: every invocation it held fails."""


class NotStarted(FunctionFailed):
    """The host stopped before a thread was free to run it; nothing of it ran."""


class InFlight:
    """Counts what is under way (HTTP requests being answered) so shutdown and restarts can wait for it."""

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    def __enter__(self) -> Self:
        with self._cond:
            self._count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout=timeout)


class _TraceContext(TraceContext):
    def __init__(self) -> None:
        self._attrs: dict[str, str] = {}

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return self._attrs


class _RetryContext(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:
        raise AttributeError("no retry policy is configured")


class _Context(func.Context):
    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()


class OutValue(func.Out[Any]):
    """What an output-binding parameter receives; the host reads it after the call."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass
class Invocation:
    """One call's inputs; `outputs` holds the output-binding values after the call."""

    function: FunctionInfo
    trigger_value: Any
    reason: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    outputs: dict[str, OutValue] = field(default_factory=dict)


def _await(awaitable: Any, loop: asyncio.AbstractEventLoop | None) -> Any:
    async def wrapper() -> Any:
        return await awaitable

    if loop is None:
        return asyncio.run(wrapper())
    # The worker's one event loop: async functions share it, as they do in the Python worker.
    return asyncio.run_coroutine_threadsafe(wrapper(), loop).result()


def _call(function: FunctionInfo, kwargs: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> Any:
    target = function.user_function
    if inspect.iscoroutinefunction(target):
        return _await(target(**kwargs), loop)
    result = target(**kwargs)
    if inspect.isawaitable(result):
        return _await(result, loop)
    return result


def invoke(invocation: Invocation, app_dir: str = ".", loop: asyncio.AbstractEventLoop | None = None) -> Any:
    """Run the function; any exception it raises comes out as FunctionFailed, once logged."""
    function = invocation.function
    params = inspect.signature(function.user_function).parameters
    kwargs: dict[str, Any] = {function.trigger_arg: invocation.trigger_value}
    for binding in function.bindings:
        name = str(binding.get("name", ""))
        if binding is function.trigger or name == "$return" or name not in params:
            continue
        if binding.get("direction") in (1, 2):  # BindingDirection.OUT / INOUT
            out = OutValue()
            invocation.outputs[name] = out
            kwargs[name] = out
    if "context" in params and "context" not in kwargs:
        kwargs["context"] = _Context(invocation.invocation_id, function.name, app_dir)

    log.info(
        "Executing 'Functions.%s' (Reason='%s', Id=%s)",
        function.name,
        invocation.reason,
        invocation.invocation_id,
    )
    started = time.monotonic()
    try:
        result = _call(function, kwargs, loop)
    except Exception as exc:
        elapsed = (time.monotonic() - started) * 1000
        log.exception(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
            function.name,
            invocation.invocation_id,
            elapsed,
        )
        raise FunctionFailed(function.name, invocation.invocation_id) from exc
    elapsed = (time.monotonic() - started) * 1000
    log.info(
        "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
        function.name,
        invocation.invocation_id,
        elapsed,
    )
    return result
