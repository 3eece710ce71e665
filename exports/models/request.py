"""The create request: what a caller asks for (validated once, when it arrives), and its columns."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from exports.dates import (
    GREATER_OR_EQUAL,
    LESS_OR_EQUAL,
    Comparison,
    Span,
    as_moment,
    comparisons,
    holds,
    local_instant,
    zone_named,
)
from exports.models.base import CamelModel

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.]*$")]


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


Moment = Annotated[date | datetime, BeforeValidator(as_moment)]
MOMENT_TEXT = (
    "ISO 8601 text: a date (2024-06-01 or 20240601), the whole day in the export's timeZone, or a date-time "
    "with at most 6 decimals of a second; a date-time without an offset is wall-clock time in timeZone. "
    "Numbers are refused."
)
TIME_ZONE_TEXT = (
    "The export's IANA time zone (case as in the tz database). Date-times in CSV and JSON are written with "
    "this zone's offset at that instant, XLSX serials in its wall-clock time; bare dates and date-times "
    "without an offset in filters are read in it. Unknown names and fixed offsets such as +02:00 are refused."
)


class DateRange(CamelModel):
    """Cases created from `start` through `end`; a bare date is that whole day in the export's zone.

    A date-time without an offset is read in the request's zone by the request (`local_instant`), which
    also checks that `start` is not after `end`: both need the zone.
    """

    start: Annotated[Moment, Field(description=MOMENT_TEXT, examples=["2024-01-01", "2024-01-01T09:30:00Z"])]
    end: Annotated[Moment, Field(description=MOMENT_TEXT, examples=["2024-12-31", "2024-12-31T17:00:00+01:00"])]

    def comparisons(self, zone: tzinfo = UTC) -> tuple[Comparison, ...]:
        """`greaterThanOrEqual start` and `lessThanOrEqual end`, by the one rule for dates, days of `zone`."""
        lower = comparisons(GREATER_OR_EQUAL, self.start, zone)
        upper = comparisons(LESS_OR_EQUAL, self.end, zone)
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
    # How times are written and how dates in filters are read. Before the filters: their check reads it.
    time_zone: Annotated[
        str, Field(max_length=100, description=TIME_ZONE_TEXT, examples=["Europe/Paris", "America/New_York", "UTC"])
    ] = "UTC"
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
    def _absolute_http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or _snapshot(info):
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

    @field_validator("time_zone")
    @classmethod
    def _iana_zone(cls, value: str, info: ValidationInfo) -> str:
        if not _snapshot(info):
            zone_named(value)  # the message names the value and what is expected
        return value

    @field_validator("date_range")
    @classmethod
    def _date_range_in_zone(cls, value: DateRange | None, info: ValidationInfo) -> DateRange | None:
        """Date-times without an offset read in the request's zone, then `start` not after `end` in it."""
        name = info.data.get("time_zone")
        if value is None or name is None:  # no zone: it was refused, and that is the error to show
            return value
        start, end = value.start, value.end
        if _naive(start) or _naive(end):
            zone = zone_named(name)
            start = _in_zone(start, zone, "dateRange.start")
            end = _in_zone(end, zone, "dateRange.end")
            value = value.model_copy(update={"start": start, "end": end})
        if not _snapshot(info):
            zone = zone_named(name)
            if not holds(LESS_OR_EQUAL, end, Span.of(start, zone).start, zone):
                raise ValueError("dateRange.start must not be after dateRange.end")
        return value

    @field_validator("statuses", "categories", "business_units", "locations")
    @classmethod
    def _no_empty_lists(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        # An empty list would mean "match nothing"; callers mean "no filter" and should omit it.
        if value is not None and not value and not _snapshot(info):
            raise ValueError("must not be empty; omit the field to export all")
        return value

    @model_validator(mode="after")
    def _fits_dataset(self, info: ValidationInfo) -> CreateExportRequest:
        if _snapshot(info):
            return self
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


def _naive(value: date | datetime) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _in_zone(value: date | datetime, zone: tzinfo, name: str) -> date | datetime:
    if not isinstance(value, datetime) or value.tzinfo is not None:
        return value
    try:
        return local_instant(value, zone)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


# The version of the request snapshot a job stores; a stored job without one holds version 1.
REQUEST_SNAPSHOT_VERSION = 1
_SNAPSHOT = "request snapshot"
# The validation context that reads a snapshot (or a job holding one) without the API's checks.
SNAPSHOT_CONTEXT = {_SNAPSHOT: True}


def _snapshot(info: ValidationInfo) -> bool:
    """Reading a job's stored snapshot: the request was checked when it arrived and is not judged again."""
    return isinstance(info.context, dict) and bool(info.context.get(_SNAPSHOT))


def request_from_snapshot(text: str | bytes, version: int = REQUEST_SNAPSHOT_VERSION) -> CreateExportRequest:
    """A job's request as it was accepted, read back without the API's checks.

    The API's rules (which fields fit which dataset, the callback address form, no empty filter lists,
    a date range in order) may change after a job was accepted; the job keeps running on what it accepted.
    Only the types are read as before, so the fields the caller set stay the fields set.
    """
    if version != REQUEST_SNAPSHOT_VERSION:
        raise ValueError(f"request snapshot version {version} is not one this service reads")
    return CreateExportRequest.model_validate_json(text, context=SNAPSHOT_CONTEXT)


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
