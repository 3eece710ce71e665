"""Timer triggers: NCRONTAB schedules (pure) and the loop that fires them."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from azure.functions.timer import TimerRequest
from croniter import CroniterError, croniter  # type: ignore[import-untyped, unused-ignore]

from devhost.app_loader import ConfigError, FunctionInfo, parse_timespan, resolve_setting_refs
from devhost.invocation import FunctionFailed, Invocation

log = logging.getLogger("devhost.timer")

PAST_DUE_AFTER = timedelta(seconds=1)
_INTERVAL = re.compile(r"^(?:\d+\.)?\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?$")


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware UTC datetime)."""
        ...


@dataclass(frozen=True)
class CronSchedule:
    expression: str

    def __post_init__(self) -> None:
        fields = self.expression.split()
        if len(fields) not in (5, 6):
            raise ConfigError(f"timer schedule {self.expression!r}: expected 6 NCRONTAB fields (or 5)")
        try:
            self._iter(datetime.now(UTC))
        except (CroniterError, ValueError, KeyError) as exc:
            raise ConfigError(f"timer schedule {self.expression!r} is invalid: {exc}") from exc

    def _iter(self, start: datetime) -> Any:
        # NCRONTAB puts seconds first; it requires both day fields to match (no Vixie-cron OR).
        six = len(self.expression.split()) == 6
        return croniter(self.expression, start, second_at_beginning=six, day_or=False)

    def next_after(self, moment: datetime) -> datetime:
        result = self._iter(moment.astimezone(UTC)).get_next(datetime)
        assert isinstance(result, datetime)
        return result.astimezone(UTC)


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule (`hh:mm:ss`): a fixed period from the previous occurrence."""

    period: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.period


def parse_schedule(raw: str) -> Schedule:
    text = resolve_setting_refs(raw).strip()
    if _INTERVAL.match(text):
        seconds = parse_timespan(text)
        if seconds <= 0:
            raise ConfigError(f"timer schedule {raw!r}: the interval must be positive")
        return IntervalSchedule(timedelta(seconds=seconds))
    return CronSchedule(text)


def utc_now() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    def __init__(
        self,
        function: FunctionInfo,
        run: Callable[[Invocation], Any],
        clock: Callable[[], datetime] = utc_now,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        # `run` returns when the invocation has ended, so the schedule never overlaps itself; the host keeps
        # admin-started runs from overlapping it (its singleton lock).
        self.function = function
        self.run = run
        self.schedule = parse_schedule(str(function.trigger["schedule"]))
        self.run_on_startup = bool(function.trigger.get("runOnStartup", False))
        self.clock = clock
        # Drain mode: occurrences that fall due meanwhile are skipped, as a stopped listener would.
        self.paused = paused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"timer-{function.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(max(0.0, timeout))

    def _loop(self) -> None:
        base = self.clock()
        if self.run_on_startup:
            self._fire(past_due=False, reason="Timer fired on startup (runOnStartup)")
        while not self._stop.is_set():
            due = self.schedule.next_after(base)
            while (remaining := (due - self.clock()).total_seconds()) > 0:
                # Short waits keep the loop honest if the wall clock jumps.
                if self._stop.wait(min(remaining, 5.0)):
                    return
            self._fire(
                past_due=self.clock() - due > PAST_DUE_AFTER, reason=f"Timer fired at {due.isoformat()}"
            )
            base = due
            if self.schedule.next_after(due) < self.clock() and not self._stop.is_set():
                # The run outlasted later occurrences: catch up once, as past due, rather than once per miss.
                self._fire(past_due=True, reason="Timer is past due")
                base = self.clock()

    def _fire(self, past_due: bool, reason: str) -> None:
        if self.paused():
            log.info("timer %s: skipped (%s) while the host is draining", self.function.name, reason)
            return
        now = self.clock()
        request = make_timer_request(past_due, last=now, next_due=self.schedule.next_after(now))
        # A failed run was logged by the invoker and does not stop the schedule.
        with contextlib.suppress(FunctionFailed):
            self.run(Invocation(self.function, request, reason))


def make_timer_request(past_due: bool, last: datetime, next_due: datetime) -> TimerRequest:
    return TimerRequest(
        past_due=past_due,
        schedule_status={
            "Last": last.isoformat(),
            "Next": next_due.isoformat(),
            "LastUpdated": last.isoformat(),
        },
        schedule={"AdjustForDST": True},
    )
