"""The audit trail on Table storage: PartitionKey = organization id, RowKey = job id, time, then a unique part.

Rows are only ever created (create_entity), never updated or deleted, so the table is append-only as far
as this app is concerned; in Azure, the app's identity could be limited further with an immutability
policy or a separate account (see README, "Job lifecycle").
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import EntityProperty, TableClient

from exports.models import AuditEntry

_SEPARATOR = "_"
# The character after "_": RowKey lt "<job id>`" ends the job's range.
_AFTER_SEPARATOR = "`"


class TableAuditLog:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def append(self, organization_id: str, entry: AuditEntry, *, key: str | None = None) -> None:
        unique = key or uuid.uuid4().hex
        row_key = _SEPARATOR.join((entry.job_id, entry.at.strftime("%Y%m%dT%H%M%S%fZ"), entry.action, unique))
        entity: dict[str, Any] = {
            "PartitionKey": organization_id,
            "RowKey": row_key,
            "JobId": entry.job_id,
            "Action": entry.action,
            "At": entry.at,
            "ActorId": entry.actor_id,
            "ActorName": entry.actor_name,
            "Source": entry.source,
            "Dataset": entry.dataset.value,
            "ExportType": entry.export_type.value,
            "Format": entry.format.value,
            "FiltersJson": orjson.dumps(entry.filters).decode(),
            "ColumnsJson": orjson.dumps(entry.columns).decode(),
        }
        for name, value in (("ClientAddress", entry.client_address), ("RowCount", entry.row_count),
                            ("Detail", entry.detail)):
            if value is not None:
                entity[name] = value
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            if key is None:
                raise
            # The same transition recorded twice (a retry): the first row stands.

    def list_for_job(self, organization_id: str, job_id: str) -> list[AuditEntry]:
        query = "PartitionKey eq @org and RowKey gt @start and RowKey lt @end"
        parameters = {"org": organization_id, "start": job_id + _SEPARATOR, "end": job_id + _AFTER_SEPARATOR}
        entries = []
        for entity in self._table.query_entities(query, parameters=parameters):
            plain = {k: (v.value if isinstance(v, EntityProperty) else v) for k, v in entity.items()}
            entries.append(
                AuditEntry(
                    job_id=plain["JobId"],
                    action=plain["Action"],
                    at=plain["At"],
                    actor_id=plain["ActorId"],
                    actor_name=plain.get("ActorName", ""),
                    client_address=plain.get("ClientAddress"),
                    source=plain.get("Source", "http"),
                    dataset=plain["Dataset"],
                    export_type=plain["ExportType"],
                    format=plain["Format"],
                    filters=orjson.loads(plain.get("FiltersJson") or "{}"),
                    columns=orjson.loads(plain.get("ColumnsJson") or "[]"),
                    row_count=plain.get("RowCount"),
                    detail=plain.get("Detail"),
                )
            )
        return sorted(entries, key=lambda entry: entry.at)
