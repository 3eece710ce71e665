"""The audit trail on Table storage: PartitionKey = organization id, RowKey = job id, time, then a unique part.

The tag admin's rows share the table and partition: RowKey = `tags_`, the inverted time in microseconds (so a
range scan lists them newest first), then a unique part. Job ids start with a digit, so the ranges never meet.

Rows are only ever created (create_entity), never updated or deleted, so the table is append-only as far
as this app is concerned; in Azure, the app's identity could be limited further with an immutability
policy or a separate account (see README, "Job lifecycle").
"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import EntityProperty, TableClient

from exports.models import AuditEntry, TagAuditEntry
from shared.errors import MalformedRequest

_SEPARATOR = "_"
# The character after "_": RowKey lt "<job id>`" ends the job's range.
_AFTER_SEPARATOR = "`"
_TAGS = "tags" + _SEPARATOR
_TAGS_END = "tags" + _AFTER_SEPARATOR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INVERTED_BASE = 10**17 - 1
# A continuation token is the RowKey of the last row listed, without the prefix.
_TOKEN = re.compile(r"^\d{17}_[0-9a-f]{32}$")


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
                            ("Detail", entry.detail), ("FileSha256", entry.file_sha256),
                            ("ManifestSha256", entry.manifest_sha256)):
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
                    file_sha256=plain.get("FileSha256"),
                    manifest_sha256=plain.get("ManifestSha256"),
                )
            )
        return sorted(entries, key=lambda entry: entry.at)

    def append_tag_event(self, organization_id: str, entry: TagAuditEntry) -> None:
        inverted = _INVERTED_BASE - (entry.at - _EPOCH) // timedelta(microseconds=1)
        entity: dict[str, Any] = {
            "PartitionKey": organization_id,
            "RowKey": f"{_TAGS}{inverted:017d}{_SEPARATOR}{uuid.uuid4().hex}",
            "Action": entry.action,
            "At": entry.at,
            "ActorId": entry.actor_id,
            "ActorName": entry.actor_name,
        }
        for name, value in (
            ("ClientAddress", entry.client_address),
            ("TagSlot", entry.tag_slot),
            ("BeforeJson", entry.before.model_dump_json(by_alias=True) if entry.before else None),
            ("AfterJson", entry.after.model_dump_json(by_alias=True) if entry.after else None),
            ("CaseId", entry.case_id),
        ):
            if value is not None:
                entity[name] = value
        self._table.create_entity(entity)

    def list_tag_events(
        self, organization_id: str, *, continuation_token: str | None, limit: int
    ) -> tuple[list[TagAuditEntry], str | None]:
        if continuation_token is not None and not _TOKEN.match(continuation_token):
            raise MalformedRequest("continuationToken is not one this API returned.")
        query = "PartitionKey eq @org and RowKey gt @start and RowKey lt @end"
        start = _TAGS + (continuation_token or "")
        parameters = {"org": organization_id, "start": start, "end": _TAGS_END}
        found = self._table.query_entities(query, parameters=parameters, results_per_page=limit + 1)
        entries: list[TagAuditEntry] = []
        last_key: str | None = None
        for entity in itertools.islice(found, limit + 1):
            if len(entries) == limit:
                return entries, last_key
            plain = {k: (v.value if isinstance(v, EntityProperty) else v) for k, v in entity.items()}
            last_key = str(entity["RowKey"])[len(_TAGS):]
            entries.append(
                TagAuditEntry(
                    action=plain["Action"],
                    at=plain["At"],
                    actor_id=plain["ActorId"],
                    actor_name=plain.get("ActorName", ""),
                    client_address=plain.get("ClientAddress"),
                    tag_slot=plain.get("TagSlot"),
                    before=orjson.loads(plain["BeforeJson"]) if plain.get("BeforeJson") else None,
                    after=orjson.loads(plain["AfterJson"]) if plain.get("AfterJson") else None,
                    case_id=plain.get("CaseId"),
                )
            )
        return entries, None
