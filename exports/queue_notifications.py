"""Blueprint: webhook deliveries, one attempt per message; the next attempt is a delayed message."""

from __future__ import annotations

import azure.functions as func

from exports.dependencies import export_service
from exports.messages import parse_message
from exports.models import NotificationMessage
from shared.settings import NOTIFICATIONS_QUEUE

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=NOTIFICATIONS_QUEUE, connection="AzureWebJobsStorage")
def deliver_export_notification(msg: func.QueueMessage) -> None:
    # A bad message raises: the host retries it, then moves it to export-notifications-poison.
    export_service().deliver_notification(parse_message(msg.get_body(), NotificationMessage))
