"""Per-organization limits on Table storage: one small entity per organization and key, ETag-guarded."""

from __future__ import annotations

import orjson
from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from exports.ports import LimitRecord
from shared.storage.conflicts import etag_conflicts


class TableLimitStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def read(self, organization_id: str, key: str) -> LimitRecord:
        try:
            entity = self._table.get_entity(organization_id, key)
        except ResourceNotFoundError:
            return LimitRecord(job_ids=[])
        return LimitRecord(
            job_ids=list(orjson.loads(entity.get("JobIdsJson") or "[]")),
            etag=entity.metadata.get("etag"),
        )

    def write(self, organization_id: str, key: str, record: LimitRecord) -> None:
        entity = {
            "PartitionKey": organization_id,
            "RowKey": key,
            "JobIdsJson": orjson.dumps(record.job_ids).decode(),
        }
        with etag_conflicts(f"limit {key} of {organization_id}"):
            if record.etag is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=record.etag, match_condition=MatchConditions.IfNotModified
                )
