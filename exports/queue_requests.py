"""Blueprint: exports requested by other systems through the request queue."""

from __future__ import annotations

import logging

import azure.functions as func

from exports.dependencies import export_service
from exports.messages import parse_message
from exports.models import ExportRequestMessage
from shared.logging_json import log_context
from shared.settings import REQUEST_QUEUE

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.queue_trigger(arg_name="msg", queue_name=REQUEST_QUEUE, connection="AzureWebJobsStorage")
def take_export_request(msg: func.QueueMessage) -> None:
    # A bad message raises: the host retries it, then moves it to export-requests-poison.
    message = parse_message(msg.get_body(), ExportRequestMessage)
    with log_context(organization_id=message.org_id, request_id=message.request_id):
        job = export_service().take_request(message)
        log.info("request %s from the queue is export %s", message.request_id, job.job_id, extra={"job_id": job.job_id})
