"""The host proper: loads the app, starts the listeners it asks for, and shuts them down in order."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from azure.core.exceptions import AzureError

from devhost.app_loader import (
    TRIGGER_KINDS,
    ConfigError,
    FunctionInfo,
    HostConfig,
    TriggerKind,
    apply_settings,
    describe_functions,
    load_app,
    load_host_config,
    load_local_settings,
)
from devhost.http_server import AdminOutcome, DevHttpServer, build_router
from devhost.invocation import (
    FunctionFailed,
    FunctionTimedOut,
    InFlight,
    Invocation,
    NotStarted,
    WorkerRestarted,
    invoke,
)
from devhost.queue_runner import QueueOutputs, QueueRunner, make_queue_message, queue_service_client
from devhost.timer_runner import TimerRunner, make_timer_request, parse_schedule
from devhost.worker import Pending, WorkerPool, is_async, thread_count

log = logging.getLogger("devhost")

SHUTDOWN_GRACE_SECONDS = 30.0
# After a timeout, how long HTTP callers get to be answered before the worker process is replaced.
RESTART_ANSWER_GRACE_SECONDS = 5.0
# Set by a host that replaces itself: the listening socket it hands on, and how many restarts came before.
LISTEN_FD_ENV = "DEVHOST_LISTEN_FD"
RESTARTS_ENV = "DEVHOST_WORKER_RESTARTS"


def _timespan(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def replace_process(listen_fd: int | None) -> NoReturn:
    """The worker restart: the same command line in a new program image (same pid, same stdout and stderr),
    so every thread, stuck ones included, is gone. The listening socket is handed on."""
    env = os.environ
    if listen_fd is not None:
        os.set_inheritable(listen_fd, True)
        env[LISTEN_FD_ENV] = str(listen_fd)
    env[RESTARTS_ENV] = str(int(env.get(RESTARTS_ENV, "0")) + 1)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # The interpreter and the command line this process was started with: nothing from outside.
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606  # nosec B606


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    bind: str = "127.0.0.1"
    port: int = 7071
    settings: Path | None = None  # default: local.settings.json in the app dir
    only: frozenset[TriggerKind] = frozenset(TRIGGER_KINDS)
    functions: frozenset[str] | None = None
    lease_seconds: int = 600
    # The admin API's per-run token (x-functions-key): DEVHOST_ADMIN_TOKEN if set, a fresh random one otherwise.
    admin_token: str = field(default_factory=lambda: os.environ.get("DEVHOST_ADMIN_TOKEN") or secrets.token_urlsafe(32))


@dataclass
class Host:
    options: HostOptions
    config: HostConfig = field(default_factory=HostConfig)
    functions: list[FunctionInfo] = field(default_factory=list)
    # HTTP requests being answered (the invocations themselves are counted by the worker pool).
    responding: InFlight = field(default_factory=InFlight)
    # Replaces the process after a function timeout; tests substitute their own.
    restart: Callable[[int | None], Any] = replace_process
    worker: WorkerPool | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _draining: threading.Event = field(default_factory=threading.Event)
    _restarting: bool = False
    _restart_lock: threading.Lock = field(default_factory=threading.Lock)
    _server: DevHttpServer | None = None
    _server_thread: threading.Thread | None = None
    _queues: list[QueueRunner] = field(default_factory=list)
    _timers: list[TimerRunner] = field(default_factory=list)
    _timer_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _outputs: QueueOutputs | None = None

    # --- HostApi ---------------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set() or self._restarting

    @property
    def admin_token(self) -> str:
        return self.options.admin_token

    def dispatch(self, invocation: Invocation, on_done: Callable[[Pending], None] | None = None) -> Pending:
        """Hands the invocation to the worker pool; `on_done` sees its outcome before anyone else."""
        assert self.worker is not None, "the host is not started"
        return self.worker.submit(invocation, lambda: self._execute(invocation), on_done)

    def run(self, invocation: Invocation) -> Any:
        """Dispatches and waits: the result, or FunctionFailed (or one of its kinds)."""
        return self.dispatch(invocation).result()

    def _execute(self, invocation: Invocation) -> Any:
        """What one worker thread does for an invocation: the call, then its output bindings."""
        function = invocation.function
        loop = self.worker.loop if self.worker is not None and is_async(invocation) else None
        if function.kind == "timer":
            # The host's singleton lock: a timer function never overlaps itself, admin-started runs included.
            with self._timer_locks.setdefault(function.name, threading.Lock()):
                result = invoke(invocation, str(self.options.app_dir), loop)
        else:
            result = invoke(invocation, str(self.options.app_dir), loop)
        if invocation.outputs and self._outputs is not None:
            try:
                self._outputs.send(invocation)
            except (AzureError, ConfigError, TypeError, ValueError) as exc:
                # As in the real host, an output binding that cannot be written fails the invocation.
                log.exception("function %s: writing its output bindings failed", function.name)
                raise FunctionFailed(function.name, invocation.invocation_id) from exc
        return result

    def admin_invoke(self, name: str, input_text: str) -> AdminOutcome:
        function = next((f for f in self.functions if f.name.lower() == name.lower()), None)
        if function is None or function.kind not in ("queue", "timer"):
            return "not-allowed" if function is not None and function.kind == "http" else "missing"
        reason = "This function was programmatically called via the host APIs."
        now = datetime.now(UTC)
        if function.kind == "timer":
            try:
                next_due = parse_schedule(str(function.trigger["schedule"])).next_after(now)
            except ConfigError as exc:
                log.error("cannot run %s: %s", function.name, exc)
                return "started"
            trigger: Any = make_timer_request(False, now, next_due)
        else:
            trigger = make_queue_message(
                id=str(uuid.uuid4()),
                body=input_text.encode("utf-8"),
                dequeue_count=1,
                expiration_time=now + timedelta(days=7),
                insertion_time=now,
                time_next_visible=now,
                pop_receipt=None,
            )
        # Dispatched before the answer, so drain status counts it from the moment the caller hears 202.
        self.dispatch(Invocation(function, trigger, reason))
        return "started"

    def drain(self) -> None:
        if not self._draining.is_set():
            log.info("drain mode enabled: listeners stop taking work")
        self._draining.set()
        for runner in self._queues:
            runner.pause()

    def resume(self) -> None:
        if self._draining.is_set():
            log.info("drain mode disabled: listeners take work again")
        self._draining.clear()
        for runner in self._queues:
            runner.resume()

    def drain_status(self) -> dict[str, Any]:
        outstanding = self.worker.outstanding if self.worker is not None else 0
        in_hand = sum(runner.in_hand for runner in self._queues)
        if not self._draining.is_set():
            state = "Disabled"
        else:
            state = "Completed" if outstanding == 0 and in_hand == 0 else "InProgress"
        return {"state": state, "outstandingInvocations": max(outstanding, in_hand), "outstandingRetries": 0}

    # --- function timeout ------------------------------------------------------------------------------

    def _timed_out(self, overdue: list[Pending]) -> None:
        timeout = self.config.function_timeout or 0.0
        for pending in overdue:
            log.error(
                "Timeout value of %s exceeded by function 'Functions.%s' (Id: %s). Initiating cancellation.",
                _timespan(timeout),
                pending.invocation.function.name,
                pending.invocation.invocation_id,
            )
        self.restart_worker(overdue)

    def restart_worker(self, overdue: list[Pending]) -> None:
        """As the platform does after a timeout: every invocation the worker holds fails (queue messages come
        back after the visibility timeout), then the worker process is replaced."""
        with self._restart_lock:
            if self._restarting:
                return
            self._restarting = True
        log.error("A function timeout has occurred; restarting the worker process")
        sys.stdout.write("devhost: restarting the worker process after a function timeout\n")
        sys.stdout.flush()
        if self._server is not None:
            # Stop accepting, keep the socket: new connections wait in its backlog for the new process.
            self._server.shutdown()
        for runner in self._queues:
            runner.stop()
        assert self.worker is not None
        late = set(overdue)

        def failure(pending: Pending) -> FunctionFailed:
            kind = FunctionTimedOut if pending in late else WorkerRestarted
            return kind(pending.invocation.function.name, pending.invocation.invocation_id)

        self.worker.give_up(lambda _: True, failure)
        self.responding.wait_idle(RESTART_ANSWER_GRACE_SECONDS)
        # The new process keeps the admin API's token, so callers holding it carry on.
        os.environ["DEVHOST_ADMIN_TOKEN"] = self.options.admin_token
        self.restart(self._server.socket.fileno() if self._server is not None else None)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        opts = self.options
        settings_path = opts.settings or opts.app_dir / "local.settings.json"
        apply_settings(load_local_settings(settings_path))
        self.config = load_host_config(opts.app_dir)
        threads = thread_count()
        self.worker = WorkerPool(threads, self.config.function_timeout, self._timed_out)
        app = load_app(opts.app_dir)
        everything = describe_functions(app)
        if opts.functions is not None:
            unknown = opts.functions - {f.name for f in everything}
            if unknown:
                raise ConfigError(f"--functions names unknown functions: {', '.join(sorted(unknown))}")
            everything = [f for f in everything if f.name in opts.functions]
        self.functions = everything
        self._outputs = QueueOutputs(self.config.queues)
        active = [f for f in everything if f.kind in opts.only]

        for function in active:
            if function.kind == "timer":
                self._timers.append(TimerRunner(function, self.run, paused=self._draining.is_set))
            elif function.kind == "queue":
                service = queue_service_client(function.trigger.get("connection"))
                self._queues.append(
                    QueueRunner(function, self.config.queues, opts.lease_seconds, self.dispatch, service)
                )

        http_functions = [f for f in active if f.kind == "http"]
        if "http" in opts.only:
            inherited = os.environ.pop(LISTEN_FD_ENV, None)
            self._server = DevHttpServer(
                (opts.bind, opts.port),
                build_router(http_functions),
                self.config.route_prefix,
                self,
                self.config.http,
                listen_fd=int(inherited) if inherited else None,
            )
            self._server_thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
            )
            self._server_thread.start()
        for runner in self._queues:
            runner.start()
        for timer in self._timers:
            timer.start()
        restarts = os.environ.get(RESTARTS_ENV)
        if restarts:
            log.warning("worker process restarted (%s restart(s) since the host started)", restarts)
        log.info("worker: %d threads; functionTimeout %s", threads, self._timeout_text())
        self._announce(active, http_functions)

    def _timeout_text(self) -> str:
        timeout = self.config.function_timeout
        return "none" if timeout is None else _timespan(timeout)

    def _announce(self, active: list[FunctionInfo], http_functions: list[FunctionInfo]) -> None:
        lines = ["", "Functions:", ""]
        base = self._server.base_url if self._server else None
        for function in active:
            if function.kind == "http" and base:
                methods = ",".join(str(m) for m in function.trigger.get("methods") or []) or "ALL"
                route = function.trigger.get("route") or function.name
                lines.append(f"        {function.name}: [{methods}] {base}/{route}")
            else:
                lines.append(f"        {function.name}: {function.trigger['type']}")
            lines.append("")
        if base:
            # Printed once per run: a page in the developer's browser cannot know it, so cannot start functions.
            lines.extend([f"Admin API token (header x-functions-key): {self.options.admin_token}", ""])
        names = ", ".join(f.name for f in active) or "none"
        where = f"listening on {base}" if base else "running without an HTTP server"
        lines.append(f"devhost: {where} (functions: {names})")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    def shutdown(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> bool:
        """Stop taking work, then wait up to `grace` seconds for what is running. True when all drained."""
        deadline = time.monotonic() + grace
        self._stopping.set()
        log.info("shutting down; waiting up to %.0fs for running invocations", grace)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for runner in self._queues:
            runner.stop()
        for timer in self._timers:
            timer.stop()
        drained = True
        if self.worker is not None:
            # Invocations still waiting for a thread never start: their messages go back at once.
            self.worker.give_up(
                lambda p: not p.started, lambda p: NotStarted(p.invocation.function.name, p.invocation.invocation_id)
            )
        for runner in self._queues:
            # Every runner gets its drain call (no short-circuit), so each stops its renewer once idle.
            drained = runner.drain(deadline - time.monotonic()) and drained
        if self.worker is not None:
            drained = self.worker.wait_idle(deadline - time.monotonic()) and drained
        drained = self.responding.wait_idle(max(0.0, deadline - time.monotonic())) and drained
        for timer in self._timers:
            timer.join(deadline - time.monotonic())
        if not drained:
            log.warning(
                "%d invocation(s) still running after %.0fs; exiting anyway",
                self.worker.outstanding if self.worker is not None else 0,
                grace,
            )
        if self.worker is not None:
            self.worker.shutdown()
        return drained
