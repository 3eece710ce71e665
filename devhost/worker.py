"""The worker side of the host: one thread pool for every synchronous invocation, and functionTimeout.

The Python worker runs the synchronous functions of every trigger (HTTP, queue, timer) on one thread pool and
async functions on its event loop; an invocation that finds every thread busy waits for one. A function past
host.json's `functionTimeout` cannot be stopped inside a thread, so the platform restarts the worker process,
failing every invocation it held. `WorkerPool` tracks each dispatched invocation as a `Pending`; its watchdog
hands the overdue ones to the host, which does the restart.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devhost.invocation import Invocation

log = logging.getLogger("devhost")

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
WATCHDOG_TICK_SECONDS = 0.25


def thread_count(environ: Mapping[str, str] | None = None, cpus: int | None = None) -> int:
    """The worker's pool size: the app setting, else `min(32, cpus + 4)` (ThreadPoolExecutor's own default).

    Like the worker, a value that is not a positive integer is reported and the default used instead.
    """
    env = os.environ if environ is None else environ
    default = min(32, (os.cpu_count() or 1 if cpus is None else cpus) + 4)
    raw = env.get(THREAD_COUNT_SETTING, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        log.warning("%s must be a positive integer, got %r; using %d threads", THREAD_COUNT_SETTING, raw, default)
        return default
    return value


def is_async(invocation: Invocation) -> bool:
    return inspect.iscoroutinefunction(invocation.function.user_function)


class Pending:
    """One dispatched invocation. Its outcome is set once: by the thread that ran it, or by the host giving
    up on it (a timeout, a worker restart, a shutdown before it started), whichever comes first."""

    def __init__(
        self,
        invocation: Invocation,
        deadline: float | None,
        on_done: Callable[[Pending], None] | None,
        on_settled: Callable[[Pending], None],
    ) -> None:
        self.invocation = invocation
        self.deadline = deadline
        self._on_done = on_done
        self._on_settled = on_settled
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._started = False
        self._finished = False
        self._result: Any = None
        self._error: BaseException | None = None

    @property
    def started(self) -> bool:
        with self._lock:
            return self._started

    @property
    def done(self) -> bool:
        with self._lock:
            return self._finished

    @property
    def error(self) -> BaseException | None:
        return self._error

    def start(self) -> bool:
        """False when the host already gave up on it: then it must not run."""
        with self._lock:
            if self._finished:
                return False
            self._started = True
            return True

    def finish(self, result: Any = None, error: BaseException | None = None) -> bool:
        """Sets the outcome unless one is set already; runs `on_done` (settling a queue message) before
        `result()` returns and before the invocation stops counting as outstanding."""
        with self._lock:
            if self._finished:
                return False
            self._finished = True
            self._result, self._error = result, error
        try:
            if self._on_done is not None:
                self._on_done(self)
        except Exception:
            log.exception("settling invocation %s failed", self.invocation.invocation_id)
        finally:
            self._settled.set()
            self._on_settled(self)
        return True

    def result(self) -> Any:
        self._settled.wait()
        if self._error is not None:
            raise self._error
        return self._result


class WorkerPool:
    def __init__(
        self,
        threads: int,
        timeout: float | None = None,
        on_timeout: Callable[[list[Pending]], None] | None = None,
        tick: float = WATCHDOG_TICK_SECONDS,
    ) -> None:
        self.threads = threads
        self.timeout = timeout
        self._on_timeout = on_timeout
        self._tick = tick
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="worker")
        self._outstanding: set[Pending] = set()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        if timeout is not None and on_timeout is not None:
            self._watchdog = threading.Thread(target=self._watch, name="function-timeout", daemon=True)
            self._watchdog.start()

    # --- dispatch --------------------------------------------------------------------------------------

    def submit(
        self, invocation: Invocation, call: Callable[[], Any], on_done: Callable[[Pending], None] | None = None
    ) -> Pending:
        """Queues `call` for a pool thread (async functions: for the event loop). The timeout counts from
        here, as on the platform, where it includes the wait for a thread."""
        deadline = time.monotonic() + self.timeout if self.timeout is not None else None
        pending = Pending(invocation, deadline, on_done, self._settled)
        with self._cond:
            self._outstanding.add(pending)
        if is_async(invocation):
            # The coroutine runs on the shared loop; this thread only waits for it, as the worker's own
            # gRPC side does, so it takes no pool thread.
            name = f"async-{invocation.function.name}"
            threading.Thread(target=self._run, args=(pending, call), name=name, daemon=True).start()
        else:
            self._executor.submit(self._run, pending, call)
        return pending

    def _run(self, pending: Pending, call: Callable[[], Any]) -> None:
        if not pending.start():
            return
        try:
            result = call()
        except BaseException as error:
            pending.finish(error=error)
        else:
            pending.finish(result=result)

    def _settled(self, pending: Pending) -> None:
        with self._cond:
            self._outstanding.discard(pending)
            self._cond.notify_all()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The one event loop every async function runs on, started on first use."""
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="event-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    # --- state -----------------------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Invocations dispatched and not yet settled: running, or waiting for a thread."""
        with self._cond:
            return len(self._outstanding)

    @property
    def waiting(self) -> int:
        """Dispatched invocations that have no thread yet."""
        with self._cond:
            pendings = list(self._outstanding)
        return sum(1 for p in pendings if not p.started)

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._outstanding, timeout=max(0.0, timeout))

    def give_up(self, select: Callable[[Pending], bool], error: Callable[[Pending], BaseException]) -> list[Pending]:
        """Sets `error(p)` as the outcome of every outstanding `p` that `select` picks; returns those."""
        with self._cond:
            pendings = [p for p in self._outstanding if select(p)]
        return [p for p in pendings if p.finish(error=error(p))]

    def overdue(self, now: float) -> list[Pending]:
        with self._cond:
            pendings = list(self._outstanding)
        return [p for p in pendings if p.deadline is not None and p.deadline <= now and not p.done]

    def _watch(self) -> None:
        assert self._on_timeout is not None
        while not self._closed.wait(self._tick):
            late = self.overdue(time.monotonic())
            if late:
                self._on_timeout(late)

    def shutdown(self) -> None:
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._loop_lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)

