"""The job store and the idempotency store on Table storage (PartitionKey = organization id)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode
from pydantic import BaseModel, ConfigDict, Field

from exports.models import Checkpoint, ColumnSpec, DeliveryAttempt, ExportJob, JobStatus
from exports.models.request import REQUEST_SNAPSHOT_VERSION, SNAPSHOT_CONTEXT, request_from_snapshot
from exports.ports import IdempotencyRecord, JobListing
from shared.errors import ConcurrencyConflict, Conflict
from shared.storage.conflicts import etag_conflicts
from shared.storage.paging import filled_page


class JobEntity(BaseModel):
    """The job as a table entity: PascalCase properties, JSON documents as strings."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    organization_id: str = Field(alias="PartitionKey")
    job_id: str = Field(alias="RowKey")
    created_by_id: str = Field(alias="CreatedById")
    created_by_name: str = Field(default="", alias="CreatedByName")
    dataset: str = Field(alias="Dataset")
    export_type: str = Field(alias="ExportType")
    format: str = Field(alias="Format")
    request: str = Field(alias="RequestJson")
    # Stored jobs from before the snapshot was versioned have none: they hold version 1.
    request_version: int = Field(default=REQUEST_SNAPSHOT_VERSION, alias="RequestVersion")
    columns: str = Field(alias="ColumnsJson")
    status: str = Field(alias="Status")
    stage: str | None = Field(default=None, alias="Stage")
    progress: int = Field(default=0, alias="Progress")
    total_rows: int | None = Field(default=None, alias="TotalRows")
    processed_rows: int = Field(default=0, alias="ProcessedRows")
    blob_name: str = Field(alias="BlobName")
    file_name: str = Field(alias="FileName")
    content_type: str = Field(alias="ContentType")
    file_size_bytes: int | None = Field(default=None, alias="FileSizeBytes")
    file_sha256: str | None = Field(default=None, alias="FileSha256")
    manifest_sha256: str | None = Field(default=None, alias="ManifestSha256")
    expires_at: datetime | None = Field(default=None, alias="ExpiresAt")
    error_message: str | None = Field(default=None, alias="ErrorMessage")
    error_details: str | None = Field(default=None, alias="ErrorDetailsJson")
    created_at: datetime = Field(alias="CreatedAt")
    started_at: datetime | None = Field(default=None, alias="StartedAt")
    updated_at: datetime = Field(alias="UpdatedAt")
    completed_at: datetime | None = Field(default=None, alias="CompletedAt")
    is_cleaned_up: bool = Field(default=False, alias="IsCleanedUp")
    cleaned_up_at: datetime | None = Field(default=None, alias="CleanedUpAt")
    source: str = Field(default="http", alias="Source")
    checkpoint: str = Field(alias="CheckpointJson")
    reply_queue: str | None = Field(default=None, alias="ReplyQueue")
    event_pending: bool = Field(default=False, alias="EventPending")
    deliveries: str | None = Field(default=None, alias="DeliveriesJson")
    deleted_at: datetime | None = Field(default=None, alias="DeletedAt")
    deleted_by_id: str | None = Field(default=None, alias="DeletedById")
    schedule_id: str | None = Field(default=None, alias="ScheduleId")

    @classmethod
    def of(cls, job: ExportJob) -> JobEntity:
        return cls.model_validate(
            {
                **job.model_dump(exclude={"request", "columns", "error_details", "checkpoint", "etag", "deliveries"}),
                # Only what the caller sent: cross-field checks look at which fields were given.
                "request": job.request.model_dump_json(by_alias=True, exclude_unset=True),
                "columns": orjson.dumps([col.model_dump(by_alias=True) for col in job.columns]).decode(),
                "error_details": orjson.dumps(job.error_details).decode() if job.error_details is not None else None,
                "checkpoint": job.checkpoint.model_dump_json(),
                "deliveries": (
                    orjson.dumps([d.model_dump(mode="json", by_alias=True) for d in job.deliveries]).decode()
                    if job.deliveries
                    else None
                ),
            }
        )

    def to_entity(self) -> dict[str, Any]:
        entity = self.model_dump(by_alias=True, exclude_none=True)
        if self.file_size_bytes is not None:
            entity["FileSizeBytes"] = EntityProperty(self.file_size_bytes, EdmType.INT64)
        return entity

    def to_job(self, etag: str | None) -> ExportJob:
        data = self.model_dump(
            exclude={"request", "request_version", "columns", "error_details", "checkpoint", "deliveries"}
        )
        # The job holds the request as accepted: building the job must not judge it again either.
        return ExportJob.model_validate(
            {
                **data,
                "request": request_from_snapshot(self.request, self.request_version),
                "columns": [ColumnSpec.model_validate(col) for col in orjson.loads(self.columns)],
                "error_details": orjson.loads(self.error_details) if self.error_details else None,
                "checkpoint": Checkpoint.model_validate_json(self.checkpoint),
                "deliveries": [DeliveryAttempt.model_validate(d) for d in orjson.loads(self.deliveries or "[]")],
                "etag": etag,
            },
            context=SNAPSHOT_CONTEXT,
        )


def _from_entity(entity: dict[str, Any]) -> ExportJob:
    plain = {key: (value.value if isinstance(value, EntityProperty) else value) for key, value in entity.items()}
    etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return JobEntity.model_validate(plain).to_job(etag)


class TableJobStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def insert(self, job: ExportJob) -> ExportJob:
        try:
            meta = self._table.create_entity(JobEntity.of(job).to_entity())
        except ResourceExistsError:
            raise Conflict(f"export {job.job_id} already exists") from None
        return job.model_copy(update={"etag": meta.get("etag")})

    def get(self, organization_id: str, job_id: str) -> ExportJob | None:
        try:
            entity = self._table.get_entity(organization_id, job_id)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    def replace(self, job: ExportJob) -> ExportJob:
        if job.etag is None:
            raise ConcurrencyConflict(f"export {job.job_id} has no ETag to match")
        with etag_conflicts(f"export {job.job_id}"):
            meta = self._table.update_entity(
                JobEntity.of(job).to_entity(),
                mode=UpdateMode.REPLACE,
                etag=job.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        return job.model_copy(update={"etag": meta.get("etag")})

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: JobStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> JobListing:
        entities, token = filled_page(
            self._table,
            organization_id,
            created_by_id=created_by_id,
            status=status.value if status is not None else None,
            page_size=page_size,
            continuation_token=continuation_token,
        )
        return JobListing(jobs=[_from_entity(entity) for entity in entities], continuation_token=token)

    def list_expired(self, now: datetime) -> Iterator[ExportJob]:
        query = "ExpiresAt lt @now and IsCleanedUp eq false"
        for entity in self._table.query_entities(query, parameters={"now": now}):
            yield _from_entity(entity)

    def list_stalled(self, updated_before: datetime) -> Iterator[ExportJob]:
        query = "UpdatedAt lt @before and (Status eq 'queued' or Status eq 'running')"
        for entity in self._table.query_entities(query, parameters={"before": updated_before}):
            yield _from_entity(entity)

    def list_pending_events(self, updated_before: datetime) -> Iterator[ExportJob]:
        query = "EventPending eq true and UpdatedAt lt @before"
        for entity in self._table.query_entities(query, parameters={"before": updated_before}):
            yield _from_entity(entity)

    def count_ids(self, organization_id: str, first_id: str, end_id: str, limit: int) -> int:
        query = "PartitionKey eq @org and RowKey ge @first and RowKey lt @end"
        parameters = {"org": organization_id, "first": first_id, "end": end_id}
        counted = 0
        if limit <= 0:
            return counted
        # Only the keys, a page of at most 1,000 (the service's maximum): at the default quota one request.
        keys = self._table.query_entities(
            query, parameters=parameters, select=["RowKey"], results_per_page=min(limit, 1000)
        )
        for _ in keys:
            counted += 1
            if counted >= limit:
                break
        return counted


class TableIdempotencyStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def claim(self, organization_id: str, key: str, record: IdempotencyRecord) -> IdempotencyRecord | None:
        entity = {
            "PartitionKey": organization_id,
            "RowKey": key,
            "JobId": record.job_id,
            "RequestHash": record.request_hash,
        }
        try:
            self._table.create_entity(entity)
            return None
        except ResourceExistsError:
            existing = self._table.get_entity(organization_id, key)
            return IdempotencyRecord(job_id=existing["JobId"], request_hash=existing["RequestHash"])

    def get(self, organization_id: str, key: str) -> IdempotencyRecord | None:
        try:
            existing = self._table.get_entity(organization_id, key)
        except ResourceNotFoundError:
            return None
        return IdempotencyRecord(job_id=existing["JobId"], request_hash=existing["RequestHash"])
