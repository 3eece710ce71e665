"""The host proper: loads the app, starts the listeners it asks for, and shuts them down in order."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from devhost.invocation import FunctionFailed, InFlight, Invocation, invoke
from devhost.queue_runner import QueueOutputs, QueueRunner, make_queue_message, queue_service_client
from devhost.timer_runner import TimerRunner, make_timer_request, parse_schedule

log = logging.getLogger("devhost")

SHUTDOWN_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    bind: str = "127.0.0.1"
    port: int = 7071
    settings: Path | None = None  # default: local.settings.json in the app dir
    only: frozenset[TriggerKind] = frozenset(TRIGGER_KINDS)
    functions: frozenset[str] | None = None
    lease_seconds: int = 600


@dataclass
class Host:
    options: HostOptions
    config: HostConfig = field(default_factory=HostConfig)
    functions: list[FunctionInfo] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: DevHttpServer | None = None
    _server_thread: threading.Thread | None = None
    _queues: list[QueueRunner] = field(default_factory=list)
    _timers: list[TimerRunner] = field(default_factory=list)
    _timer_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _outputs: QueueOutputs | None = None

    # --- HostApi ---------------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, invocation: Invocation) -> Any:
        result = invoke(invocation, self.in_flight, str(self.options.app_dir))
        if invocation.outputs and self._outputs is not None:
            try:
                self._outputs.send(invocation)
            except (AzureError, ConfigError, TypeError, ValueError) as exc:
                # As in the real host, an output binding that cannot be written fails the invocation.
                log.exception("function %s: writing its output bindings failed", invocation.function.name)
                raise FunctionFailed(invocation.function.name, invocation.invocation_id) from exc
        return result

    def admin_invoke(self, name: str, input_text: str) -> AdminOutcome:
        function = next((f for f in self.functions if f.name.lower() == name.lower()), None)
        if function is None or function.kind not in ("queue", "timer"):
            return "not-allowed" if function is not None and function.kind == "http" else "missing"
        # Counted before the thread starts so a shutdown right now still waits for it.
        self.in_flight.__enter__()
        thread = threading.Thread(
            target=self._admin_run, args=(function, input_text), name=f"admin-{function.name}", daemon=True
        )
        thread.start()
        return "started"

    def _admin_run(self, function: FunctionInfo, input_text: str) -> None:
        reason = "This function was programmatically called via the host APIs."
        try:
            if function.kind == "timer":
                lock = self._timer_locks.setdefault(function.name, threading.Lock())
                with lock:
                    now = datetime.now(UTC)
                    next_due = parse_schedule(str(function.trigger["schedule"])).next_after(now)
                    self.run(Invocation(function, make_timer_request(False, now, next_due), reason))
            else:
                now = datetime.now(UTC)
                message = make_queue_message(
                    id=str(uuid.uuid4()),
                    body=input_text.encode("utf-8"),
                    dequeue_count=1,
                    expiration_time=now + timedelta(days=7),
                    insertion_time=now,
                    time_next_visible=now,
                    pop_receipt=None,
                )
                self.run(Invocation(function, message, reason))
        except FunctionFailed:
            log.debug("admin-started %s failed; the invoker logged why", function.name)
        except ConfigError as exc:
            log.error("cannot run %s: %s", function.name, exc)
        finally:
            self.in_flight.__exit__()

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        opts = self.options
        settings_path = opts.settings or opts.app_dir / "local.settings.json"
        apply_settings(load_local_settings(settings_path))
        self.config = load_host_config(opts.app_dir)
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
                lock = self._timer_locks.setdefault(function.name, threading.Lock())
                self._timers.append(TimerRunner(function, self.run, lock))
            elif function.kind == "queue":
                service = queue_service_client(function.trigger.get("connection"))
                self._queues.append(
                    QueueRunner(function, self.config.queues, opts.lease_seconds, self.run, service)
                )

        http_functions = [f for f in active if f.kind == "http"]
        if "http" in opts.only:
            self._server = DevHttpServer(
                (opts.bind, opts.port), build_router(http_functions), self.config.route_prefix, self
            )
            self._server_thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
            )
            self._server_thread.start()
        for runner in self._queues:
            runner.start()
        for timer in self._timers:
            timer.start()
        self._announce(active, http_functions)

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
        for runner in self._queues:
            # Every runner gets its drain call (no short-circuit), so each stops its renewer once idle.
            drained = runner.drain(deadline - time.monotonic()) and drained
        drained = self.in_flight.wait_idle(max(0.0, deadline - time.monotonic())) and drained
        for timer in self._timers:
            timer.join(deadline - time.monotonic())
        if not drained:
            log.warning(
                "%d invocation(s) still running after %.0fs; exiting anyway",
                self.in_flight.count,
                grace,
            )
        return drained
