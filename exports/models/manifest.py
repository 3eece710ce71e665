"""The manifest of a completed export: what the file is, what was asked for, and its SHA-256.

It is built from the job alone (its request snapshot, columns, checkpoint and the file's hash), so the
JSON file written beside the export and the manifest in the job view are the same document, and a
finalizing step that runs twice writes the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson

from exports.models.base import CamelModel
from exports.models.job import ExportJob
from exports.models.request import ColumnSpec, Dataset, ExportFormat, ExportType


class ManifestPerson(CamelModel):
    id: str
    name: str


class ManifestFile(CamelModel):
    """The file exactly as downloaded: `sha256sum` of the download prints `sha256`."""

    name: str
    content_type: str
    size_bytes: int
    sha256: str
    # Data rows, the header row(s) not counted.
    rows: int


class ShardRows(CamelModel):
    """The data rows one shard wrote, numbered from 1 in file order; an empty shard has no first or last."""

    shard: int
    rows: int
    first_row: int | None
    last_row: int | None


class ExportManifest(CamelModel):
    manifest_version: Literal[1] = 1
    export_id: str
    organization_id: str
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    # The zone date-times are written in (ISO 8601 offsets in CSV and JSON, local serials in XLSX).
    time_zone: str
    # The request as it was snapshotted: filters, search, sort, scope and file options (no callback URL).
    request: dict[str, Any]
    # Every column in file order, tag columns with their source, data type and format pattern.
    columns: list[ColumnSpec]
    requested_by: ManifestPerson
    requested_at: datetime
    requested_via: str
    # The schedule that made the export (`requestedVia` is then `schedule`); null for one requested directly.
    schedule_id: str | None = None
    # When reading the data began; derived ages (days open, SLA breached) are as of `requestedAt`.
    data_as_of: datetime | None
    file: ManifestFile
    # Cells exported as their text because the source value had the wrong type (their places: the job view).
    warnings: int
    shards: list[ShardRows] | None = None

    @classmethod
    def of(cls, job: ExportJob, *, size_bytes: int, sha256: str) -> ExportManifest:
        checkpoint = job.checkpoint
        request = job.request.model_dump(mode="json", by_alias=True, exclude_unset=True)
        # A callback URL may carry the receiver's own token: it stays in the job, not in a file handed to auditors.
        request.pop("callbackUrl", None)
        warnings, _ = checkpoint.warning_summary()
        return cls(
            export_id=job.job_id,
            organization_id=job.organization_id,
            dataset=job.dataset,
            export_type=job.export_type,
            format=job.format,
            time_zone=job.request.time_zone,
            request=request,
            columns=job.columns,
            requested_by=ManifestPerson(id=job.created_by_id, name=job.created_by_name),
            requested_at=job.created_at,
            requested_via=job.source,
            schedule_id=job.schedule_id,
            data_as_of=job.started_at,
            file=ManifestFile(
                name=job.file_name,
                content_type=job.content_type,
                size_bytes=size_bytes,
                sha256=sha256,
                rows=checkpoint.rows_written,
            ),
            warnings=warnings,
            shards=_shard_rows(job) if checkpoint.shards else None,
        )

    @classmethod
    def of_completed(cls, job: ExportJob) -> ExportManifest | None:
        """The manifest a completed job wrote; None for any other job."""
        if job.file_sha256 is None or job.file_size_bytes is None:
            return None
        return cls.of(job, size_bytes=job.file_size_bytes, sha256=job.file_sha256)

    def to_bytes(self) -> bytes:
        """The manifest file: indented JSON in field order, ending in a newline; the same fields as the API."""
        body = self.model_dump(mode="json", by_alias=True)
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


def _shard_rows(job: ExportJob) -> list[ShardRows]:
    ranges, before = [], 0
    for index, shard in enumerate(job.checkpoint.shards):
        first, last = (before + 1, before + shard.rows) if shard.rows else (None, None)
        ranges.append(ShardRows(shard=index, rows=shard.rows, first_row=first, last_row=last))
        before += shard.rows
    return ranges


def manifest_blob_name(job: ExportJob) -> str:
    return f"{job.blob_name}.manifest.json"


def manifest_file_name(job: ExportJob) -> str:
    """`cases-flat_file-20261129-101500.csv.gz` → `cases-flat_file-20261129-101500.manifest.json`."""
    return f"{job.file_name.split('.', 1)[0]}.manifest.json"
