"""Synthetic compliance cases, deterministic from a seed, with the awkward values real data has."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

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
            "RiuCount": rng.randrange(0, 4),
            "InvestigationCount": rng.randrange(0, 5),
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
        yield entity
