"""The compliance case dataset (seed 000): core case columns, filters, and row building."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exports.datasets.columns import Column, DataType, Entity, column
from exports.models import CreateExportRequest
from exports.ports import Condition, SourceQuery
from shared.errors import ExportFailed

SECONDS_PER_DAY = 86_400


def _days_open(entity: Entity, as_of: datetime) -> int | None:
    created = entity.get("CreatedAt")
    if not isinstance(created, datetime):
        return None
    closed = entity.get("ClosedAt")
    end = closed if isinstance(closed, datetime) else as_of
    return max(0, int((end - created).total_seconds() // SECONDS_PER_DAY))


def _sla_breached(entity: Entity, as_of: datetime) -> bool | None:
    due = entity.get("SlaDueAt")
    if not isinstance(due, datetime):
        return None
    closed = entity.get("ClosedAt")
    end = closed if isinstance(closed, datetime) else as_of
    return end > due


CORE_COLUMNS: tuple[Column, ...] = (
    column("case_id", "Case ID", DataType.TEXT, "CaseId"),
    column("case_number", "Case Number", DataType.TEXT, "CaseNumber"),
    column("case_status", "Case Status", DataType.TEXT, "Status"),
    column("case_priority", "Case Priority", DataType.TEXT, "Priority"),
    column("case_created_at", "Created At", DataType.DATETIME, "CreatedAt"),
    column("case_closed_at", "Closed At", DataType.DATETIME, "ClosedAt"),
    Column("case_days_open", "Days Open", DataType.INTEGER, _days_open, ("CreatedAt", "ClosedAt")),
    Column("case_sla_breached", "SLA Breached", DataType.BOOLEAN, _sla_breached, ("SlaDueAt", "ClosedAt")),
    column("category_name", "Category", DataType.TEXT, "CategoryName"),
    column("category_code", "Category Code", DataType.TEXT, "CategoryCode"),
    column("subcategory_name", "Subcategory", DataType.TEXT, "SubcategoryName"),
    column("source_channel", "Source Channel", DataType.TEXT, "SourceChannel"),
    column("is_anonymous", "Anonymous", DataType.BOOLEAN, "IsAnonymous"),
    column("reporter_relationship", "Reporter Relationship", DataType.TEXT, "ReporterRelationship"),
    column("assigned_to_name", "Assigned To", DataType.TEXT, "AssignedToName"),
    column("assigned_to_email", "Assigned To Email", DataType.TEXT, "AssignedToEmail"),
    column("business_unit_name", "Business Unit", DataType.TEXT, "BusinessUnitName"),
    column("business_unit_code", "Business Unit Code", DataType.TEXT, "BusinessUnitCode"),
    column("location_name", "Location", DataType.TEXT, "LocationName"),
    column("location_country", "Country", DataType.TEXT, "LocationCountry"),
    column("location_region", "Region", DataType.TEXT, "LocationRegion"),
    column("outcome", "Outcome", DataType.TEXT, "Outcome"),
    column("outcome_reason", "Outcome Reason", DataType.TEXT, "OutcomeReason"),
    column("has_remediation", "Has Remediation", DataType.BOOLEAN, "HasRemediation"),
    column("remediation_status", "Remediation Status", DataType.TEXT, "RemediationStatus"),
    column("riu_count", "RIU Count", DataType.INTEGER, "RiuCount"),
    column("investigation_count", "Investigation Count", DataType.INTEGER, "InvestigationCount"),
    column("subject_count", "Subject Count", DataType.INTEGER, "SubjectCount"),
    column("attachment_count", "Attachment Count", DataType.INTEGER, "AttachmentCount"),
)

COLUMNS_BY_NAME = {col.name: col for col in CORE_COLUMNS}

_EXPECTED_TYPES: dict[DataType, tuple[type, ...]] = {
    DataType.TEXT: (str,),
    DataType.INTEGER: (int,),
    DataType.NUMBER: (int, float),
    DataType.DATETIME: (datetime,),
    DataType.BOOLEAN: (bool,),
}


def columns_for(request: CreateExportRequest) -> tuple[Column, ...]:
    if request.columns:
        unknown = [name for name in request.columns if name not in COLUMNS_BY_NAME]
        if unknown:
            from shared.errors import ValidationFailed

            raise ValidationFailed(
                f"unknown column(s): {', '.join(unknown)}; GET /api/export-fields/columns lists them",
                errors=[{"loc": ["columns"], "msg": f"unknown column {name!r}"} for name in unknown],
            )
        return tuple(COLUMNS_BY_NAME[name] for name in request.columns)
    return CORE_COLUMNS


def source_query(table: str, organization_id: str, request: CreateExportRequest) -> SourceQuery:
    conditions: list[Condition] = []
    if request.date_range:
        start, end = request.date_range.bounds()
        conditions += [Condition("CreatedAt", "ge", start), Condition("CreatedAt", "le", end)]
    if request.statuses:
        conditions.append(Condition("Status", "in", tuple(request.statuses)))
    if request.categories:
        conditions.append(Condition("CategoryId", "in", tuple(str(c) for c in request.categories)))
    if request.business_units:
        conditions.append(Condition("BusinessUnitId", "in", tuple(str(b) for b in request.business_units)))
    if request.locations:
        conditions.append(Condition("LocationId", "in", tuple(str(loc) for loc in request.locations)))
    return SourceQuery(table=table, partition=organization_id, conditions=tuple(conditions))


def select_for(columns: tuple[Column, ...]) -> tuple[str, ...]:
    props: dict[str, None] = {"RowKey": None}
    for col in columns:
        props.update(dict.fromkeys(col.source_properties))
    return tuple(props)


def build_row(columns: tuple[Column, ...], entity: Entity, as_of: datetime) -> list[Any]:
    row = []
    for col in columns:
        value = col.build(entity, as_of)
        if value is not None and not isinstance(value, _EXPECTED_TYPES.get(col.data_type, (object,))):
            raise ExportFailed(
                f"Source record {entity.get('RowKey')!s} has a {type(value).__name__} in column "
                f"{col.name}, which holds {col.data_type.value.lower()} values; fix the record and retry.",
                details={"row": entity.get("RowKey"), "column": col.name},
            )
        # bool is an int in Python; only let it through where a boolean is expected.
        if isinstance(value, bool) and col.data_type in (DataType.INTEGER, DataType.NUMBER):
            raise ExportFailed(f"Source record {entity.get('RowKey')!s} has a boolean in column {col.name}.")
        row.append(value)
    return row
