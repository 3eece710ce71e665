"""Synthetic compliance cases, deterministic from a seed, with the awkward values real data has."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

STATUSES = ["NEW", "OPEN", "IN_PROGRESS", "PENDING_REVIEW", "CLOSED"]
PRIORITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
CHANNELS = ["HOTLINE", "WEB_FORM", "EMAIL", "CHATBOT", "WALK_IN"]
RELATIONSHIPS = ["EMPLOYEE", "CONTRACTOR", "VENDOR", "CUSTOMER", "FORMER_EMPLOYEE", ""]
OUTCOMES = [
    ("SUBSTANTIATED", "Policy breach confirmed"),
    ("UNSUBSTANTIATED", "Insufficient evidence"),
    ("PARTIALLY_SUBSTANTIATED", 'Some allegations confirmed, "others" not'),
    (None, None),
]
CATEGORIES = [
    ("Harassment", "HAR", ["Verbal", "Physical", "Online"]),
    ("Fraud, Waste & Abuse", "FRD", ["Expense fraud", "Procurement, bid rigging", "Timesheet"]),
    ("Conflict of Interest", "COI", ["Gifts", "Outside employment"]),
    ("Data Privacy", "PRV", ["Breach", 'Unauthorised "access"']),
    ("Safety", "SAF", ["Workplace injury", "Near miss\nreported twice"]),
]
BUSINESS_UNITS = [("Finance", "FIN"), ("Opérations", "OPS"), ("Research & Development", "R&D"), ("Sales, EMEA", "SEM")]
LOCATIONS = [
    ("München HQ", "Germany", "EMEA"),
    ("São Paulo", "Brazil", "LATAM"),
    ("東京オフィス", "Japan", "APAC"),
    ("New York, NY", "United States", "NA"),
    ("Zürich", "Switzerland", "EMEA"),
]
NAMES = [
    "Zoë Ångström",
    "José Núñez",
    "李小龙",
    "Ólafur Jónsson",
    "Renée O'Connor",
    "Søren Kierkegaard",
    'Mary-Jane "MJ" Watson',
    "Anaïs Nin",
    "Đặng Thị Ngọc",
    "=cmd|' /C calc'!A0",
]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def reference_ids(seed: int) -> dict[str, list[str]]:
    """Stable ids for categories, business units and locations, so filters can name them."""
    rng = random.Random(f"refs-{seed}")
    return {
        "categories": [_uuid(rng) for _ in CATEGORIES],
        "business_units": [_uuid(rng) for _ in BUSINESS_UNITS],
        "locations": [_uuid(rng) for _ in LOCATIONS],
    }


def synthetic_cases(organization_id: str, count: int, *, seed: int = 1, start: int = 1) -> Iterator[dict[str, Any]]:
    refs = reference_ids(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    for number in range(start, start + count):
        rng = random.Random(f"{seed}-{organization_id}-{number}")
        created = base + timedelta(seconds=rng.randrange(0, 3 * 365 * 86_400))
        status = rng.choice(STATUSES)
        closed = created + timedelta(hours=rng.randrange(1, 24 * 200)) if status == "CLOSED" else None
        cat_index = rng.randrange(len(CATEGORIES))
        category, code, subcategories = CATEGORIES[cat_index]
        missing_assignee = rng.random() < 0.1
        bu_index = rng.randrange(len(BUSINESS_UNITS))
        loc_index = rng.randrange(len(LOCATIONS))
        outcome, reason = rng.choice(OUTCOMES) if status == "CLOSED" else (None, None)
        has_remediation = rng.random() < 0.3
        assignee = rng.choice(NAMES)
        entity: dict[str, Any] = {
            "PartitionKey": organization_id,
            "RowKey": f"{number:010d}",
            "CaseId": _uuid(rng),
            "CaseNumber": f"C-{created.year}-{number:06d}",
            "Status": status,
            "Priority": rng.choice(PRIORITIES),
            "CreatedAt": created,
            "SlaDueAt": created + timedelta(days=rng.choice([7, 14, 30, 60])),
            "CategoryId": refs["categories"][cat_index],
            "CategoryName": category,
            "CategoryCode": code,
            "SubcategoryName": rng.choice(subcategories),
            "SourceChannel": rng.choice(CHANNELS),
            "IsAnonymous": rng.random() < 0.4,
            "ReporterRelationship": rng.choice(RELATIONSHIPS),
            "BusinessUnitId": refs["business_units"][bu_index],
            "BusinessUnitName": BUSINESS_UNITS[bu_index][0],
            "BusinessUnitCode": BUSINESS_UNITS[bu_index][1],
            "LocationId": refs["locations"][loc_index],
            "LocationName": LOCATIONS[loc_index][0],
            "LocationCountry": LOCATIONS[loc_index][1],
            "LocationRegion": LOCATIONS[loc_index][2],
            "HasRemediation": has_remediation,
            "SubjectCount": rng.randrange(0, 6),
            "AttachmentCount": rng.randrange(0, 30),
        }
        if closed is not None:
            entity["ClosedAt"] = closed
        if not missing_assignee:
            entity["AssignedToName"] = assignee
            entity["AssignedToEmail"] = f"user{rng.randrange(1000)}@example.com"
        if outcome is not None:
            entity["Outcome"] = outcome
            entity["OutcomeReason"] = reason if rng.random() < 0.97 else "Long narrative: " + "détail, " * 2000
        if has_remediation:
            entity["RemediationStatus"] = rng.choice(["PLANNED", "IN_PROGRESS", "DONE", "Done — verified 🎉"])
        if rng.random() < 0.9:
            entity["TemplateId"] = TEMPLATES[rng.randrange(len(TEMPLATES))]
            entity["CustomFieldsJson"] = orjson.dumps(_custom_fields(rng, number)).decode()
        yield entity


TEMPLATES = ["5b0c1a52-9a57-4b43-8e3c-2c2f8f0a1a01", "5b0c1a52-9a57-4b43-8e3c-2c2f8f0a1a02"]
INVESTIGATION_TYPES = ["FULL", "PRELIMINARY", "HR_REVIEW", "Audit, external"]
INVESTIGATION_STATUSES = ["OPEN", "IN_PROGRESS", "COMPLETED"]
FINDINGS = [
    "No breach found.",
    'Witness said "it happened twice".',
    "Multi-line\nfinding, with commas",
    "Преувеличено",
    "",
    "Finding: " + "x" * 300,
]


def _custom_fields(rng: random.Random, number: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "totalDollarAmount": round(rng.uniform(-500, 250_000), 2),
        "incidentDate": f"20{rng.randrange(20, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "repeatOffender": rng.random() < 0.2,
        "recoveryRate": f"{rng.randrange(0, 1000) / 10}%",
        "employeeId": f"{rng.randrange(0, 99999):05d}",
        "witnessCount": rng.randrange(0, 7),
        "notes": rng.choice(["", 'See attached, "urgent"', "多语言备注", "line one\nline two"]),
    }
    for index in range(rng.randrange(0, 14)):
        fields[f"extra_{index:02d}"] = rng.choice(["yes", "no", 42, 3.5, None, "=SUM(A1:A2)"])
    if number % 17 == 0:
        fields["totalDollarAmount"] = "not disclosed"  # real data: a value that does not fit its type
    return fields


def synthetic_case_records(case: dict[str, Any]) -> list[dict[str, Any]]:
    """A case's investigations, RIUs, disclosures and interview responses, keyed after the case."""
    rng = random.Random(f"records-{case['PartitionKey']}-{case['RowKey']}-{case['CaseId']}")
    key = case["RowKey"]
    created: datetime = case["CreatedAt"]
    records: list[dict[str, Any]] = []

    def record(kind: str, index: int, **props: Any) -> dict[str, Any]:
        entity = {"PartitionKey": case["PartitionKey"], "RowKey": f"{key}|{kind}|{index:04d}", "Kind": kind}
        entity.update({name: value for name, value in props.items() if value is not None})
        records.append(entity)
        return entity

    investigation_ids = []
    for index in range(1, rng.choice([0, 1, 1, 1, 2, 3]) + 1):
        started = created + timedelta(days=rng.randrange(0, 20), hours=rng.randrange(0, 24))
        status = rng.choice(INVESTIGATION_STATUSES)
        completed = started + timedelta(days=rng.randrange(1, 90)) if status == "COMPLETED" else None
        investigation_id = _uuid(rng)
        investigation_ids.append(investigation_id)
        record(
            "INV",
            index,
            InvestigationId=investigation_id,
            Type=rng.choice(INVESTIGATION_TYPES),
            Status=status,
            Outcome=rng.choice(["SUBSTANTIATED", "UNSUBSTANTIATED", None]) if completed else None,
            InvestigatorName=rng.choice(NAMES),
            StartedAt=started,
            CompletedAt=completed,
            InterviewCount=rng.randrange(0, 6),
            FindingSummary=rng.choice(FINDINGS) if completed else None,
            TemplateId=TEMPLATES[index % 2],
            CustomFieldsJson=orjson.dumps(
                {
                    "hoursSpent": rng.randrange(1, 200),
                    "externalCounsel": rng.random() < 0.3,
                    "budget": round(rng.uniform(0, 20_000), 2),
                }
            ).decode(),
        )
    for index in range(1, 2 if rng.random() < 0.9 else 3):
        record(
            "RIU",
            index,
            RiuId=_uuid(rng),
            Type=rng.choice(CHANNELS),
            ReceivedAt=created - timedelta(hours=index),
            CustomFieldsJson=orjson.dumps({"callerMood": rng.choice(["calm", "upset", "anxious"])}).decode(),
        )
    if rng.random() < 0.2:
        record(
            "DIS",
            1,
            DisclosureId=_uuid(rng),
            Type=rng.choice(["GIFT", "CONFLICT", "OUTSIDE_ACTIVITY"]),
            Status=rng.choice(["SUBMITTED", "APPROVED", "REJECTED"]),
            SubmittedAt=created + timedelta(days=1),
            DiscloserName=rng.choice(NAMES),
            Amount=round(rng.uniform(0, 5_000), 2),
            CustomFieldsJson=orjson.dumps(
                {"giftValue": round(rng.uniform(10, 900), 2), "approvedBy": rng.choice(NAMES)}
            ).decode(),
        )
    for index, investigation_id in enumerate(investigation_ids[:2], start=1):
        if rng.random() < 0.4:
            record(
                "IRS",
                index,
                ResponseId=_uuid(rng),
                InvestigationId=investigation_id,
                RespondentName=rng.choice(NAMES),
                SubmittedAt=created + timedelta(days=3),
                ResponsesJson=orjson.dumps(
                    {"q1": "Yes", "q5": rng.choice(["No", "Partly, see notes", "是"]), "q7": rng.randrange(1, 6)}
                ).decode(),
            )
    return records
