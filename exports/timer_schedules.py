"""Blueprint: the schedules' timer — every minute, due export schedules become jobs (exports/scheduling.py)."""

from __future__ import annotations

import azure.functions as func

from exports.dependencies import scheduled_runs

bp = func.Blueprint()

# Every minute: a schedule runs at most hourly, and a run is late by at most a minute. Two instances firing
# at once create each run once (its run key is the job's idempotency key).
EVERY_MINUTE = "0 * * * * *"


@bp.timer_trigger(schedule=EVERY_MINUTE, arg_name="timer", run_on_startup=False, use_monitor=True)
def run_export_schedules(timer: func.TimerRequest) -> None:
    scheduled_runs().run_due()
