"""Blueprint: the export worker, one bounded step of one job per message."""

from __future__ import annotations

import azure.functions as func

from exports.dependencies import export_service
from exports.messages import parse_message
from exports.models import WorkMessage
from shared.errors import BadMessage
from shared.logging_json import log_context
from shared.settings import WORK_QUEUE

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=WORK_QUEUE, connection="AzureWebJobsStorage")
def run_export_step(msg: func.QueueMessage) -> None:
    attempt = msg.dequeue_count or 1
    service = export_service()
    try:
        message = parse_message(msg.get_body(), WorkMessage)
    except BadMessage as error:
        service.reject_work_message(msg.get_body(), str(error), attempt=attempt)
        raise
    with log_context(job_id=message.job_id, organization_id=message.org_id, step=message.seq, attempt=attempt):
        service.run_step(message, attempt=attempt)
