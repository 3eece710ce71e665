"""The schedule store on Table storage: PartitionKey = organization id, RowKey = schedule id (newest first)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EntityProperty, TableClient, UpdateMode

from exports.models.request import REQUEST_SNAPSHOT_VERSION, request_from_snapshot
from exports.models.schedule import ExportSchedule, Recurrence, ScheduleCreator, ScheduleRun, ScheduleStatus
from exports.ports import ScheduleListing
from shared.errors import ConcurrencyConflict, Conflict
from shared.storage.conflicts import etag_conflicts
from shared.storage.paging import filled_page


def to_entity(schedule: ExportSchedule) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": schedule.organization_id,
        "RowKey": schedule.schedule_id,
        "Name": schedule.name,
        # Only what the caller sent, as a job stores it: cross-field checks look at which fields were given.
        "RequestJson": schedule.export.model_dump_json(by_alias=True, exclude_unset=True),
        "RequestVersion": REQUEST_SNAPSHOT_VERSION,
        "RecurrenceJson": schedule.recurrence.model_dump_json(by_alias=True, exclude_unset=True),
        "Status": schedule.status,
        "NextRunAt": schedule.next_run_at,
        "CreatedById": schedule.created_by.user_id,
        "CreatedByName": schedule.created_by.name,
        "CreatedByRolesJson": orjson.dumps(schedule.created_by.roles).decode(),
        "CreatedAt": schedule.created_at,
        "UpdatedAt": schedule.updated_at,
    }
    if schedule.last_run is not None:
        entity["LastRunJson"] = schedule.last_run.model_dump_json(by_alias=True)
    return entity


def from_entity(entity: Any) -> ExportSchedule:
    plain = {key: (value.value if isinstance(value, EntityProperty) else value) for key, value in entity.items()}
    etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return ExportSchedule(
        schedule_id=plain["RowKey"],
        organization_id=plain["PartitionKey"],
        name=plain["Name"],
        # Runs use the request as it was accepted, like a job: later API rule changes do not judge it again.
        export=request_from_snapshot(plain["RequestJson"], plain.get("RequestVersion", REQUEST_SNAPSHOT_VERSION)),
        recurrence=Recurrence.model_validate_json(plain["RecurrenceJson"]),
        status=plain["Status"],
        next_run_at=plain["NextRunAt"],
        last_run=ScheduleRun.model_validate_json(plain["LastRunJson"]) if plain.get("LastRunJson") else None,
        created_by=ScheduleCreator(
            user_id=plain["CreatedById"],
            name=plain.get("CreatedByName", ""),
            roles=orjson.loads(plain.get("CreatedByRolesJson") or "[]"),
        ),
        created_at=plain["CreatedAt"],
        updated_at=plain["UpdatedAt"],
        etag=etag,
    )


class TableScheduleStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def insert(self, schedule: ExportSchedule) -> ExportSchedule:
        try:
            meta = self._table.create_entity(to_entity(schedule))
        except ResourceExistsError:
            raise Conflict(f"schedule {schedule.schedule_id} already exists") from None
        return schedule.model_copy(update={"etag": meta.get("etag")})

    def get(self, organization_id: str, schedule_id: str) -> ExportSchedule | None:
        try:
            entity = self._table.get_entity(organization_id, schedule_id)
        except ResourceNotFoundError:
            return None
        return from_entity(entity)

    def replace(self, schedule: ExportSchedule) -> ExportSchedule:
        if schedule.etag is None:
            raise ConcurrencyConflict(f"schedule {schedule.schedule_id} has no ETag to match")
        with etag_conflicts(f"schedule {schedule.schedule_id}"):
            meta = self._table.update_entity(
                to_entity(schedule), mode=UpdateMode.REPLACE, etag=schedule.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        return schedule.model_copy(update={"etag": meta.get("etag")})

    def delete(self, schedule: ExportSchedule) -> None:
        if schedule.etag is None:
            raise ConcurrencyConflict(f"schedule {schedule.schedule_id} has no ETag to match")
        with etag_conflicts(f"schedule {schedule.schedule_id}"):
            self._table.delete_entity(
                schedule.organization_id, schedule.schedule_id, etag=schedule.etag,
                match_condition=MatchConditions.IfNotModified,
            )

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: ScheduleStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> ScheduleListing:
        entities, token = filled_page(
            self._table,
            organization_id,
            created_by_id=created_by_id,
            status=status,
            page_size=page_size,
            continuation_token=continuation_token,
        )
        return ScheduleListing(schedules=[from_entity(entity) for entity in entities], continuation_token=token)

    def due(self, now: datetime) -> Iterator[ExportSchedule]:
        # Across partitions: two comparisons, far inside Table storage's limit of fifteen.
        query = "Status eq 'active' and NextRunAt le @now"
        for entity in self._table.query_entities(query, parameters={"now": now}):
            yield from_entity(entity)
