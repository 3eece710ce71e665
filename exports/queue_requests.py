"""Blueprint: exports requested by other systems through the request queue."""

from __future__ import annotations

import logging

import azure.functions as func

from exports.dependencies import export_service
from exports.messages import read_export_request
from shared.logging_json import log_context
from shared.settings import REQUEST_QUEUE

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.queue_trigger(arg_name="msg", queue_name=REQUEST_QUEUE, connection="AzureWebJobsStorage")
def take_export_request(msg: func.QueueMessage) -> None:
    # Only a message that names no one to answer raises BadMessage: the host retries it, then moves it to
    # export-requests-poison. A refused request is answered on its reply queue and export-events instead.
    message = read_export_request(msg.get_body())
    with log_context(organization_id=message.org_id, request_id=message.request_id):
        job = export_service().take_request(message)
        if job is not None:
            log.info("request %s from the queue is export %s", message.request_id, job.job_id,
                     extra={"job_id": job.job_id})
