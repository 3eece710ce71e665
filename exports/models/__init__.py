"""The models, one module per family; importing from `exports.models` keeps working for all of them.

base     CamelModel, the API's camelCase base
request  the create request and its columns (validated once, when it arrives)
job      the export job, its checkpoint and shards: the domain record and its transitions
tags     report field tags: records, bodies, previews, audit rows
views    what the API shows: a job, a page of jobs, the audit trail
queue    queue messages: work steps, requests from other systems, webhook notifications
"""

from __future__ import annotations

from exports.models.base import (
    CamelModel,
)
from exports.models.job import (
    MAX_SHARDS,
    WARNING_SAMPLES,
    CellWarning,
    Checkpoint,
    DeliveryAttempt,
    ExportJob,
    JobStage,
    JobStatus,
    Retention,
    ShardState,
)
from exports.models.manifest import (
    ExportManifest,
    ManifestFile,
    ShardRows,
    manifest_blob_name,
    manifest_file_name,
)
from exports.models.queue import (
    ExportRequestMessage,
    NotificationMessage,
    QueueName,
    QueueOrganizationId,
    QueueRequestId,
    QueueUserId,
    Requester,
    WorkMessage,
)
from exports.models.request import (
    MOMENT_TEXT,
    ColumnSpec,
    Compression,
    CreateExportRequest,
    Dataset,
    DateRange,
    ExportDataType,
    ExportFormat,
    ExportSourceType,
    ExportType,
    FieldName,
    FilterOperator,
    Moment,
    ShortText,
    ViewFilter,
    ViewScope,
)
from exports.models.tags import (
    ReportFieldTag,
    SourceFieldPath,
    TagAuditEntry,
    TagAuditPage,
    TagColumnName,
    TagCreate,
    TagList,
    TagPreviewValue,
    TagSlot,
    TagUpdate,
)
from exports.models.views import (
    AuditEntry,
    AuditTrail,
    JobPage,
    JobView,
)

__all__ = [
    "MAX_SHARDS",
    "MOMENT_TEXT",
    "WARNING_SAMPLES",
    "AuditEntry",
    "AuditTrail",
    "CamelModel",
    "CellWarning",
    "Checkpoint",
    "ColumnSpec",
    "Compression",
    "CreateExportRequest",
    "Dataset",
    "DateRange",
    "DeliveryAttempt",
    "ExportDataType",
    "ExportFormat",
    "ExportJob",
    "ExportManifest",
    "ExportRequestMessage",
    "ExportSourceType",
    "ExportType",
    "FieldName",
    "FilterOperator",
    "JobPage",
    "JobStage",
    "JobStatus",
    "JobView",
    "ManifestFile",
    "Moment",
    "NotificationMessage",
    "QueueName",
    "QueueOrganizationId",
    "QueueRequestId",
    "QueueUserId",
    "ReportFieldTag",
    "Requester",
    "Retention",
    "ShardRows",
    "ShardState",
    "ShortText",
    "SourceFieldPath",
    "TagAuditEntry",
    "TagAuditPage",
    "TagColumnName",
    "TagCreate",
    "TagList",
    "TagPreviewValue",
    "TagSlot",
    "TagUpdate",
    "ViewFilter",
    "ViewScope",
    "WorkMessage",
    "manifest_blob_name",
    "manifest_file_name",
]
