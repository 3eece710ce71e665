"""What the API shows: a job, a page of jobs, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    Field,
)

from exports.models.base import CamelModel
from exports.models.job import CellWarning, DeliveryAttempt, ExportJob, JobStage, JobStatus
from exports.models.manifest import ExportManifest
from exports.models.request import Dataset, ExportFormat, ExportType


class JobView(CamelModel):
    """A job as the API shows it: seed 000's ExportJobResponseDto plus stage and processed rows."""

    job_id: str
    status: JobStatus
    stage: JobStage | None
    progress: int
    total_rows: int | None
    processed_rows: int
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    file_name: str
    file_size_bytes: int | None
    download_url: str | None
    expires_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    error_message: str | None
    created_by_id: str
    callback_url: str | None = None
    deliveries: list[DeliveryAttempt] = Field(default_factory=list)
    deleted_at: datetime | None = None
    # Cells exported as their text because the source value had the wrong type, and the first few of them.
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)
    # A completed export's manifest, the same document as its manifest file, and that file's SHA-256.
    manifest: ExportManifest | None = None
    manifest_sha256: str | None = None
    # A short-lived link to the manifest file, given with `downloadUrl` and on the same terms.
    manifest_url: str | None = None
    # The schedule that made the job (exports/scheduling.py); null for a job requested directly.
    schedule_id: str | None = None

    @classmethod
    def of(cls, job: ExportJob, download_url: str | None = None, manifest_url: str | None = None) -> JobView:
        warnings, samples = job.checkpoint.warning_summary()
        return cls(
            job_id=job.job_id,
            status=job.status,
            # A job recorded before queued jobs had a stage of their own shows it all the same.
            stage=JobStage.QUEUED if job.status is JobStatus.QUEUED else job.stage,
            progress=job.progress,
            total_rows=job.total_rows,
            processed_rows=job.processed_rows,
            dataset=job.dataset,
            export_type=job.export_type,
            format=job.format,
            file_name=job.file_name,
            file_size_bytes=job.file_size_bytes,
            download_url=download_url,
            expires_at=job.expires_at,
            created_at=job.created_at,
            completed_at=job.completed_at,
            error_message=job.error_message,
            created_by_id=job.created_by_id,
            callback_url=job.request.callback_url,
            deliveries=job.deliveries,
            deleted_at=job.deleted_at,
            warnings=warnings,
            warning_samples=samples,
            manifest=ExportManifest.of_completed(job),
            manifest_sha256=job.manifest_sha256,
            manifest_url=manifest_url,
            schedule_id=job.schedule_id,
        )


class AuditEntry(CamelModel):
    """One append-only audit row: who did what to which export, when, from where, with what."""

    job_id: str
    action: Literal["requested", "cancelled", "deleted", "downloaded", "completed", "failed"]
    at: datetime
    actor_id: str
    actor_name: str = ""
    # The caller's address as the front end saw it; None for queue requests and the worker.
    client_address: str | None = None
    source: Literal["http", "queue", "worker", "schedule"] = "http"
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    filters: dict[str, Any] = Field(default_factory=dict)
    columns: list[str] = Field(default_factory=list)
    row_count: int | None = None
    detail: str | None = None
    # On the "completed" row: the SHA-256 of the file and of its manifest as written.
    file_sha256: str | None = None
    manifest_sha256: str | None = None


class AuditTrail(CamelModel):
    items: list[AuditEntry]


class JobPage(CamelModel):
    items: list[JobView]
    continuation_token: str | None
