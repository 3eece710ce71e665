"""Synthetic help-desk tickets, deterministic from a seed, with awkward values and missing relations."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

TEAMS = [
    ("6f1d5c1e-0000-4000-8000-000000000001", "Billing"),
    ("6f1d5c1e-0000-4000-8000-000000000002", "Tier 2, EMEA"),
    ("6f1d5c1e-0000-4000-8000-000000000003", "Équipe Québec"),
]
AGENTS = [
    ("9a0e0d4c-0000-4000-8000-000000000001", "Zoë Ångström"),
    ("9a0e0d4c-0000-4000-8000-000000000002", "李小龙"),
    ("9a0e0d4c-0000-4000-8000-000000000003", "Renée O'Connor"),
    ("9a0e0d4c-0000-4000-8000-000000000004", "bob"),
]
TITLES = [
    "Cannot log in",
    "Invoice #1234 wrong, please fix",
    'Printer says "PC LOAD LETTER"',
    "Ümlaut problem",
    "Request: new laptop\nurgent",
    "",
    "ärger mit dem VPN",
    "Zebra crossing sign",
    "apple pie recipe",
]
STATUSES = ["New", "Open", "Pending", "Resolved", "Closed"]
PRIORITIES = ["Low", "Normal", "High", "Urgent"]


def synthetic_tickets(organization_id: str, count: int, *, seed: int = 1, start: int = 1) -> Iterator[dict[str, Any]]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for number in range(start, start + count):
        rng = random.Random(f"ticket-{seed}-{organization_id}-{number}")
        created = base + timedelta(seconds=rng.randrange(0, 700 * 86_400))
        status = rng.choice(STATUSES)
        entity: dict[str, Any] = {
            "PartitionKey": organization_id,
            "RowKey": f"{number:010d}",
            "TicketId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Number": number,
            "Title": rng.choice(TITLES),
            "Status": status,
            "Priority": rng.choice(PRIORITIES),
            "RequesterName": rng.choice(["Ann Smith", "José Núñez", "Ólafur", '=HYPERLINK("x")', "zed"]),
            "RequesterEmail": f"customer{rng.randrange(500)}@example.org",
            "CreatedAt": created,
            "UpdatedAt": created + timedelta(hours=rng.randrange(0, 500)),
            "Tags": ",".join(rng.sample(["vpn", "billing", "hardware", "vip", "refund"], rng.randrange(0, 3))),
            "CustomFieldsJson": orjson.dumps(
                {"product": rng.choice(["Pro", "Basic", "Enterprise"]), "region": rng.choice(["EU", "US", None])}
            ).decode(),
        }
        if rng.random() < 0.9:
            team = rng.choice(TEAMS)
            entity["TeamId"], entity["TeamName"] = team
        if rng.random() < 0.8:
            agent = rng.choice(AGENTS)
            entity["AssigneeId"], entity["AssigneeName"] = agent
        if status == "Closed":
            entity["ClosedAt"] = entity["UpdatedAt"]
        if rng.random() < 0.5:
            entity["Description"] = rng.choice(["Steps: 1, 2, 3", "Long text " + "lorem " * 500, "Emoji 🎫✅"])
        yield entity
