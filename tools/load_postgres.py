"""Loads synthetic source data for one organization into the PostgreSQL reference schema (sql/).

`python -m tools.load_postgres --dsn CONNINFO --org ORG --rows N [--dataset cases|tickets] [--seed S] [--if-empty]`
The data are those tools.load_cases puts in Table storage (same seed, same values): cases come with their
investigations, RIUs, disclosures and interview responses. The reference schema and the export views are
applied first (both are idempotent).

The insert functions take entities in the Table storage layout the generators produce and store every value
exactly or not at all: a value the schema cannot hold as given (a property of the wrong type, a naive
datetime, a uuid not in canonical form, a property no column holds, two names for one category) raises, and
the whole call is rolled back. Loading is insert-only: keys the organization already has are refused.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from tools.synthetic_cases import synthetic_case_records, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_FILES = ("reference_schema.sql", "export_views.sql")
BATCH_ROWS = 20_000  # rows held in memory per table between COPYs

Kind = Literal["text", "uuid", "integer", "bigint", "boolean", "timestamptz", "double", "json"]
Connection = psycopg.Connection[Any]

CASE_KEY = re.compile(r"\d{10}")
RECORD_KEY = re.compile(r"(\d{10})\|(INV|RIU|DIS|IRS)\|(\d{4})")
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INT4 = (-(2**31), 2**31 - 1)
INT8 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Prop:
    name: str  # the Table storage property
    column: str
    kind: Kind


def _props(*specs: tuple[str, str, Kind]) -> tuple[Prop, ...]:
    return tuple(Prop(*spec) for spec in specs)


CASE_PROPS = _props(
    ("CaseNumber", "case_number", "text"),
    ("Status", "status", "text"),
    ("Priority", "priority", "text"),
    ("CreatedAt", "created_at", "timestamptz"),
    ("ClosedAt", "closed_at", "timestamptz"),
    ("SlaDueAt", "sla_due_at", "timestamptz"),
    ("CategoryId", "category_id", "text"),
    ("SubcategoryName", "subcategory_name", "text"),
    ("SourceChannel", "source_channel", "text"),
    ("IsAnonymous", "is_anonymous", "boolean"),
    ("ReporterRelationship", "reporter_relationship", "text"),
    ("AssignedToName", "assigned_to_name", "text"),
    ("AssignedToEmail", "assigned_to_email", "text"),
    ("BusinessUnitId", "business_unit_id", "text"),
    ("LocationId", "location_id", "text"),
    ("Outcome", "outcome", "text"),
    ("OutcomeReason", "outcome_reason", "text"),
    ("HasRemediation", "has_remediation", "boolean"),
    ("RemediationStatus", "remediation_status", "text"),
    ("SubjectCount", "subject_count", "integer"),
    ("AttachmentCount", "attachment_count", "integer"),
    ("TemplateId", "template_id", "text"),
    ("CustomFieldsJson", "custom_fields", "json"),
)


@dataclass(frozen=True)
class Reference:
    """A reference table whose rows are named by cases: the id property and the rest of the row."""

    table: str
    id_prop: str
    props: tuple[Prop, ...]


REFERENCES = (
    Reference("categories", "CategoryId", _props(("CategoryName", "name", "text"), ("CategoryCode", "code", "text"))),
    Reference(
        "business_units",
        "BusinessUnitId",
        _props(("BusinessUnitName", "name", "text"), ("BusinessUnitCode", "code", "text")),
    ),
    Reference(
        "locations",
        "LocationId",
        _props(
            ("LocationName", "name", "text"),
            ("LocationCountry", "country", "text"),
            ("LocationRegion", "region", "text"),
        ),
    ),
)


@dataclass(frozen=True)
class RecordTable:
    table: str
    id_prop: str  # the record's own id, the table's id
    props: tuple[Prop, ...]


_TEMPLATE: tuple[str, str, Kind] = ("TemplateId", "template_id", "text")
_CUSTOM_FIELDS: tuple[str, str, Kind] = ("CustomFieldsJson", "custom_fields", "json")
# In dependency order: an interview response names its investigation.
RECORD_TABLES: dict[str, RecordTable] = {
    "INV": RecordTable(
        "investigations",
        "InvestigationId",
        _props(
            ("Type", "type", "text"),
            ("Status", "status", "text"),
            ("Outcome", "outcome", "text"),
            ("InvestigatorName", "investigator_name", "text"),
            ("StartedAt", "started_at", "timestamptz"),
            ("CompletedAt", "completed_at", "timestamptz"),
            ("InterviewCount", "interview_count", "integer"),
            ("FindingSummary", "finding_summary", "text"),
            _TEMPLATE,
            _CUSTOM_FIELDS,
        ),
    ),
    "RIU": RecordTable(
        "rius",
        "RiuId",
        _props(("Type", "type", "text"), ("ReceivedAt", "received_at", "timestamptz"), _TEMPLATE, _CUSTOM_FIELDS),
    ),
    "DIS": RecordTable(
        "disclosures",
        "DisclosureId",
        _props(
            ("Type", "type", "text"),
            ("Status", "status", "text"),
            ("SubmittedAt", "submitted_at", "timestamptz"),
            ("DiscloserName", "discloser_name", "text"),
            ("Amount", "amount", "double"),
            _TEMPLATE,
            _CUSTOM_FIELDS,
        ),
    ),
    "IRS": RecordTable(
        "interview_responses",
        "ResponseId",
        _props(
            ("InvestigationId", "investigation_id", "text"),
            ("RespondentName", "respondent_name", "text"),
            ("SubmittedAt", "submitted_at", "timestamptz"),
            _TEMPLATE,
            ("ResponsesJson", "responses", "json"),
        ),
    ),
}

TICKET_PROPS = _props(
    ("Title", "title", "text"),
    ("Description", "description", "text"),
    ("Status", "status", "text"),
    ("Priority", "priority", "text"),
    ("TeamId", "team_id", "uuid"),
    ("TeamName", "team_name", "text"),
    ("AssigneeId", "assignee_id", "uuid"),
    ("AssigneeName", "assignee_name", "text"),
    ("RequesterName", "requester_name", "text"),
    ("RequesterEmail", "requester_email", "text"),
    ("CreatedAt", "created_at", "timestamptz"),
    ("UpdatedAt", "updated_at", "timestamptz"),
    ("ClosedAt", "closed_at", "timestamptz"),
    ("Tags", "tags", "text"),
    ("CustomFieldsJson", "custom_fields", "json"),
)

_CASE_KNOWN = (
    {"PartitionKey", "RowKey", "CaseId"}
    | {prop.name for prop in CASE_PROPS}
    | {prop.name for ref in REFERENCES for prop in ref.props}
)
_TICKET_KNOWN = {"PartitionKey", "RowKey", "TicketId", "Number"} | {prop.name for prop in TICKET_PROPS}


class LoadError(ValueError):
    """An entity the reference schema cannot hold exactly as given."""


def apply_reference_schema(conn: Connection) -> None:
    """Creates the reference tables and the export views; applying them again changes nothing."""
    with conn.transaction():
        for name in SCHEMA_FILES:
            conn.execute((SQL_DIR / name).read_bytes())


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# What each kind of column holds exactly as given.
_FITS: dict[Kind, Callable[[Any], bool]] = {
    "text": lambda value: isinstance(value, str),
    # A JSON container goes in as its text: PostgreSQL parses it, and refuses text that is not JSON.
    "json": lambda value: isinstance(value, str),
    # The views give ids back as uuid::text, the canonical spelling: any other spelling would change.
    "uuid": lambda value: isinstance(value, str) and CANONICAL_UUID.fullmatch(value) is not None,
    "integer": lambda value: _is_int(value, *INT4),
    "bigint": lambda value: _is_int(value, *INT8),
    "boolean": lambda value: isinstance(value, bool),
    # A naive datetime names no instant; an aware one is stored as its instant.
    "timestamptz": lambda value: isinstance(value, datetime) and value.utcoffset() is not None,
    # An integer would come back as a float, a different value.
    "double": lambda value: isinstance(value, float),
}


def _value(entity: dict[str, Any], name: str, kind: Kind) -> Any:
    """The property as the column takes it, or None when missing; raises when it cannot be kept exactly."""
    value = entity.get(name)
    if value is None or _FITS[kind](value):
        return value
    # The type, never the value: source values may be personal data.
    found = "text not in canonical form" if kind == "uuid" and isinstance(value, str) else type(value).__name__
    raise LoadError(
        f"{entity.get('PartitionKey')}/{entity.get('RowKey')}: {name} is {found}, which a {kind} column cannot hold"
        " exactly"
    )


def _required(entity: dict[str, Any], name: str, kind: Kind) -> Any:
    value = _value(entity, name, kind)
    if value is None:
        raise LoadError(f"{entity.get('PartitionKey')}/{entity.get('RowKey')}: {name} is missing")
    return value


def _check_known(entity: dict[str, Any], known: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(entity) - known)
    if unknown:
        raise LoadError(f"{entity.get('PartitionKey')}/{entity.get('RowKey')}: no column holds {', '.join(unknown)}")


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _key(entity: dict[str, Any]) -> int:
    row_key = entity.get("RowKey")
    if not isinstance(row_key, str) or not CASE_KEY.fullmatch(row_key):
        raise LoadError(f"{entity.get('PartitionKey')}/{row_key}: RowKey is not a 10-digit key")
    return int(row_key)


def _organization(entity: dict[str, Any]) -> str:
    organization = entity.get("PartitionKey")
    if not isinstance(organization, str) or not organization:
        raise LoadError(f"{organization!r}/{entity.get('RowKey')}: PartitionKey is not an organization id")
    return organization


class _References:
    """Reference rows named by cases, one per (organization, id), refusing two versions of one row."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], tuple[Any, ...]] = {}

    def new_rows(self, organization: str, case: dict[str, Any]) -> Iterator[tuple[Reference, tuple[Any, ...]]]:
        for ref in REFERENCES:
            values = tuple(_value(case, prop.name, prop.kind) for prop in ref.props)
            ref_id = _value(case, ref.id_prop, "text")
            if ref_id is None:
                if any(value is not None for value in values):
                    raise LoadError(f"{organization}/{case.get('RowKey')}: {ref.table} values without {ref.id_prop}")
                continue
            known = self.seen.get((ref.table, organization, ref_id))
            if known is None:
                self.seen[(ref.table, organization, ref_id)] = values
                yield ref, (organization, ref_id, *values)
            elif known != values:
                raise LoadError(
                    f"{organization}/{case.get('RowKey')}: {ref.id_prop} {ref_id} has other values than an earlier case"
                )


def _insert_references(conn: Connection, rows: list[tuple[Reference, tuple[Any, ...]]]) -> None:
    """Inserts reference rows the database may already have; a stored row must equal the one given."""
    for ref in REFERENCES:
        mine = [row for table, row in rows if table is ref]
        if not mine:
            continue
        columns = ["organization_id", "id", *(prop.column for prop in ref.props)]
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (organization_id, id) DO NOTHING").format(
                    sql.Identifier(ref.table), names, sql.SQL(", ").join(sql.Placeholder() * len(columns))
                ),
                mine,
            )
            by_org: dict[str, list[str]] = {}
            for row in mine:
                by_org.setdefault(row[0], []).append(row[1])
            stored: set[tuple[Any, ...]] = set()
            select = sql.SQL(
                "SELECT organization_id, id::text, {} FROM {} WHERE organization_id = %s AND id = ANY(%s::text[])"
            )
            query = select.format(
                sql.SQL(", ").join(sql.Identifier(prop.column) for prop in ref.props), sql.Identifier(ref.table)
            )
            for organization, ids in by_org.items():
                cursor.execute(query, (organization, ids))
                stored.update(cursor.fetchall())
        differing = [row for row in mine if row not in stored]
        if differing:
            raise LoadError(f"{ref.table} already holds other values for {differing[0][0]}/{differing[0][1]}")


def _advance_sequence(conn: Connection, table: str, column: str, highest: int) -> None:
    """Moves an identity past explicitly given keys, so rows added later by default do not collide."""
    conn.execute(
        "SELECT setval(s, %s) FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS s) AS q "
        "WHERE %s > coalesce(pg_sequence_last_value(s), 0)",
        (highest, table, column, highest),
    )


def insert_cases(
    conn: Connection, cases: Iterable[dict[str, Any]], records: Iterable[dict[str, Any]]
) -> tuple[int, int]:
    """Inserts cases, their reference rows and their records in one transaction; returns (cases, records).

    A case's key is its RowKey; a record's RowKey `{caseKey}|{KIND}|{nnnn}` names its case (given here or
    already stored) and its position. Records may come in any order of cases, but an interview response
    must not come before its investigation.
    """
    case_ids: dict[tuple[str, int], str] = {}
    columns = ["organization_id", "id", "seq", *(prop.column for prop in CASE_PROPS)]
    references = _References()
    case_count = record_count = 0
    highest = -1
    with conn.transaction():
        for batch in _batches(cases, BATCH_ROWS):
            rows: list[tuple[Any, ...]] = []
            new_references: list[tuple[Reference, tuple[Any, ...]]] = []
            for case in batch:
                _check_known(case, _CASE_KNOWN)
                organization, key = _organization(case), _key(case)
                case_id = _required(case, "CaseId", "text")
                new_references.extend(references.new_rows(organization, case))
                rows.append((organization, case_id, key, *(_value(case, p.name, p.kind) for p in CASE_PROPS)))
                case_ids[(organization, key)] = case_id
                highest = max(highest, key)
            _insert_references(conn, new_references)
            case_count += _copy(conn, "cases", columns, rows)
        if highest >= 0:
            _advance_sequence(conn, "cases", "seq", highest)
        for batch in _batches(records, BATCH_ROWS):
            record_count += _insert_records(conn, batch, case_ids)
        _analyze(conn, ["categories", "business_units", "locations", "cases", *TABLES_OF_RECORDS])
    return case_count, record_count


TABLES_OF_RECORDS = [table.table for table in RECORD_TABLES.values()]


def _analyze(conn: Connection, tables: list[str]) -> None:
    """Gives the planner statistics at once: autovacuum gets to freshly loaded tables only later, and until
    then the planner guesses them small and may probe a whole organization's index for every case."""
    conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))


def _insert_records(conn: Connection, batch: list[dict[str, Any]], case_ids: dict[tuple[str, int], str]) -> int:
    parsed: list[tuple[dict[str, Any], str, int, str, int]] = []
    for record in batch:
        organization = _organization(record)
        row_key = record.get("RowKey")
        match = RECORD_KEY.fullmatch(row_key) if isinstance(row_key, str) else None
        if match is None:
            raise LoadError(f"{organization}/{row_key}: RowKey is not {{caseKey}}|{{KIND}}|{{nnnn}}")
        kind = match.group(2)
        if record.get("Kind") != kind:
            raise LoadError(f"{organization}/{row_key}: Kind {record.get('Kind')!r} differs from the RowKey's")
        parsed.append((record, organization, int(match.group(1)), kind, int(match.group(3))))
    _look_up_cases(conn, {(organization, key) for _, organization, key, _, _ in parsed} - case_ids.keys(), case_ids)
    count = 0
    for kind, spec in RECORD_TABLES.items():
        known = {"PartitionKey", "RowKey", "Kind", spec.id_prop} | {prop.name for prop in spec.props}
        rows = []
        for record, organization, key, record_kind, position in parsed:
            if record_kind != kind:
                continue
            _check_known(record, known)
            record_id = _required(record, spec.id_prop, "text")
            values = (_value(record, prop.name, prop.kind) for prop in spec.props)
            rows.append((organization, record_id, case_ids[(organization, key)], position, *values))
        if rows:
            columns = ["organization_id", "id", "case_id", "position", *(prop.column for prop in spec.props)]
            count += _copy(conn, spec.table, columns, rows)
    return count


def _look_up_cases(conn: Connection, wanted: set[tuple[str, int]], case_ids: dict[tuple[str, int], str]) -> None:
    """Adds stored cases' ids to `case_ids`; a record whose case is neither given nor stored raises."""
    by_org: dict[str, list[int]] = {}
    for organization, key in wanted:
        by_org.setdefault(organization, []).append(key)
    for organization, keys in by_org.items():
        found = conn.execute(
            "SELECT seq, id::text FROM cases WHERE organization_id = %s AND seq = ANY(%s)", (organization, keys)
        ).fetchall()
        case_ids.update(((organization, seq), case_id) for seq, case_id in found)
        missing = sorted(set(keys) - {seq for seq, _ in found})
        if missing:
            raise LoadError(f"{organization}/{missing[0]:010d}: records of a case that is neither given nor stored")


def insert_tickets(conn: Connection, tickets: Iterable[dict[str, Any]]) -> int:
    """Inserts tickets in one transaction; a ticket's key is its Number, which must equal its RowKey."""
    columns = ["organization_id", "id", "number", *(prop.column for prop in TICKET_PROPS)]
    count = 0
    with conn.transaction():
        for batch in _batches(tickets, BATCH_ROWS):
            rows = []
            for ticket in batch:
                _check_known(ticket, _TICKET_KNOWN)
                organization, key = _organization(ticket), _key(ticket)
                number = _required(ticket, "Number", "bigint")
                if number != key:
                    raise LoadError(f"{organization}/{ticket['RowKey']}: Number {number} differs from the RowKey")
                ticket_id = _required(ticket, "TicketId", "uuid")
                rows.append((organization, ticket_id, number, *(_value(ticket, p.name, p.kind) for p in TICKET_PROPS)))
            count += _copy(conn, "tickets", columns, rows)
        _analyze(conn, ["tickets"])
    return count


def is_empty(conn: Connection, dataset: str, organization_id: str) -> bool:
    table = "cases" if dataset == "cases" else "tickets"
    found = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE organization_id = %s)").format(sql.Identifier(table)),
        (organization_id,),
    ).fetchone()
    return found is not None and not found[0]


def load(conn: Connection, organization_id: str, rows: int, *, seed: int = 1, start: int = 1) -> int:
    """Loads `rows` synthetic cases with their records, as tools.load_cases.load does into Table storage."""
    cases = list(synthetic_cases(organization_id, rows, seed=seed, start=start))
    loaded, _ = insert_cases(conn, cases, (record for case in cases for record in synthetic_case_records(case)))
    return loaded


def load_tickets(conn: Connection, organization_id: str, rows: int, *, seed: int = 1, start: int = 1) -> int:
    return insert_tickets(conn, synthetic_tickets(organization_id, rows, seed=seed, start=start))


def load_dataset(
    conn: Connection, dataset: str, organization_id: str, rows: int, *, seed: int = 1, if_empty: bool = False
) -> int | None:
    """Applies the schema, then loads cases (with records) or tickets; None when `if_empty` found rows."""
    apply_reference_schema(conn)
    with conn.transaction():
        # Two loaders started together for one organization: the second waits here, then finds rows.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tools.load_postgres'), hashtext(%s))", (organization_id,))
        if if_empty and not is_empty(conn, dataset, organization_id):
            return None
        if dataset == "cases":
            return load(conn, organization_id, rows, seed=seed)
        return load_tickets(conn, organization_id, rows, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True, help="libpq connection string, e.g. 'host=127.0.0.1 dbname=exports'")
    parser.add_argument("--org", required=True, help="organization id")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--dataset", choices=["cases", "tickets"], default="cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--if-empty", action="store_true", help="load only if the organization has no rows")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with psycopg.connect(args.dsn) as conn:
        loaded = load_dataset(conn, args.dataset, args.org, args.rows, seed=args.seed, if_empty=args.if_empty)
    if loaded is None:
        print(f"organization {args.org} already has {args.dataset}; nothing loaded")
        return 0
    print(f"loaded {loaded} {args.dataset} for {args.org} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
