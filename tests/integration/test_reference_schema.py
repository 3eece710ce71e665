"""The reference schema and its export views, on a real PostgreSQL: the views give back exactly what the
Table storage generators produce, have the contract's columns and types, and keyset reads stay on indexes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from shared.postgres.contract import (
    ACCEPTED_TYPES,
    CASE_RECORDS,
    CASES,
    CONTRACTS,
    ORGANIZATION_COLUMN,
    TICKETS,
    ViewContract,
)
from shared.postgres.row_source import PostgresRowSource
from tests.support.postgres import PrivatePostgres
from tools import load_postgres
from tools.load_postgres import LoadError, apply_reference_schema, insert_cases, insert_tickets
from tools.synthetic_cases import synthetic_case_records, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

pytestmark = pytest.mark.integration

ORG = "org-reference"
# Same seed, so the same category, business unit and location ids as ORG: each organization has its own rows.
OTHER_ORG = "org-neighbour"
ROWS = 200


def fresh_database(postgres: PrivatePostgres, purpose: str) -> str:
    return postgres.create_database(f"{purpose}_{uuid.uuid4().hex[:10]}")


@dataclass
class Loaded:
    conninfo: str
    cases: list[dict[str, Any]]
    records: list[dict[str, Any]]
    tickets: list[dict[str, Any]]


@pytest.fixture(scope="module")
def loaded(postgres: PrivatePostgres) -> Loaded:
    conninfo = fresh_database(postgres, "reference")
    cases = list(synthetic_cases(ORG, ROWS))
    records = [record for case in cases for record in synthetic_case_records(case)]
    tickets = list(synthetic_tickets(ORG, ROWS))
    other_cases = list(synthetic_cases(OTHER_ORG, 50))
    with psycopg.connect(conninfo) as conn:
        apply_reference_schema(conn)
        assert insert_cases(conn, cases, records) == (len(cases), len(records))
        assert insert_tickets(conn, tickets) == len(tickets)
        insert_cases(conn, other_cases, [record for case in other_cases for record in synthetic_case_records(case)])
        insert_tickets(conn, synthetic_tickets(OTHER_ORG, 50))
    return Loaded(conninfo, cases, records, tickets)


def read_view(conninfo: str, contract: ViewContract, organization_id: str) -> list[dict[str, Any]]:
    query = sql.SQL("SELECT * FROM {} WHERE {} = %s ORDER BY {}").format(
        sql.Identifier(contract.view),
        sql.Identifier(ORGANIZATION_COLUMN),
        sql.SQL(", ").join(map(sql.Identifier, contract.order)),
    )
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query, (organization_id,)).fetchall()


def canonical_json(value: Any) -> str:
    # Also tells 1 from 1.0 and True from 1, which == does not.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def assert_same(contract: ViewContract, row: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Every contract column of `row` is exactly `expected[field]` (missing: NULL), value and type."""
    for column in contract.columns:
        want = expected.get(column.field)
        got = row[column.column]
        label = f"{where} {column.column}"
        if column.kind == "json":
            assert (got is None) == (want is None), label
            if want is not None:
                assert canonical_json(got) == canonical_json(json.loads(want)), label
            continue
        assert type(got) is type(want), f"{label}: {type(got).__name__} for {type(want).__name__}"
        assert got == want, label
        if isinstance(got, datetime):
            assert got.utcoffset() is not None, label


def test_the_cases_view_gives_every_generated_value(loaded: Loaded) -> None:
    rows = read_view(loaded.conninfo, CASES, ORG)
    # Key order is RowKey order: the view reads in the order Table storage does.
    assert [row["case_key"] for row in rows] == [int(case["RowKey"]) for case in loaded.cases]
    for row, case in zip(rows, loaded.cases, strict=True):
        assert row[ORGANIZATION_COLUMN] == ORG
        assert_same(CASES, row, case, case["RowKey"])
    assert any(row["closed_at"] is None for row in rows) and any(row["custom_fields"] is None for row in rows)
    assert any(row["reporter_relationship"] == "" for row in rows), "an empty text stays empty, not NULL"


def test_the_case_records_view_gives_every_generated_value(loaded: Loaded) -> None:
    rows = read_view(loaded.conninfo, CASE_RECORDS, ORG)
    # A record's RowKey `{caseKey}|{KIND}|{nnnn}` sorts as (case key, kind, position) does.
    records = sorted(loaded.records, key=lambda record: record["RowKey"])
    keys = [(row["case_key"], row["kind"], row["position"]) for row in rows]
    assert keys == [
        (int(key), kind, int(position)) for key, kind, position in (r["RowKey"].split("|") for r in records)
    ]
    for row, record in zip(rows, records, strict=True):
        assert row[ORGANIZATION_COLUMN] == ORG
        assert_same(CASE_RECORDS, row, {**record, "Position": int(record["RowKey"][-4:])}, record["RowKey"])
    assert {row["kind"] for row in rows} == {"INV", "RIU", "DIS", "IRS"}


def test_the_tickets_view_gives_every_generated_value(loaded: Loaded) -> None:
    rows = read_view(loaded.conninfo, TICKETS, ORG)
    assert [row["ticket_key"] for row in rows] == [int(ticket["RowKey"]) for ticket in loaded.tickets]
    for row, ticket in zip(rows, loaded.tickets, strict=True):
        assert row[ORGANIZATION_COLUMN] == ORG
        assert_same(TICKETS, row, ticket, ticket["RowKey"])
    assert any(row["team_id"] is None for row in rows) and any(row["tags"] == "" for row in rows)


def test_organizations_keep_their_own_rows(loaded: Loaded) -> None:
    assert len(read_view(loaded.conninfo, CASES, OTHER_ORG)) == 50
    assert len(read_view(loaded.conninfo, TICKETS, OTHER_ORG)) == 50
    with psycopg.connect(loaded.conninfo) as conn:
        per_org = conn.execute("SELECT organization_id, count(*) FROM categories GROUP BY 1 ORDER BY 1").fetchall()
    assert per_org == [(OTHER_ORG, 5), (ORG, 5)], "one row per category and organization, however many cases"


def view_columns(conn: psycopg.Connection[Any], view: str) -> list[tuple[str, str]]:
    return [
        (name, type_name)
        for name, type_name in conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (view,),
        ).fetchall()
    ]


@pytest.mark.parametrize("contract", list(CONTRACTS.values()), ids=list(CONTRACTS))
def test_the_views_have_the_contract_s_columns_and_types(loaded: Loaded, contract: ViewContract) -> None:
    with psycopg.connect(loaded.conninfo) as conn:
        found = dict(view_columns(conn, contract.view))
    expected = {ORGANIZATION_COLUMN, contract.key, *(column.column for column in contract.columns)}
    assert set(found) == expected
    assert found[ORGANIZATION_COLUMN] in ACCEPTED_TYPES["text"]
    assert found[contract.key] == "int8"
    for column in contract.columns:
        assert found[column.column] in ACCEPTED_TYPES[column.kind], (column.column, found[column.column])


def test_the_schema_can_be_applied_again(postgres: PrivatePostgres) -> None:
    conninfo = fresh_database(postgres, "twice")
    cases = list(synthetic_cases(ORG, 5))
    with psycopg.connect(conninfo) as conn:
        apply_reference_schema(conn)
        apply_reference_schema(conn)
        insert_cases(conn, cases, [record for case in cases for record in synthetic_case_records(case)])
        before = {view: view_columns(conn, view) for view in ("export_cases", "export_case_records", "export_tickets")}
        apply_reference_schema(conn)
        after = {view: view_columns(conn, view) for view in before}
        count = conn.execute("SELECT count(*) FROM export_cases").fetchone()
        # Keys were given explicitly: a case added later by default still gets a key of its own.
        added = conn.execute(
            "INSERT INTO cases (organization_id, id) VALUES (%s, %s) RETURNING seq", (ORG, str(uuid.uuid4()))
        ).fetchone()
    assert after == before
    assert count == (5,)
    assert added is not None and added[0] > 5


def test_records_may_come_after_their_cases(postgres: PrivatePostgres) -> None:
    conninfo = fresh_database(postgres, "later")
    cases = list(synthetic_cases(ORG, 20))
    records = [record for case in cases for record in synthetic_case_records(case)]
    with psycopg.connect(conninfo) as conn:
        apply_reference_schema(conn)
        insert_cases(conn, cases, [])
        assert insert_cases(conn, [], records) == (0, len(records))
        with pytest.raises(LoadError, match="neither given nor stored"):
            insert_cases(conn, [], [{**records[0], "RowKey": "0000000021|INV|0001"}])
        with pytest.raises(LoadError, match="no column holds"):
            insert_cases(conn, [], [{**records[0], "RowKey": "0000000001|INV|0009", "Severity": "HIGH"}])
    assert len(read_view(conninfo, CASE_RECORDS, ORG)) == len(records)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


KEYSET_READS: dict[str, LiteralString] = {
    "cases": "SELECT * FROM export_cases WHERE organization_id = $1 AND case_key > $2 ORDER BY case_key LIMIT 1000",
    "case_records": "SELECT * FROM export_case_records WHERE organization_id = $1 AND case_key > $2"
    " ORDER BY case_key, kind, position LIMIT 1000",
    "tickets": "SELECT * FROM export_tickets WHERE organization_id = $1 AND ticket_key > $2"
    " ORDER BY ticket_key LIMIT 1000",
}


@pytest.fixture(scope="module")
def planned(postgres: PrivatePostgres) -> str:
    """Two organizations of 5,000 cases and tickets each, planned with the statistics the loader leaves (no
    ANALYZE here): every table is small enough that ANALYZE reads every row, so the plans are the same on
    every run."""
    conninfo = fresh_database(postgres, "plans")
    with psycopg.connect(conninfo) as conn:
        for organization in ("org-a", "org-b"):
            load_postgres.load_dataset(conn, "cases", organization, 5_000)
            load_postgres.load_dataset(conn, "tickets", organization, 5_000)
    return conninfo


@pytest.mark.parametrize(("entity_set", "generic"), [(name, False) for name in KEYSET_READS] + [("case_records", True)])
def test_keyset_reads_walk_indexes_instead_of_sorting_the_organization(
    planned: str, entity_set: str, generic: bool
) -> None:
    with psycopg.connect(planned) as conn:
        # A generic plan knows neither the organization nor the cursor: the records view must not need them.
        conn.execute(
            sql.SQL("SET plan_cache_mode = {}").format(
                sql.SQL("force_generic_plan" if generic else "force_custom_plan")
            )
        )
        conn.execute(sql.SQL("PREPARE keyset (text, bigint) AS {}").format(sql.SQL(KEYSET_READS[entity_set])))
        row = conn.execute("EXPLAIN (FORMAT JSON) EXECUTE keyset ('org-a', 500)").fetchone()
    assert row is not None
    nodes = list(plan_nodes(row[0][0]["Plan"]))
    kinds = [node["Node Type"] for node in nodes]
    assert kinds[0] == "Limit"
    assert not {"Seq Scan", "Hash Join", "Sort", "Merge Append", "Gather Merge"} & set(kinds), kinds
    driving = "tickets_organization_id_number_key" if entity_set == "tickets" else "cases_organization_id_seq_key"
    assert any(node.get("Index Name") == driving for node in nodes), kinds
    if entity_set == "case_records":
        sort = nodes[1]
        assert sort["Node Type"] == "Incremental Sort" and sort["Presorted Key"] == ["c.seq"], sort


def bad(change: dict[str, Any]) -> list[dict[str, Any]]:
    case = next(synthetic_cases(ORG, 1))
    return [{**case, **change}]


@pytest.mark.parametrize(
    "cases",
    [
        pytest.param(bad({"CreatedAt": datetime(2024, 1, 1)}), id="naive datetime"),
        pytest.param(bad({"SubjectCount": True}), id="boolean in an integer column"),
        pytest.param(bad({"SubjectCount": "3"}), id="text in an integer column"),
        pytest.param(bad({"Severity": "HIGH"}), id="a property no column holds"),
        pytest.param(bad({"CategoryId": None}), id="a category name without its id"),
        pytest.param(
            bad({}) + bad({"RowKey": "0000000002", "CaseId": str(uuid.uuid4()), "CategoryName": "Other"}),
            id="two names for one category",
        ),
    ],
)
def test_a_value_that_cannot_be_kept_exactly_is_refused_and_nothing_is_written(
    postgres: PrivatePostgres, cases: list[dict[str, Any]]
) -> None:
    conninfo = fresh_database(postgres, "refused")
    with psycopg.connect(conninfo) as conn:
        apply_reference_schema(conn)
        with pytest.raises(LoadError):
            insert_cases(conn, cases, [])
        assert conn.execute("SELECT count(*) FROM cases").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM categories").fetchone() == (0,)


def test_a_disclosure_amount_given_as_an_integer_is_refused(postgres: PrivatePostgres) -> None:
    conninfo = fresh_database(postgres, "amount")
    case = next(synthetic_cases(ORG, 1))
    record = {"PartitionKey": ORG, "RowKey": f"{case['RowKey']}|DIS|0001", "Kind": "DIS"}
    with psycopg.connect(conninfo) as conn:
        apply_reference_schema(conn)
        with pytest.raises(LoadError, match="Amount"):
            insert_cases(conn, [case], [{**record, "DisclosureId": str(uuid.uuid4()), "Amount": 12}])
        assert conn.execute("SELECT count(*) FROM cases").fetchone() == (0,)


def test_the_command_line_loads_once_with_if_empty(
    postgres: PrivatePostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    conninfo = fresh_database(postgres, "cli")
    arguments = ["--dsn", conninfo, "--org", "demo-org", "--rows", "20", "--if-empty"]
    assert load_postgres.main(arguments) == 0
    assert load_postgres.main(arguments) == 0
    assert load_postgres.main([*arguments, "--dataset", "tickets", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "loaded 20 cases for demo-org" in out and "already has cases; nothing loaded" in out
    assert "loaded 20 tickets for demo-org" in out
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM export_cases").fetchone() == (20,)
        titles = conn.execute("SELECT ticket_id FROM export_tickets ORDER BY ticket_key").fetchall()
    assert [ticket_id for (ticket_id,) in titles] == [t["TicketId"] for t in synthetic_tickets("demo-org", 20, seed=7)]


def test_a_continued_page_of_records_starts_its_index_scan_at_the_cursor(planned: str) -> None:
    """The adapter's own statement for a page after (case, kind, position): the scan of the cases' key index
    starts at the cursor's case, instead of walking the organization from its first case on every page."""
    where = PostgresRowSource._where(CASE_RECORDS, [], True, 3)
    statement = sql.SQL(
        "EXPLAIN (FORMAT JSON) SELECT case_key FROM export_case_records WHERE {} ORDER BY case_key, kind, position "
        "LIMIT 1000"
    ).format(where)
    with psycopg.connect(planned) as conn:
        row = conn.execute(statement, ["org-a", 2_500, 2_500, "INV", 1]).fetchone()
    assert row is not None
    driving = [
        node for node in plan_nodes(row[0][0]["Plan"]) if node.get("Index Name") == "cases_organization_id_seq_key"
    ]
    assert driving and "seq >=" in driving[0]["Index Cond"], driving
