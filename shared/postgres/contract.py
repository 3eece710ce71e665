"""The source contract: the views a PostgreSQL database offers the export service, one per entity set.

An adopting team maps its own schema by writing these views (README, "Reading from PostgreSQL"); the
reference schema in sql/ has them over tables modelled on the two source systems. The service reads
nothing else, names no other identifier, and checks each view against this contract before it reads.

Every view has `organization_id` (text) and an ordering key: a unique, non-negative bigint per organization
(an identity column is the usual one), indexed together with `organization_id`. Case records are ordered by
their case's key, then `kind`, then `position`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exports.ports import EntitySet

ColumnKind = Literal["text", "integer", "boolean", "timestamptz", "double", "json"]

# The PostgreSQL types each kind accepts (pg_type.typname). A `timestamp without time zone` is refused:
# which instant it means is not certain, and exports never guess.
ACCEPTED_TYPES: dict[ColumnKind, frozenset[str]] = {
    "text": frozenset({"text", "varchar", "bpchar"}),
    "integer": frozenset({"int2", "int4", "int8"}),
    "boolean": frozenset({"bool"}),
    "timestamptz": frozenset({"timestamptz"}),
    "double": frozenset({"float8"}),
    "json": frozenset({"jsonb", "json"}),
}
DECLARED: dict[ColumnKind, str] = {
    "text": "text",
    "integer": "integer or bigint",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "double": "double precision",
    "json": "jsonb",
}


@dataclass(frozen=True)
class ViewColumn:
    field: str  # the dataset's name for the value (exports/datasets)
    column: str
    kind: ColumnKind


@dataclass(frozen=True)
class ViewContract:
    view: str
    key: str  # the ordering key (bigint); for case records, their case's key
    order: tuple[str, ...]  # ORDER BY, the key first
    columns: tuple[ViewColumn, ...]

    def by_field(self) -> dict[str, ViewColumn]:
        return {column.field: column for column in self.columns}


def _columns(*specs: tuple[str, str, ColumnKind]) -> tuple[ViewColumn, ...]:
    return tuple(ViewColumn(field, column, kind) for field, column, kind in specs)


CASES = ViewContract(
    view="export_cases",
    key="case_key",
    order=("case_key",),
    columns=_columns(
        ("CaseId", "case_id", "text"),
        ("CaseNumber", "case_number", "text"),
        ("Status", "status", "text"),
        ("Priority", "priority", "text"),
        ("CreatedAt", "created_at", "timestamptz"),
        ("ClosedAt", "closed_at", "timestamptz"),
        ("SlaDueAt", "sla_due_at", "timestamptz"),
        ("CategoryId", "category_id", "text"),
        ("CategoryName", "category_name", "text"),
        ("CategoryCode", "category_code", "text"),
        ("SubcategoryName", "subcategory_name", "text"),
        ("SourceChannel", "source_channel", "text"),
        ("IsAnonymous", "is_anonymous", "boolean"),
        ("ReporterRelationship", "reporter_relationship", "text"),
        ("AssignedToName", "assigned_to_name", "text"),
        ("AssignedToEmail", "assigned_to_email", "text"),
        ("BusinessUnitId", "business_unit_id", "text"),
        ("BusinessUnitName", "business_unit_name", "text"),
        ("BusinessUnitCode", "business_unit_code", "text"),
        ("LocationId", "location_id", "text"),
        ("LocationName", "location_name", "text"),
        ("LocationCountry", "location_country", "text"),
        ("LocationRegion", "location_region", "text"),
        ("Outcome", "outcome", "text"),
        ("OutcomeReason", "outcome_reason", "text"),
        ("HasRemediation", "has_remediation", "boolean"),
        ("RemediationStatus", "remediation_status", "text"),
        ("SubjectCount", "subject_count", "integer"),
        ("AttachmentCount", "attachment_count", "integer"),
        ("TemplateId", "template_id", "text"),
        ("CustomFieldsJson", "custom_fields", "json"),
    ),
)

CASE_RECORDS = ViewContract(
    view="export_case_records",
    key="case_key",
    order=("case_key", "kind", "position"),
    columns=_columns(
        ("Kind", "kind", "text"),  # INV, RIU, DIS or IRS
        ("Position", "position", "integer"),  # 1, 2, ... within the case and kind
        ("TemplateId", "template_id", "text"),
        ("CustomFieldsJson", "custom_fields", "json"),
        ("ResponsesJson", "responses", "json"),
        ("InvestigationId", "investigation_id", "text"),
        ("Type", "type", "text"),
        ("Status", "status", "text"),
        ("Outcome", "outcome", "text"),
        ("InvestigatorName", "investigator_name", "text"),
        ("StartedAt", "started_at", "timestamptz"),
        ("CompletedAt", "completed_at", "timestamptz"),
        ("InterviewCount", "interview_count", "integer"),
        ("FindingSummary", "finding_summary", "text"),
        ("RiuId", "riu_id", "text"),
        ("ReceivedAt", "received_at", "timestamptz"),
        ("DisclosureId", "disclosure_id", "text"),
        ("SubmittedAt", "submitted_at", "timestamptz"),
        ("DiscloserName", "discloser_name", "text"),
        ("Amount", "amount", "double"),
        ("ResponseId", "response_id", "text"),
        ("RespondentName", "respondent_name", "text"),
    ),
)

TICKETS = ViewContract(
    view="export_tickets",
    key="ticket_key",
    order=("ticket_key",),
    columns=_columns(
        ("TicketId", "ticket_id", "text"),
        ("Number", "number", "integer"),
        ("Title", "title", "text"),
        ("Description", "description", "text"),
        ("Status", "status", "text"),
        ("Priority", "priority", "text"),
        ("TeamId", "team_id", "text"),
        ("TeamName", "team_name", "text"),
        ("AssigneeId", "assignee_id", "text"),
        ("AssigneeName", "assignee_name", "text"),
        ("RequesterName", "requester_name", "text"),
        ("RequesterEmail", "requester_email", "text"),
        ("CreatedAt", "created_at", "timestamptz"),
        ("UpdatedAt", "updated_at", "timestamptz"),
        ("ClosedAt", "closed_at", "timestamptz"),
        ("Tags", "tags", "text"),
        ("CustomFieldsJson", "custom_fields", "json"),
    ),
)

CONTRACTS: dict[EntitySet, ViewContract] = {"cases": CASES, "case_records": CASE_RECORDS, "tickets": TICKETS}
ORGANIZATION_COLUMN = "organization_id"
