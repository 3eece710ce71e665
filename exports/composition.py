"""The composition root: the services built from settings, each port replaceable. No side effects at import.

The function app (through exports/dependencies.py), the unit tests (in-memory ports) and the fault tests
build the service here; a port not given is the Azure adapter over the storage clients, which are only
created when some port needs them.
"""

from __future__ import annotations

from typing import Any

from exports.ports import RowSource, ScheduleStore
from exports.schedules import ExportSchedules
from exports.scheduling import ScheduledRuns
from exports.service import ExportService
from exports.tag_service import TagService
from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, WORK_QUEUE, Settings
from shared.storage.audit_table import TableAuditLog
from shared.storage.blob_sink import AzureBlobSink
from shared.storage.clients import StorageClients
from shared.storage.event_queue import AzureEventQueues
from shared.storage.job_table import TableIdempotencyStore, TableJobStore
from shared.storage.limits_table import TableLimitStore
from shared.storage.row_source import TableRowSource
from shared.storage.run_store import AzureRunStore
from shared.storage.sas import AzureLinkSigner
from shared.storage.schedule_table import TableScheduleStore
from shared.storage.table_query import TableLayout
from shared.storage.tag_table import TableTagStore
from shared.storage.work_queue import AzureWorkQueue
from shared.webhooks import HttpWebhookSender

PORTS = (
    "jobs",
    "idempotency",
    "work",
    "source",
    "sink",
    "signer",
    "tags",
    "runs",
    "events",
    "audit",
    "limits",
    "webhooks",
)


def build_service(settings: Settings, *, clients: StorageClients | None = None, **overrides: Any) -> ExportService:
    """The export service; `overrides` replace ports (and clock, monotonic, resolve) by name."""
    unknown = set(overrides) - set(PORTS) - {"clock", "monotonic", "resolve"}
    if unknown:
        raise TypeError(f"build_service: no port named {', '.join(sorted(unknown))}")
    ports = dict(overrides)
    if any(name not in ports for name in PORTS):
        ports = {**_azure_ports(clients or StorageClients(settings)), **ports}
    return ExportService(settings=settings, **ports)


def _azure_ports(clients: StorageClients) -> dict[str, Any]:
    settings = clients.settings
    return {
        "jobs": TableJobStore(clients.tables.get_table_client(settings.jobs_table)),
        "idempotency": TableIdempotencyStore(clients.tables.get_table_client(settings.idempotency_table)),
        "work": AzureWorkQueue(clients.queues, WORK_QUEUE),
        "source": row_source(settings, clients),
        "sink": AzureBlobSink(clients.blobs, settings.exports_container),
        "signer": AzureLinkSigner(clients.blobs, settings.exports_container),
        "tags": TableTagStore(clients.tables.get_table_client(settings.tags_table)),
        "runs": AzureRunStore(clients.blobs, settings.exports_container),
        "events": AzureEventQueues(clients.queues, EVENTS_QUEUE, NOTIFICATIONS_QUEUE),
        "audit": TableAuditLog(clients.tables.get_table_client(settings.audit_table)),
        "limits": TableLimitStore(clients.tables.get_table_client(settings.limits_table)),
        "webhooks": HttpWebhookSender(),
    }


def row_source(settings: Settings, clients: StorageClients) -> RowSource:
    """Where exports read their rows: EXPORTS_SOURCE picks Table storage or PostgreSQL."""
    if settings.source == "postgres":
        # Imported only here: an app reading Table storage never loads the PostgreSQL driver.
        from shared.postgres.connection import shared_pool
        from shared.postgres.row_source import PostgresRowSource

        return PostgresRowSource(
            shared_pool(settings), schema=settings.postgres_schema, page_rows=settings.postgres_page_rows
        )
    layout = TableLayout(settings.cases_table, settings.case_records_table, settings.tickets_table)
    return TableRowSource(clients.tables, layout=layout)


def build_tag_service(service: ExportService) -> TagService:
    """Tag administration over the same settings and ports as the export service."""
    return TagService(settings=service.settings, tags=service.tags, source=service.source, audit=service.audit)


# ---- scheduled exports ------------------------------------------------------------------------------


def schedule_store(clients: StorageClients) -> ScheduleStore:
    return TableScheduleStore(clients.tables.get_table_client(clients.settings.schedules_table))


def build_export_schedules(service: ExportService, schedules: ScheduleStore) -> ExportSchedules:
    """The schedules' routes over the export service's intake (its checks) and clock."""
    return ExportSchedules(settings=service.settings, schedules=schedules, intake=service.intake, clock=service.clock)


def build_scheduled_runs(service: ExportService, schedules: ScheduleStore) -> ScheduledRuns:
    """The schedules' timer: due schedules become jobs through the export service's intake."""
    return ScheduledRuns(schedules=schedules, intake=service.intake, clock=service.clock)
