"""Pydantic models: the create request (input), the job (domain), the job view (output), queue messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from exports.dates import GREATER_OR_EQUAL, LESS_OR_EQUAL, Comparison, Span, as_moment, comparisons, holds
from shared.errors import ConcurrencyConflict, Conflict

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.]*$")]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Dataset(StrEnum):
    CASES = "cases"
    TICKETS = "tickets"


class ExportType(StrEnum):
    FLAT_FILE = "FLAT_FILE"
    CASES_ONLY = "CASES_ONLY"
    INVESTIGATIONS_ONLY = "INVESTIGATIONS_ONLY"
    DISCLOSURES_ONLY = "DISCLOSURES_ONLY"
    CUSTOM = "CUSTOM"


class ExportFormat(StrEnum):
    CSV = "CSV"
    XLSX = "XLSX"
    JSON = "JSON"
    JSONL = "JSONL"


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobStage(StrEnum):
    """Seed 001's ProgressStage: Queued, Counting, Exporting, Uploading (here `finalizing`)."""

    QUEUED = "queued"
    COUNTING = "counting"
    EXPORTING = "exporting"
    FINALIZING = "finalizing"


# ISO 8601 text only: a number, or digits pydantic would read as Unix seconds, is refused (exports/dates.py).
Moment = Annotated[date | datetime, BeforeValidator(as_moment)]
MOMENT_TEXT = (
    "ISO 8601 text: a date (2024-06-01 or 20240601), the whole day in UTC, or a date-time with at most 6 "
    "decimals of a second; a date-time without an offset is UTC. Numbers are refused."
)


class DateRange(CamelModel):
    """Cases created from `start` through `end`; a bare date is that whole day in UTC."""

    start: Annotated[Moment, Field(description=MOMENT_TEXT, examples=["2024-01-01", "2024-01-01T09:30:00Z"])]
    end: Annotated[Moment, Field(description=MOMENT_TEXT, examples=["2024-12-31", "2024-12-31T17:00:00+01:00"])]

    @model_validator(mode="after")
    def _start_before_end(self) -> DateRange:
        if not holds(LESS_OR_EQUAL, self.end, Span.of(self.start).start):
            raise ValueError("dateRange.start must not be after dateRange.end")
        return self

    def comparisons(self) -> tuple[Comparison, ...]:
        """`greaterThanOrEqual start` and `lessThanOrEqual end`, by the one rule for dates."""
        lower = comparisons(GREATER_OR_EQUAL, self.start)
        upper = comparisons(LESS_OR_EQUAL, self.end)
        assert lower is not None and upper is not None  # both are always one AND of comparisons
        return lower + upper


class FilterOperator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "notEquals"
    CONTAINS = "contains"
    STARTS_WITH = "startsWith"
    GREATER_THAN = "greaterThan"
    GREATER_OR_EQUAL = "greaterThanOrEqual"
    LESS_THAN = "lessThan"
    LESS_OR_EQUAL = "lessThanOrEqual"
    IN = "in"
    IS_EMPTY = "isEmpty"
    IS_NOT_EMPTY = "isNotEmpty"
    BEFORE = "before"
    AFTER = "after"


class ViewFilter(CamelModel):
    field: FieldName
    operator: FilterOperator
    value: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ViewScope(CamelModel):
    team_id: UUID | None = None
    assigned_to_user_id: UUID | None = None


class CreateExportRequest(CamelModel):
    """What a caller asks for: seed 000's CreateExportJobDto and seed 001's ExportSnapshotPayload."""

    dataset: Dataset = Dataset.CASES
    export_type: ExportType = ExportType.FLAT_FILE
    format: ExportFormat
    # File options.
    csv_bom: bool = True
    csv_delimiter: Literal[",", ";", "\t", "|"] = ","
    compression: Compression = Compression.NONE
    neutralize_formulas: bool = True
    # Flat-file filters and column options (seed 000).
    date_range: DateRange | None = None
    statuses: Annotated[list[ShortText], Field(max_length=50)] | None = None
    categories: Annotated[list[UUID], Field(max_length=200)] | None = None
    business_units: Annotated[list[UUID], Field(max_length=200)] | None = None
    locations: Annotated[list[UUID], Field(max_length=200)] | None = None
    include_investigations: bool = True
    max_investigations: int = Field(default=3, ge=1, le=10)
    include_tagged_fields: bool = True
    include_overflow: bool = False
    # Ticket view snapshot (seed 001).
    view_id: UUID | None = None
    filters: Annotated[list[ViewFilter], Field(max_length=50)] = Field(default_factory=list)
    search_term: Annotated[str, StringConstraints(max_length=200)] | None = None
    sort_field: FieldName | None = None
    sort_direction: Literal["asc", "desc"] | None = None
    columns: Annotated[list[FieldName], Field(max_length=300)] = Field(default_factory=list)
    scope: ViewScope | None = None
    # Lifecycle: where to POST the completion event (the address policy is checked by the service).
    callback_url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None

    @field_validator("callback_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError("must be an absolute http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError("must be an absolute http(s) URL without user name or password")
        if port == 0 or any(ch.isspace() for ch in value):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("statuses", "categories", "business_units", "locations")
    @classmethod
    def _no_empty_lists(cls, value: list[Any] | None) -> list[Any] | None:
        # An empty list would mean "match nothing"; callers mean "no filter" and should omit it.
        if value is not None and not value:
            raise ValueError("must not be empty; omit the field to export all")
        return value

    @model_validator(mode="after")
    def _fits_dataset(self) -> CreateExportRequest:
        case_only = {
            "date_range",
            "statuses",
            "categories",
            "business_units",
            "locations",
            "include_investigations",
            "max_investigations",
            "include_tagged_fields",
            "include_overflow",
            "export_type",
        }
        ticket_only = {"view_id", "filters", "search_term", "scope"}
        if self.dataset is Dataset.TICKETS:
            if case_only & self.model_fields_set:
                names = sorted(to_camel(name) for name in case_only & self.model_fields_set)
                raise ValueError(f"{', '.join(names)} apply to the 'cases' dataset only")
            return self
        if ticket_only & self.model_fields_set:
            names = sorted(to_camel(name) for name in ticket_only & self.model_fields_set)
            raise ValueError(f"{', '.join(names)} apply to the 'tickets' dataset only")
        if self.sort_field:
            raise ValueError("sortField applies to the 'tickets' dataset only; cases export in case order")
        if self.export_type is ExportType.CUSTOM and not self.columns:
            raise ValueError("a CUSTOM export needs the list of columns")
        if self.export_type is not ExportType.CUSTOM and self.columns:
            raise ValueError("columns may only be chosen for a CUSTOM export")
        if self.format is not ExportFormat.CSV and {"csv_bom", "csv_delimiter"} & self.model_fields_set:
            raise ValueError("csvBom and csvDelimiter apply to CSV exports only")
        if self.format is ExportFormat.XLSX and self.compression is Compression.GZIP:
            raise ValueError("XLSX files are already compressed; gzip applies to CSV, JSON and JSONL")
        if self.sort_direction and not self.sort_field:
            raise ValueError("sortDirection needs sortField")
        return self


class ColumnSpec(CamelModel):
    """One output column as snapshotted into the job: name, label, data type, format pattern.

    Tag columns also carry where their value comes from, so a job keeps the tag as it was when
    the job was requested, whatever happens to the tag later.
    """

    name: str
    label: str
    data_type: str
    format_pattern: str | None = None
    source_entity_type: str | None = None
    source_field_path: str | None = None
    template_id: str | None = None
    # The overflow column: the tagged custom fields it leaves out ("key" or "key@templateId").
    excluded_fields: list[str] | None = None


class ExportSourceType(StrEnum):
    CASE = "CASE"
    INVESTIGATION = "INVESTIGATION"
    DISCLOSURE = "DISCLOSURE"
    INTERVIEW_RESPONSE = "INTERVIEW_RESPONSE"
    RIU = "RIU"


class ExportDataType(StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOLEAN = "BOOLEAN"
    CURRENCY = "CURRENCY"
    PERCENTAGE = "PERCENTAGE"


TagSlot = Annotated[int, Field(ge=1, le=20)]
TagColumnName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=50)]
SourceFieldPath = Annotated[
    str, StringConstraints(pattern=r"^(customFields|responses)(\.[A-Za-z0-9_]{1,50}){1,5}$", max_length=100)
]


class TagCreate(CamelModel):
    """Seed 000's CreateTagDto: an admin promotes one custom field to a named column."""

    source_entity_type: ExportSourceType
    source_field_path: SourceFieldPath
    template_id: UUID | None = None
    tag_slot: TagSlot
    column_name: TagColumnName
    display_label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    data_type: ExportDataType
    format_pattern: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None

    @model_validator(mode="after")
    def _path_fits_entity(self) -> TagCreate:
        is_response = self.source_field_path.startswith("responses.")
        if is_response != (self.source_entity_type is ExportSourceType.INTERVIEW_RESPONSE):
            raise ValueError(
                "sourceFieldPath must start with 'responses.' for INTERVIEW_RESPONSE and "
                "with 'customFields.' for every other sourceEntityType"
            )
        return self


class TagUpdate(CamelModel):
    """Seed 000's UpdateTagDto: any subset of the create fields."""

    source_entity_type: ExportSourceType | None = None
    source_field_path: SourceFieldPath | None = None
    template_id: UUID | None = None
    tag_slot: TagSlot | None = None
    column_name: TagColumnName | None = None
    display_label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] | None = None
    data_type: ExportDataType | None = None
    format_pattern: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None


class ReportFieldTag(TagCreate):
    """Seed 000's ReportFieldTag as stored: the create fields plus audit fields."""

    organization_id: str = Field(exclude=True)
    created_at: datetime
    updated_at: datetime
    created_by_id: str
    etag: str | None = Field(default=None, exclude=True)

    def column(self) -> ColumnSpec:
        return ColumnSpec(
            name=self.column_name,
            label=self.display_label,
            data_type=self.data_type.value,
            format_pattern=self.format_pattern,
            source_entity_type=self.source_entity_type.value,
            source_field_path=self.source_field_path,
            template_id=str(self.template_id) if self.template_id else None,
        )


class TagList(CamelModel):
    items: list[ReportFieldTag]


class TagPreviewValue(CamelModel):
    tag_slot: int
    column_name: str
    display_label: str
    data_type: ExportDataType
    source_entity_type: ExportSourceType
    source_field_path: str
    raw_value: Any
    value: Any
    # Why there is no value when the field cannot be read (its custom-field container is not a JSON object).
    problem: str | None = None


# The most shards one export is split into (EXPORTS_MAX_SHARDS may lower it).
MAX_SHARDS = 64
# A job keeps the first this many cell warnings (in file order) besides their count.
WARNING_SAMPLES = 10


class CellWarning(CamelModel):
    """A source value that did not have its column's type and was exported as its text instead.

    Never the value itself: the job record, the API and the event name where it is and what type it had.
    """

    record: str  # the source record's key (a case's or ticket's RowKey)
    column: str
    found: str  # the type the value had: text, integer, number, boolean, datetime, date, binary, ...
    expected: str  # the column's data type, lower case: datetime, integer, text, ... (or "JSON object")


class Checkpoint(BaseModel):
    """Everything a later invocation needs to resume: nothing else is shared between batches."""

    model_config = ConfigDict(extra="forbid")

    seq: int = 0
    cursor: str | None = None
    counted: int = 0
    count_cursor: str | None = None
    rows_written: int = 0
    bytes_written: int = 0
    # Number of staged blocks each finished export batch produced, in order; block ids derive from it.
    parts: list[int] = Field(default_factory=list)
    format_state: dict[str, Any] = Field(default_factory=dict)
    redrives: int = 0
    # Sorted exports: the number of sorted runs the counting stage wrote.
    sort_runs: int = 0
    # Sharded exports: the keys that end shards 0..n-2, recorded while counting every
    # `shard_size` source units, and each shard's own progress once exporting.
    shard_bounds: list[str] = Field(default_factory=list)
    shard_size: int = 0
    shards: list[ShardState] = Field(default_factory=list)
    # Cells exported as text because their source value had the wrong type: counted per batch and saved
    # with that batch's step, so a batch that runs again never counts its cells twice.
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)

    def warning_summary(self) -> tuple[int, list[CellWarning]]:
        """Every warning of the job and the first few in file order (shards hold theirs in key order)."""
        count = self.warnings + sum(shard.warnings for shard in self.shards)
        samples = [*self.warning_samples, *(sample for shard in self.shards for sample in shard.warning_samples)]
        return count, samples[:WARNING_SAMPLES]


class ShardState(BaseModel):
    """One key range of a sharded export: its own step number, cursor and staged blocks."""

    model_config = ConfigDict(extra="forbid")

    seq: int = 0
    cursor: str | None = None
    rows: int = 0
    bytes: int = 0
    parts: list[int] = Field(default_factory=list)
    done: bool = False
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)


class DeliveryAttempt(CamelModel):
    """One webhook delivery attempt, as recorded on the job."""

    attempt: int
    at: datetime
    status_code: int | None = None
    outcome: Literal["delivered", "retrying", "gave_up", "refused"]
    error: str | None = None


@dataclass(frozen=True)
class Retention:
    """How long an ended job and its file are kept, counted from the end of the job.

    The one retention rule: ticket exports are kept EXPORTS_TICKET_EXPIRY_HOURS (72), case exports
    EXPORTS_CASE_EXPIRY_HOURS (168, 7 days).
    """

    ticket_hours: float
    case_hours: float

    def expires_at(self, dataset: Dataset, ended_at: datetime) -> datetime:
        hours = self.ticket_hours if dataset is Dataset.TICKETS else self.case_hours
        return ended_at + timedelta(hours=hours)


class ExportJob(BaseModel):
    """The job as the domain sees it; stored in Table storage by the job store."""

    model_config = ConfigDict(validate_assignment=False)

    job_id: str
    organization_id: str
    created_by_id: str
    created_by_name: str = ""
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    request: CreateExportRequest
    columns: list[ColumnSpec]
    status: JobStatus = JobStatus.QUEUED
    stage: JobStage | None = JobStage.QUEUED
    progress: int = 0
    total_rows: int | None = None
    processed_rows: int = 0
    blob_name: str
    file_name: str
    content_type: str
    file_size_bytes: int | None = None
    expires_at: datetime | None = None
    error_message: str | None = None
    error_details: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    updated_at: datetime
    completed_at: datetime | None = None
    is_cleaned_up: bool = False
    cleaned_up_at: datetime | None = None
    source: Literal["http", "queue"] = "http"
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    # Lifecycle. `event_pending` is the outbox flag: set in the same ETag update that makes the
    # job final, cleared once its event is published, so a crash in between is repaired later.
    reply_queue: str | None = None
    event_pending: bool = False
    deliveries: list[DeliveryAttempt] = Field(default_factory=list)
    deleted_at: datetime | None = None
    deleted_by_id: str | None = None
    etag: str | None = None

    # ---- transitions: each changes the job in place; a bool says whether there is anything to save -----

    def start(self, now: datetime) -> None:
        self.status = JobStatus.RUNNING
        self.stage = JobStage.COUNTING
        self.started_at = now

    def step_done(self) -> None:
        """The job moved one step: the next message carries the next number."""
        self.checkpoint.seq += 1
        # The re-drive limit is for jobs that stopped moving: a step that moved it starts the count again.
        self.checkpoint.redrives = 0

    def finish_counting(self) -> bool:
        """Counting is over: the total is known and exporting begins; True if the export runs in shards."""
        checkpoint = self.checkpoint
        self.total_rows = checkpoint.counted
        self.stage = JobStage.EXPORTING
        if checkpoint.shard_bounds and checkpoint.counted == checkpoint.shard_size * len(checkpoint.shard_bounds):
            checkpoint.shard_bounds.pop()  # the source ended exactly at a bound: no empty last shard
        if checkpoint.shard_bounds:
            checkpoint.shards = [ShardState() for _ in range(len(checkpoint.shard_bounds) + 1)]
        return bool(checkpoint.shard_bounds)

    def record_batch(
        self,
        *,
        cursor: str | None,
        rows: int,
        bytes_staged: int,
        parts: int,
        format_state: dict[str, Any],
        warnings: int,
        samples: list[CellWarning],
        finished: bool,
    ) -> None:
        """One written batch of an unsharded export; the last one takes the job on to finalizing."""
        checkpoint = self.checkpoint
        checkpoint.cursor = cursor or checkpoint.cursor
        checkpoint.rows_written += rows
        checkpoint.bytes_written += bytes_staged
        checkpoint.parts.append(parts)
        checkpoint.format_state = format_state
        # Saved with this step: a batch that runs again is counted once, by the run whose step is saved.
        checkpoint.warnings += warnings
        room = WARNING_SAMPLES - len(checkpoint.warning_samples)
        checkpoint.warning_samples += samples[: max(0, room)]
        self.processed_rows = checkpoint.rows_written
        total = max(self.total_rows or 0, checkpoint.rows_written)
        self.progress = 99 if finished else min(99, int(100 * checkpoint.rows_written / total) if total else 0)
        if finished:
            self.stage = JobStage.FINALIZING

    def _end(self, status: JobStatus, now: datetime, retention: Retention) -> None:
        """The one rule for a final state: no stage, ended now, expiring from now, and its event owed.

        `event_pending` is set in the same write that makes the job final, so a crash before the event
        is published leaves the flag for the timer to find.
        """
        self.status = status
        self.stage = None
        self.completed_at = now
        self.updated_at = now
        self.expires_at = retention.expires_at(self.dataset, now)
        self.event_pending = True

    def complete(self, file_size_bytes: int, now: datetime, retention: Retention) -> None:
        self._end(JobStatus.COMPLETED, now, retention)
        self.progress = 100
        self.total_rows = self.checkpoint.rows_written
        self.processed_rows = self.checkpoint.rows_written
        self.file_size_bytes = file_size_bytes

    def fail(self, message: str, details: dict[str, object] | None, now: datetime, retention: Retention) -> bool:
        """False for a job that already ended: its first end stands."""
        if self.status.is_final:
            return False
        self._end(JobStatus.FAILED, now, retention)
        self.error_message = message
        self.error_details = dict(details or {})
        return True

    def cancel(self, now: datetime, retention: Retention) -> bool:
        """False if already cancelled; a job that completed or failed cannot be cancelled (Conflict)."""
        if self.status is JobStatus.CANCELLED:
            return False
        if self.status.is_final:
            raise Conflict(
                f"The export is already {self.status.value}; only queued or running exports can be cancelled."
            )
        self._end(JobStatus.CANCELLED, now, retention)
        return True

    def delete(self, deleted_by_id: str, now: datetime) -> bool:
        """Marks the job deleted and its file gone; the record stays for the audit trail. False if deleted."""
        if self.deleted_at is not None:
            return False
        self.deleted_at = now
        self.deleted_by_id = deleted_by_id
        self.is_cleaned_up = True
        self.cleaned_up_at = self.cleaned_up_at or now
        self.updated_at = now
        return True

    def event_published(self) -> bool:
        """Clears the outbox flag; False if another run of the publication cleared it already."""
        if not self.event_pending:
            return False
        self.event_pending = False
        return True

    def note_delivery(self, attempt: DeliveryAttempt) -> None:
        """Records a webhook delivery attempt once, whichever copy of its message records it."""
        if not any(d.attempt == attempt.attempt for d in self.deliveries):
            self.deliveries.append(attempt)

    def cleaned_up(self, now: datetime) -> None:
        self.is_cleaned_up = True
        self.cleaned_up_at = now

    def redriven(self, now: datetime) -> None:
        self.checkpoint.redrives += 1
        self.updated_at = now

    def record_shard(self, index: int, seq: int, state: ShardState, now: datetime) -> bool:
        """Saves shard `index`'s step `seq` as `state`; the job goes on to finalizing with its last shard.

        False if this very step is saved already (a lost answer whose retry saw our own write). Another
        copy of the step saving first, or a job that ended meanwhile, is a ConcurrencyConflict.
        """
        if self.status.is_final:
            raise ConcurrencyConflict(f"export {self.job_id} ended while its shard was being saved")
        checkpoint = self.checkpoint
        current = checkpoint.shards[index]
        if _same_step(current, state):
            return False
        if current.seq != seq:
            raise ConcurrencyConflict("another copy of this shard's step saved first")
        checkpoint.shards[index] = state.model_copy(deep=True)
        _keep_first_samples(checkpoint.shards)
        checkpoint.rows_written = sum(shard.rows for shard in checkpoint.shards)
        checkpoint.bytes_written = sum(shard.bytes for shard in checkpoint.shards)
        self.processed_rows = checkpoint.rows_written
        total = max(self.total_rows or 0, checkpoint.rows_written)
        self.progress = min(99, int(100 * checkpoint.rows_written / total) if total else 0)
        if all(shard.done for shard in checkpoint.shards):
            self.stage = JobStage.FINALIZING
            checkpoint.seq += 1
        checkpoint.redrives = 0
        self.updated_at = now
        return True


def _same_step(saved: ShardState, state: ShardState) -> bool:
    """The shard's step as saved; its samples may since have been trimmed because earlier shards hold enough."""
    return saved.model_copy(update={"warning_samples": []}) == state.model_copy(update={"warning_samples": []})


def _keep_first_samples(shards: list[ShardState]) -> None:
    """Keeps only the warning samples that can still be among the job's first ones, in shard (= file) order.

    Earlier shards only ever gain samples, so a sample beyond the first WARNING_SAMPLES of all shards in
    order never comes back: dropping it keeps the checkpoint small whatever the number of shards, and the
    job's samples are the same whichever order the shards ran in.
    """
    room = WARNING_SAMPLES
    for shard in shards:
        if len(shard.warning_samples) > room:
            shard.warning_samples = shard.warning_samples[:room]
        room -= len(shard.warning_samples)


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

    @classmethod
    def of(cls, job: ExportJob, download_url: str | None = None) -> JobView:
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
    source: Literal["http", "queue", "worker"] = "http"
    dataset: Dataset
    export_type: ExportType
    format: ExportFormat
    filters: dict[str, Any] = Field(default_factory=dict)
    columns: list[str] = Field(default_factory=list)
    row_count: int | None = None
    detail: str | None = None


class AuditTrail(CamelModel):
    items: list[AuditEntry]


class TagAuditEntry(CamelModel):
    """One append-only row of the tag admin: who changed or previewed which tag, when, before and after.

    Never a cell value: a change holds the tag definitions, a preview only the case id.
    """

    action: Literal["created", "replaced", "updated", "deleted", "previewed"]
    at: datetime
    actor_id: str
    actor_name: str = ""
    # The caller's address as the front end saw it (the last X-Forwarded-For entry), if known.
    client_address: str | None = None
    # The slot the request named (a PATCH may move the tag: `after` has its new slot); None for a preview.
    tag_slot: int | None = None
    before: TagCreate | None = None
    after: TagCreate | None = None
    case_id: str | None = None


class TagAuditPage(CamelModel):
    items: list[TagAuditEntry]
    continuation_token: str | None


class JobPage(CamelModel):
    items: list[JobView]
    continuation_token: str | None


class WorkMessage(CamelModel):
    """One step of one job on the work queue. `seq` makes re-deliveries and stale copies harmless."""

    v: Literal[1] = 1
    org_id: str = Field(min_length=1, max_length=128)
    job_id: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=0, strict=True)  # a step number: not "1", 1.0 or true
    # Set on the messages of one shard of a sharded export; `seq` is then that shard's step number.
    shard: int | None = Field(default=None, ge=0, le=MAX_SHARDS - 1, strict=True)


# What identifies a queued request: a message that has these can be answered, one that lacks them cannot.
QueueOrganizationId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^/\\#?']+$")]
QueueRequestId = Annotated[str, Field(min_length=1, max_length=100)]
QueueUserId = Annotated[str, Field(min_length=1, max_length=128)]
# Queue names: 3-63 lower-case letters, digits and single inner hyphens.
QueueName = Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class Requester(CamelModel):
    user_id: QueueUserId
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=50)


class ExportRequestMessage(CamelModel):
    """An export requested by another system through the request queue."""

    v: Literal[1] = 1
    org_id: QueueOrganizationId
    request_id: QueueRequestId
    requested_by: Requester
    request: CreateExportRequest
    # Another system's own queue for the completion event (in this storage account).
    reply_queue: QueueName | None = None


class NotificationMessage(CamelModel):
    """One webhook delivery attempt to make, on the notifications queue."""

    v: Literal[1] = 1
    org_id: str = Field(min_length=1, max_length=128)
    job_id: str = Field(min_length=1, max_length=100)
    event_id: str = Field(min_length=1, max_length=100)
    attempt: int = Field(ge=1, le=100, strict=True)
    first_attempt_at: AwareDatetime
