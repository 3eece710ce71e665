"""The function app's services: built by the composition root once, lazily, per worker process.

Nothing happens at import: the function app installs logging, the first use builds the clients.
"""

from __future__ import annotations

import threading

from exports import composition
from exports.ports import ScheduleStore
from exports.schedules import ExportSchedules
from exports.scheduling import ScheduledRuns
from exports.service import ExportService
from exports.tag_service import TagService
from shared.settings import get_settings
from shared.storage.clients import StorageClients
from shared.telemetry import configure_telemetry

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
    return composition.build_service(clients.settings, clients=clients)


_tag_service: TagService | None = None


def tag_service() -> TagService:
    global _tag_service
    if _tag_service is None:
        _tag_service = composition.build_tag_service(export_service())
    return _tag_service


# ---- scheduled exports ------------------------------------------------------------------------------

_schedule_store: ScheduleStore | None = None


def schedule_store() -> ScheduleStore:
    global _schedule_store
    if _schedule_store is None:
        export_service()  # creates the tables first
        _schedule_store = composition.schedule_store(storage_clients())
    return _schedule_store


def export_schedules() -> ExportSchedules:
    return composition.build_export_schedules(export_service(), schedule_store())


def scheduled_runs() -> ScheduledRuns:
    return composition.build_scheduled_runs(export_service(), schedule_store())
