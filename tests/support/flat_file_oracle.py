"""An independent oracle for the flat file: what each JSONL row must hold, computed plainly from the source.

It shares no code with exports/datasets on purpose: a bug there cannot hide here.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

INV_FIELDS = [
    ("id", "InvestigationId"),
    ("type", "Type"),
    ("status", "Status"),
    ("outcome", "Outcome"),
    ("started_at", "StartedAt"),
    ("completed_at", "CompletedAt"),
    ("days_to_complete", None),
    ("investigator_name", "InvestigatorName"),
    ("interview_count", "InterviewCount"),
    ("finding_summary", "FindingSummary"),
]
CORE_PROPS = {
    "case_id": "CaseId",
    "case_number": "CaseNumber",
    "case_status": "Status",
    "case_priority": "Priority",
    "case_created_at": "CreatedAt",
    "case_closed_at": "ClosedAt",
    "category_name": "CategoryName",
    "category_code": "CategoryCode",
    "subcategory_name": "SubcategoryName",
    "source_channel": "SourceChannel",
    "is_anonymous": "IsAnonymous",
    "reporter_relationship": "ReporterRelationship",
    "assigned_to_name": "AssignedToName",
    "assigned_to_email": "AssignedToEmail",
    "business_unit_name": "BusinessUnitName",
    "business_unit_code": "BusinessUnitCode",
    "location_name": "LocationName",
    "location_country": "LocationCountry",
    "location_region": "LocationRegion",
    "outcome": "Outcome",
    "outcome_reason": "OutcomeReason",
    "has_remediation": "HasRemediation",
    "remediation_status": "RemediationStatus",
    "subject_count": "SubjectCount",
    "attachment_count": "AttachmentCount",
}
KIND = {"INVESTIGATION": "INV", "DISCLOSURE": "DIS", "INTERVIEW_RESPONSE": "IRS", "RIU": "RIU"}


def iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + (f".{value.microsecond:06d}" if value.microsecond else "")
            + "Z"
        )
    return value


def days(start: Any, end: Any) -> int | None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return max(0, math.floor((end - start).total_seconds() / 86_400))


def tag_value(tag: dict[str, Any], case: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> Any:
    entities = [case] if tag["sourceEntityType"] == "CASE" else records.get(KIND[tag["sourceEntityType"]], [])
    container, key = tag["sourceFieldPath"].split(".", 1)
    prop = "CustomFieldsJson" if container == "customFields" else "ResponsesJson"
    for entity in entities:
        if tag.get("templateId") and entity.get("TemplateId") != tag["templateId"]:
            continue
        raw = json.loads(entity[prop]).get(key) if entity.get(prop) else None
        return typed(raw, tag["dataType"])
    return None


def typed(raw: Any, data_type: str) -> Any:
    if raw is None or raw == "":
        return None
    if data_type in ("NUMBER", "CURRENCY") and isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw
    if data_type == "PERCENTAGE" and isinstance(raw, str) and raw.endswith("%"):
        try:
            return float(raw[:-1]) / 100
        except ValueError:
            return raw
    if data_type == "PERCENTAGE" and isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw / 100  # a number of percent, like "25%"
    if data_type == "BOOLEAN" and isinstance(raw, bool):
        return raw
    if data_type == "DATE" and isinstance(raw, str) and len(raw) == 10:
        return raw  # a date stays YYYY-MM-DD in JSON
    if data_type == "TEXT" and not isinstance(raw, str):
        return json.dumps(raw, separators=(",", ":"))
    return raw


def expected_rows(
    cases: list[dict[str, Any]],
    records: list[dict[str, Any]],
    tags: list[dict[str, Any]],
    as_of: datetime,
    max_investigations: int,
) -> list[dict[str, Any]]:
    by_case: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in sorted(records, key=lambda r: r["RowKey"]):
        case_key, kind, _ = record["RowKey"].split("|")
        by_case[case_key][kind].append(record)
    rows = []
    for case in sorted(cases, key=lambda c: c["RowKey"]):
        mine = by_case[case["RowKey"]]
        row = {name: iso(case.get(prop)) for name, prop in CORE_PROPS.items()}
        closed = case.get("ClosedAt")
        row["case_days_open"] = days(case.get("CreatedAt"), closed or as_of)
        due = case.get("SlaDueAt")
        row["case_sla_breached"] = None if due is None else (closed or as_of) > due
        row["riu_count"] = len(mine["RIU"])
        row["investigation_count"] = len(mine["INV"])
        for n in range(1, max_investigations + 1):
            inv = mine["INV"][n - 1] if len(mine["INV"]) >= n else None
            for suffix, prop in INV_FIELDS:
                if inv is None:
                    value = None
                elif prop is None:
                    value = days(inv.get("StartedAt"), inv.get("CompletedAt"))
                else:
                    value = iso(inv.get(prop))
                row[f"inv_{n}_{suffix}"] = value
        for tag in sorted(tags, key=lambda t: t["tagSlot"]):
            row[tag["columnName"]] = tag_value(tag, case, mine)
        rows.append(row)
    return rows


TWENTY_TAGS: list[dict[str, Any]] = [
    {
        "sourceEntityType": entity,
        "sourceFieldPath": path,
        "tagSlot": slot,
        "columnName": name,
        "displayLabel": name.replace("_", " ").title(),
        "dataType": dtype,
        **extra,
    }
    for slot, (entity, path, name, dtype, extra) in enumerate(
        [
            (
                "CASE",
                "customFields.totalDollarAmount",
                "total_dollar_amount",
                "CURRENCY",
                {"formatPattern": "$#,##0.00"},
            ),
            ("CASE", "customFields.incidentDate", "incident_date", "DATE", {"formatPattern": "YYYY-MM-DD"}),
            ("CASE", "customFields.repeatOffender", "repeat_offender", "BOOLEAN", {}),
            ("CASE", "customFields.recoveryRate", "recovery_rate", "PERCENTAGE", {"formatPattern": "0.0%"}),
            ("CASE", "customFields.employeeId", "employee_id", "TEXT", {}),
            ("CASE", "customFields.witnessCount", "witness_count", "NUMBER", {}),
            ("CASE", "customFields.notes", "case_notes", "TEXT", {}),
            ("INVESTIGATION", "customFields.hoursSpent", "hours_spent", "NUMBER", {}),
            ("INVESTIGATION", "customFields.externalCounsel", "external_counsel", "BOOLEAN", {}),
            ("INVESTIGATION", "customFields.budget", "investigation_budget", "CURRENCY", {}),
            ("RIU", "customFields.callerMood", "caller_mood", "TEXT", {}),
            ("DISCLOSURE", "customFields.giftValue", "gift_value", "CURRENCY", {}),
            ("DISCLOSURE", "customFields.approvedBy", "gift_approved_by", "TEXT", {}),
            ("INTERVIEW_RESPONSE", "responses.q1", "q1_answer", "TEXT", {}),
            ("INTERVIEW_RESPONSE", "responses.q5", "q5_answer", "TEXT", {}),
            ("INTERVIEW_RESPONSE", "responses.q7", "q7_score", "NUMBER", {}),
            ("CASE", "customFields.extra_00", "extra_00", "TEXT", {}),
            (
                "CASE",
                "customFields.extra_01",
                "extra_01",
                "TEXT",
                {"templateId": "5b0c1a52-9a57-4b43-8e3c-2c2f8f0a1a01"},
            ),
            ("CASE", "customFields.extra_02", "extra_02", "NUMBER", {}),
            (
                "CASE",
                "customFields.totalDollarAmount",
                "total_dollar_amount_b",
                "TEXT",
                {"templateId": "5b0c1a52-9a57-4b43-8e3c-2c2f8f0a1a02"},
            ),
        ],
        start=1,
    )
]
