"""Blueprint: the clean-up timer — expired files, and jobs that stopped moving."""

from __future__ import annotations

import azure.functions as func

from exports.dependencies import export_service

bp = func.Blueprint()


@bp.timer_trigger(schedule="%EXPORTS_CLEANUP_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def clean_up_exports(timer: func.TimerRequest) -> None:
    service = export_service()
    service.clean_up()
    service.redrive_stalled()
    service.republish_pending()
