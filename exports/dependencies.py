"""Wires the service to its Azure adapters: once, lazily, per worker process."""

from __future__ import annotations

import threading

from exports.service import ExportService
from exports.tag_service import TagService
from shared.logging_json import install_json_logging
from shared.redaction import install_log_redaction
from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, WORK_QUEUE, get_settings
from shared.storage.audit_table import TableAuditLog
from shared.storage.blob_sink import AzureBlobSink
from shared.storage.clients import StorageClients
from shared.storage.event_queue import AzureEventQueues
from shared.storage.job_table import TableIdempotencyStore, TableJobStore
from shared.storage.limits_table import TableLimitStore
from shared.storage.row_source import TableRowSource
from shared.storage.run_store import AzureRunStore
from shared.storage.sas import AzureLinkSigner
from shared.storage.tag_table import TableTagStore
from shared.storage.work_queue import AzureWorkQueue
from shared.telemetry import configure_telemetry
from shared.webhooks import HttpWebhookSender

# No account key or SAS signature in any log line of this process; loading the app is enough.
install_log_redaction()
# One JSON object per log line, with the job and organization it concerns.
install_json_logging()

_lock = threading.Lock()
_service: ExportService | None = None
_clients: StorageClients | None = None


def storage_clients() -> StorageClients:
    global _clients
    with _lock:
        if _clients is None:
            _clients = StorageClients(get_settings())
            configure_telemetry(_clients.settings)
        return _clients


def export_service() -> ExportService:
    global _service
    if _service is not None:
        return _service
    clients = storage_clients()
    with _lock:
        if _service is None:
            clients.ensure_resources()
            _service = build_service(clients)
        return _service


def build_service(clients: StorageClients) -> ExportService:
    settings = clients.settings
    return ExportService(
        settings=settings,
        jobs=TableJobStore(clients.tables.get_table_client(settings.jobs_table)),
        idempotency=TableIdempotencyStore(clients.tables.get_table_client(settings.idempotency_table)),
        work=AzureWorkQueue(clients.queues, WORK_QUEUE),
        source=TableRowSource(clients.tables),
        sink=AzureBlobSink(clients.blobs, settings.exports_container),
        signer=AzureLinkSigner(clients.blobs, settings.exports_container),
        tags=TableTagStore(clients.tables.get_table_client(settings.tags_table)),
        runs=AzureRunStore(clients.blobs, settings.exports_container),
        events=AzureEventQueues(clients.queues, EVENTS_QUEUE, NOTIFICATIONS_QUEUE),
        audit=TableAuditLog(clients.tables.get_table_client(settings.audit_table)),
        limits=TableLimitStore(clients.tables.get_table_client(settings.limits_table)),
        webhooks=HttpWebhookSender(),
    )


_tag_service: TagService | None = None


def tag_service() -> TagService:
    global _tag_service
    if _tag_service is None:
        service = export_service()
        _tag_service = TagService(
            settings=service.settings, tags=service.tags, source=service.source, audit=service.audit
        )
    return _tag_service
