"""A small, hand-written dataset whose exports are checked value by value (golden tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

TEMPLATE_A = "11111111-1111-4111-8111-111111111111"
TEMPLATE_B = "22222222-2222-4222-8222-222222222222"
CAT_FRAUD = "33333333-3333-4333-8333-333333333333"
CAT_SAFETY = "44444444-4444-4444-8444-444444444444"
BU_FINANCE = "77777777-7777-4777-8777-777777777777"
LOC_MUNICH = "88888888-8888-4888-8888-888888888888"


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fixed_cases(org: str) -> list[dict[str, Any]]:
    return [
        {
            "PartitionKey": org,
            "RowKey": "0000000001",
            "CaseId": "case-1",
            "CaseNumber": "C-2024-000001",
            "Status": "CLOSED",
            "Priority": "HIGH",
            "CreatedAt": t(2024, 1, 10, 9, 0),
            "ClosedAt": t(2024, 2, 9, 21, 0),
            "SlaDueAt": t(2024, 2, 1),
            "CategoryId": CAT_FRAUD,
            "CategoryName": "Fraud, Waste & Abuse",
            "CategoryCode": "FRD",
            "SubcategoryName": "Expense fraud",
            "SourceChannel": "HOTLINE",
            "IsAnonymous": True,
            "ReporterRelationship": "EMPLOYEE",
            "AssignedToName": "Zoë Ångström",
            "AssignedToEmail": "zoe@example.com",
            "BusinessUnitId": BU_FINANCE,
            "BusinessUnitName": "Finance",
            "BusinessUnitCode": "FIN",
            "LocationId": LOC_MUNICH,
            "LocationName": "München HQ",
            "LocationCountry": "Germany",
            "LocationRegion": "EMEA",
            "Outcome": "SUBSTANTIATED",
            "OutcomeReason": 'Receipts "adjusted"',
            "HasRemediation": True,
            "RemediationStatus": "DONE",
            "SubjectCount": 2,
            "AttachmentCount": 5,
            "TemplateId": TEMPLATE_A,
            "CustomFieldsJson": orjson.dumps(
                {
                    "totalDollarAmount": 1234.5,
                    "recoveryRate": "12.5%",
                    "employeeId": "00042",
                    "notes": "line one\nline two",
                }
            ).decode(),
        },
        {
            "PartitionKey": org,
            "RowKey": "0000000002",
            "CaseId": "case-2",
            "CaseNumber": "C-2024-000002",
            "Status": "OPEN",
            "Priority": "LOW",
            "CreatedAt": t(2024, 3, 1, 12, 0),
            "SlaDueAt": t(2024, 3, 31),
            "CategoryId": CAT_SAFETY,
            "CategoryName": "Safety",
            "CategoryCode": "SAF",
            "IsAnonymous": False,
            "SubjectCount": 0,
            "AttachmentCount": 0,
            "TemplateId": TEMPLATE_B,
            "CustomFieldsJson": orjson.dumps({"totalDollarAmount": "not disclosed", "site": "B7"}).decode(),
        },
        {
            "PartitionKey": org,
            "RowKey": "0000000003",
            "CaseId": "case-3",
            "CaseNumber": "C-2024-000003",
            "Status": "NEW",
            "Priority": "MEDIUM",
            "CreatedAt": t(2024, 3, 5),
            "CategoryId": CAT_SAFETY,
            "CategoryName": "Safety",
            "CategoryCode": "SAF",
            "IsAnonymous": False,
            "SubjectCount": 1,
            "AttachmentCount": 1,
        },
    ]


def fixed_records(org: str) -> list[dict[str, Any]]:
    def record(key: str, **props: Any) -> dict[str, Any]:
        return {"PartitionKey": org, "RowKey": key, "Kind": key.split("|")[1], **props}

    return [
        record(
            "0000000001|DIS|0001",
            DisclosureId="dis-1",
            Type="GIFT",
            Status="APPROVED",
            SubmittedAt=t(2024, 1, 11),
            DiscloserName="José Núñez",
            Amount=250.0,
            CustomFieldsJson=orjson.dumps({"giftValue": 99.99}).decode(),
        ),
        record(
            "0000000001|INV|0001",
            InvestigationId="inv-1a",
            Type="FULL",
            Status="COMPLETED",
            Outcome="SUBSTANTIATED",
            InvestigatorName="李小龙",
            StartedAt=t(2024, 1, 12),
            CompletedAt=t(2024, 2, 1, 12),
            InterviewCount=3,
            FindingSummary="Confirmed, twice",
            TemplateId=TEMPLATE_A,
            CustomFieldsJson=orjson.dumps({"hoursSpent": 40}).decode(),
        ),
        record(
            "0000000001|INV|0002",
            InvestigationId="inv-1b",
            Type="HR_REVIEW",
            Status="IN_PROGRESS",
            InvestigatorName="Renée O'Connor",
            StartedAt=t(2024, 2, 2),
            InterviewCount=0,
            TemplateId=TEMPLATE_B,
            CustomFieldsJson=orjson.dumps({"hoursSpent": 2}).decode(),
        ),
        record(
            "0000000001|IRS|0001",
            ResponseId="irs-1",
            InvestigationId="inv-1a",
            ResponsesJson=orjson.dumps({"q5": "Partly, see notes"}).decode(),
        ),
        record("0000000001|RIU|0001", RiuId="riu-1", Type="HOTLINE", ReceivedAt=t(2024, 1, 10, 8)),
        record("0000000001|RIU|0002", RiuId="riu-2", Type="EMAIL", ReceivedAt=t(2024, 1, 10, 8, 30)),
        record("0000000002|RIU|0001", RiuId="riu-3", Type="WEB_FORM", ReceivedAt=t(2024, 3, 1, 11)),
    ]


def fixed_tags() -> list[dict[str, Any]]:
    return [
        {
            "sourceEntityType": "CASE",
            "sourceFieldPath": "customFields.totalDollarAmount",
            "tagSlot": 1,
            "columnName": "total_dollar_amount",
            "displayLabel": "Total Dollar Amount",
            "dataType": "CURRENCY",
            "formatPattern": "$#,##0.00",
        },
        {
            "sourceEntityType": "CASE",
            "sourceFieldPath": "customFields.recoveryRate",
            "tagSlot": 2,
            "columnName": "recovery_rate",
            "displayLabel": "Recovery Rate",
            "dataType": "PERCENTAGE",
            "formatPattern": "0.0%",
            "templateId": TEMPLATE_A,
        },
        {
            "sourceEntityType": "INVESTIGATION",
            "sourceFieldPath": "customFields.hoursSpent",
            "tagSlot": 3,
            "columnName": "hours_spent",
            "displayLabel": "Hours Spent",
            "dataType": "NUMBER",
        },
        {
            "sourceEntityType": "INTERVIEW_RESPONSE",
            "sourceFieldPath": "responses.q5",
            "tagSlot": 5,
            "columnName": "q5_answer",
            "displayLabel": "Q5",
            "dataType": "TEXT",
        },
        {
            "sourceEntityType": "DISCLOSURE",
            "sourceFieldPath": "customFields.giftValue",
            "tagSlot": 20,
            "columnName": "gift_value",
            "displayLabel": "Gift Value",
            "dataType": "CURRENCY",
        },
    ]


# The golden files (tests/golden/{name}.{csv,jsonl}): each export type with the fixed data and tags.
GOLDEN_EXPORTS: dict[str, dict[str, Any]] = {
    "cases-flat_file": {"exportType": "FLAT_FILE", "includeOverflow": True},
    "cases-cases_only": {"exportType": "CASES_ONLY"},
    "cases-investigations_only": {"exportType": "INVESTIGATIONS_ONLY"},
    "cases-disclosures_only": {"exportType": "DISCLOSURES_ONLY"},
    "cases-custom": {
        "exportType": "CUSTOM",
        "columns": ["case_number", "inv_1_investigator_name", "recovery_rate", "custom_fields_overflow"],
    },
    "cases-flat_file-no_extras": {"includeInvestigations": False, "includeTaggedFields": False, "maxInvestigations": 1},
}
