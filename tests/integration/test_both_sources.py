"""The same data in Table storage (Azurite) and in PostgreSQL (the reference schema, read through the views of
the source contract) exports to the same bytes: every export type and format, filters, search, sort, tags of
every source type, overflow, per-record export types and shards. The case exports also equal the golden files.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from azure.data.tables import TableServiceClient

from exports.composition import build_tag_service
from exports.models import TagCreate
from exports.ports import KEY, RECORD, Predicate, RowQuery, RowSource
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.postgres.connection import open_pool
from shared.postgres.row_source import PostgresRowSource, key_text
from shared.settings import Settings
from shared.storage.row_source import TableRowSource
from tests.support.azurite import Azurite
from tests.support.fixed_data import CAT_FRAUD, GOLDEN_EXPORTS, fixed_cases, fixed_records, fixed_tags
from tests.support.postgres import PrivatePostgres
from tests.support.source_runs import SourceRun, run_on, source_settings
from tools.load_cases import load_entities
from tools.load_postgres import apply_reference_schema, insert_cases, insert_tickets
from tools.synthetic_cases import reference_ids, synthetic_case_records, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FIXED_ORG = "both-fixed"
SYNTHETIC_ORG = "both-synthetic"
SYNTHETIC_CASES = 2_500
SYNTHETIC_TICKETS = 2_500
ZONED_ORG = "both-zoned"
# At the edges of Paris's 2024-03-31 (23 hours: 23:00Z the day before to 22:00Z) and 2024-10-27 (25 hours:
# 22:00Z the day before to 23:00Z): the microsecond before each edge and the edge itself.
_TICK = timedelta(microseconds=1)
ZONED_TIMES = [
    datetime(2024, 3, 30, 23, tzinfo=UTC) - _TICK,
    datetime(2024, 3, 30, 23, tzinfo=UTC),
    datetime(2024, 3, 31, 22, tzinfo=UTC) - _TICK,
    datetime(2024, 3, 31, 22, tzinfo=UTC),
    datetime(2024, 10, 26, 22, tzinfo=UTC) - _TICK,
    datetime(2024, 10, 26, 22, tzinfo=UTC),
    datetime(2024, 10, 27, 23, tzinfo=UTC) - _TICK,
    datetime(2024, 10, 27, 23, tzinfo=UTC),
]
ROLES = [ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS]


@dataclass
class Sources:
    tables: TableRowSource
    postgres: PostgresRowSource

    def each(self) -> dict[str, RowSource]:
        return {"tables": self.tables, "postgres": self.postgres}


@pytest.fixture(scope="module")
def sources(azurite: Azurite, postgres: PrivatePostgres) -> Iterator[Sources]:
    """Both sources holding the same organizations: the golden files' fixed data and synthetic data."""
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    dsn = postgres.create_database("both_sources")
    fixed = fixed_cases(FIXED_ORG)
    records = fixed_records(FIXED_ORG)
    cases = list(synthetic_cases(SYNTHETIC_ORG, SYNTHETIC_CASES))
    case_records = [record for case in cases for record in synthetic_case_records(case)]
    tickets = list(synthetic_tickets(SYNTHETIC_ORG, SYNTHETIC_TICKETS))
    zoned_cases, zoned_tickets = zoned_rows()
    load_entities(tables, "cases", [*fixed, *cases, *zoned_cases])
    load_entities(tables, "caserecords", [*records, *case_records])
    load_entities(tables, "tickets", [*tickets, *zoned_tickets])
    with psycopg.connect(dsn, autocommit=True) as connection:
        apply_reference_schema(connection)
        insert_cases(connection, [*fixed, *cases, *zoned_cases], [*records, *case_records])
        insert_tickets(connection, [*tickets, *zoned_tickets])
    settings = settings_for(dsn)
    pool = open_pool(settings)
    try:
        yield Sources(TableRowSource(tables), PostgresRowSource(pool, page_rows=settings.postgres_page_rows))
    finally:
        pool.close()


def zoned_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cases and tickets of ZONED_ORG created at ZONED_TIMES, numbered 1 to 8 in that order."""
    cases = list(synthetic_cases(ZONED_ORG, len(ZONED_TIMES)))
    tickets = list(synthetic_tickets(ZONED_ORG, len(ZONED_TIMES)))
    for row, created in zip([*cases, *tickets], ZONED_TIMES * 2, strict=True):
        row["CreatedAt"] = created
        for later in ("UpdatedAt", "ClosedAt", "SlaDueAt"):
            if isinstance(row.get(later), datetime):
                row[later] = created + timedelta(days=1)
    return cases, tickets


def settings_for(dsn: str) -> Settings:
    return source_settings(dsn, shard_rows=1_000, postgres_page_rows=300)


def run_tagged(source: RowSource, principal: Principal, *, tagged: bool) -> SourceRun:
    run = run_on(source, settings_for("host=unused"))
    if tagged:
        for tag in fixed_tags():
            build_tag_service(run.service).create(principal, TagCreate.model_validate(tag))
    return run


def principal(org: str) -> Principal:
    return Principal(organization_id=org, user_id="u-both", name="Both Sources", roles=frozenset(ROLES))


def exported_from_each(sources: Sources, org: str, body: dict[str, Any], *, tagged: bool = False) -> dict[str, bytes]:
    who = principal(org)
    runs = {name: run_tagged(source, who, tagged=tagged) for name, source in sources.each().items()}
    return {name: run.export(who, body) for name, run in runs.items()}


@pytest.mark.parametrize("name", sorted(GOLDEN_EXPORTS))
@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
def test_every_case_export_type_gives_the_golden_file_from_either_source(sources: Sources, name: str, fmt: str) -> None:
    files = exported_from_each(sources, FIXED_ORG, {"format": fmt, **GOLDEN_EXPORTS[name]}, tagged=True)
    golden = (GOLDEN / f"{name}.{fmt.lower()}").read_bytes()
    assert files["tables"] == golden
    assert files["postgres"] == golden


@pytest.mark.parametrize("fmt", ["XLSX", "JSON", "CSV gzip"])
def test_the_tagged_flat_file_is_the_same_in_every_other_format(sources: Sources, fmt: str) -> None:
    body = {"format": fmt.split()[0], "exportType": "FLAT_FILE", "includeOverflow": True}
    if fmt.endswith("gzip"):
        body["compression"] = "gzip"
    files = exported_from_each(sources, FIXED_ORG, body, tagged=True)
    assert files["tables"] == files["postgres"]


def case_bodies() -> dict[str, dict[str, Any]]:
    refs = reference_ids(1)
    return {
        "flat file, sharded": {"exportType": "FLAT_FILE", "includeOverflow": True},
        "date range": {"dateRange": {"start": "2024-01-01", "end": "2024-06-30T12:00:00Z"}},
        "statuses and a category": {"statuses": ["OPEN", "CLOSED"], "categories": refs["categories"][:1]},
        # More values than one Table storage query holds: that adapter evaluates the rest itself.
        "long lists": {
            "statuses": ["NEW", "OPEN", "IN_PROGRESS", "PENDING_REVIEW", "CLOSED", *(f"S{n}" for n in range(20))],
            "businessUnits": refs["business_units"][:2],
            "locations": refs["locations"][:3],
        },
        "investigations only": {"exportType": "INVESTIGATIONS_ONLY", "statuses": ["CLOSED"]},
        "disclosures only": {"exportType": "DISCLOSURES_ONLY"},
        "no matching case": {"categories": [CAT_FRAUD]},
    }


@pytest.mark.parametrize("name", sorted(case_bodies()))
def test_case_exports_of_synthetic_data_are_byte_identical(sources: Sources, name: str) -> None:
    files = exported_from_each(sources, SYNTHETIC_ORG, {"format": "CSV", **case_bodies()[name]})
    assert files["tables"] == files["postgres"]
    assert files["tables"].count(b"\n") > 1 or name == "no matching case"


TICKET_BODIES: dict[str, dict[str, Any]] = {
    "every column": {},
    "filters of every type": {
        "filters": [
            {"field": "status", "operator": "in", "value": "Open,Pending,Closed"},
            {"field": "ticket_number", "operator": "greaterThan", "value": "100"},
            {"field": "created_at", "operator": "after", "value": "2024-01-01"},
            {"field": "title", "operator": "contains", "value": "a"},
            {"field": "assignee_id", "operator": "isNotEmpty"},
        ]
    },
    "not equal, and empty": {
        "filters": [
            {"field": "created_at", "operator": "notEquals", "value": "2024-03-05"},
            {"field": "team_name", "operator": "notEquals", "value": "Network"},
            {"field": "closed_at", "operator": "isEmpty"},
            {"field": "ticket_number", "operator": "lessThanOrEqual", "value": "2000"},
        ]
    },
    "search": {"searchTerm": "vpn"},
    "sorted by title": {"sortField": "title", "sortDirection": "desc"},
    "custom fields": {"columns": ["ticket_number", "title", "customFields.product", "customFields.region"]},
    "team scope": {"scope": {"teamId": "6f1d5c1e-0000-4000-8000-000000000002"}},
}


@pytest.mark.parametrize("name", sorted(TICKET_BODIES))
@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
def test_ticket_exports_are_byte_identical(sources: Sources, name: str, fmt: str) -> None:
    body = {"dataset": "tickets", "format": fmt, **TICKET_BODIES[name]}
    files = exported_from_each(sources, SYNTHETIC_ORG, body)
    assert files["tables"] == files["postgres"]
    if fmt == "CSV":
        assert files["tables"].count(b"\r\n") > 10  # rows, not only a header


def record_id(record: str) -> tuple[int, str, int]:
    """A record's key, whichever source wrote it (their keys are zero-padded to different widths)."""
    case, kind, position = record.split("|")
    return int(case), kind, int(position)


def test_a_resumed_keyset_read_gives_every_row_once(sources: Sources) -> None:
    """Pages of the PostgreSQL source continue on the whole ordering key: a case's records may span pages."""
    query = RowQuery("case_records", SYNTHETIC_ORG, (Predicate("Kind", "in", ("INV", "RIU", "DIS", "IRS")),))
    tables = [record_id(row[RECORD]) for row in sources.tables.read(query, None)]
    postgres = [record_id(row[RECORD]) for row in sources.postgres.read(query, None)]
    assert postgres == tables and len(set(postgres)) == len(postgres) > 300  # more than one page
    middle = tables[len(tables) // 2][0]
    resumed = [record_id(row[RECORD]) for row in sources.postgres.read(query, key_text(middle))]
    assert resumed == [record for record in tables if record[0] > middle]


def test_counting_stops_at_the_limit_and_names_the_last_key_read(sources: Sources) -> None:
    cases = RowQuery("cases", SYNTHETIC_ORG)
    counted, last = sources.postgres.count(cases, None, 1_000)
    first_thousand = [row[KEY] for row in itertools.islice(sources.postgres.read(cases, None), 1_000)]
    assert (counted, last) == (1_000, first_thousand[-1])
    assert sources.postgres.count(cases, last, 5_000) == (SYNTHETIC_CASES - 1_000, None)
    assert sources.tables.count(cases, None, 5_000) == (SYNTHETIC_CASES, None)


def test_a_time_zone_reads_and_writes_the_same_from_either_source(sources: Sources) -> None:
    """Paris's days across both daylight-saving changes, as predicates both sources evaluate, and times in Paris."""
    tickets = {
        "dataset": "tickets",
        "format": "CSV",
        "timeZone": "Europe/Paris",
        "columns": ["ticket_number", "created_at"],
        "filters": [{"field": "created_at", "operator": "equals", "value": "2024-03-31"}],
    }
    files = exported_from_each(sources, ZONED_ORG, tickets)
    assert files["tables"] == files["postgres"]
    assert list(csv.reader(io.StringIO(files["tables"].decode("utf-8-sig"))))[1:] == [
        ["2", "2024-03-31T00:00:00+01:00"],
        ["3", "2024-03-31T23:59:59.999999+02:00"],
    ]
    cases = {
        "format": "JSONL",
        "timeZone": "Europe/Paris",
        "exportType": "CUSTOM",
        "columns": ["case_created_at"],
        "dateRange": {"start": "2024-10-27", "end": "2024-10-27"},
    }
    files = exported_from_each(sources, ZONED_ORG, cases)
    assert files["tables"] == files["postgres"]
    assert [json.loads(line)["case_created_at"] for line in files["tables"].splitlines()] == [
        "2024-10-27T00:00:00+02:00",
        "2024-10-27T23:59:59.999999+01:00",
    ]
    xlsx = exported_from_each(sources, ZONED_ORG, {**tickets, "format": "XLSX"})
    assert xlsx["tables"] == xlsx["postgres"]
