"""The PostgreSQL source as users meet it: through the local host over HTTP, and when it goes wrong.

A view that breaks the source contract fails the job with a message naming the view and the column; an
unreachable server or a statement timeout is retried, and fails the job clearly on the last attempt; no
failed job leaves a file behind, and nothing is ever answered with a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from azure.data.tables import TableServiceClient
from psycopg import sql

from exports.composition import build_tag_service
from exports.models import JobStatus, TagCreate
from exports.ports import RowQuery, RowSource
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.postgres.connection import open_pool
from shared.postgres.row_source import PostgresRowSource
from tests.conftest import HOST_ENV, Api, LocalHost, download_csv, principal
from tests.support.azurite import Azurite, free_port
from tests.support.fakes import (
    FakeWorkQueue,
)
from tests.support.fixed_data import fixed_tags
from tests.support.postgres import PrivatePostgres
from tests.support.source_runs import SourceRun, run_on, source_settings
from tools.load_cases import load
from tools.load_postgres import apply_reference_schema
from tools.load_postgres import load as load_postgres

pytestmark = pytest.mark.integration

ORG = "pg-source"
ROWS = 1_500
ROLES = (ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS)
WHO = Principal(organization_id=ORG, user_id="u-pg", name="PostgreSQL User", roles=frozenset(ROLES))


@pytest.fixture(scope="module")
def database(postgres: PrivatePostgres) -> str:
    dsn = postgres.create_database("postgres_source")
    with psycopg.connect(dsn, autocommit=True) as connection:
        apply_reference_schema(connection)
        load_postgres(connection, ORG, ROWS)
    return dsn


# ---- through the local host --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_host(database: str) -> Iterator[LocalHost]:
    """A local host whose exports read PostgreSQL, with its own storage so no other host takes its work."""
    storage = Azurite(in_memory=True).start()
    env = {
        **HOST_ENV,
        "AzureWebJobsStorage": storage.connection_string,
        "EXPORTS_SOURCE": "postgres",
        "EXPORTS_POSTGRES_URL": database,
    }
    host = LocalHost(env, "--message-lease-seconds", "30")
    try:
        yield host
    finally:
        host.stop()
        storage.stop()


def api_for(host: LocalHost) -> Api:
    return Api(host.base_url, principal(ORG, "u-pg", *ROLES))


def test_the_same_organization_exports_the_same_csv_from_either_source_through_the_host(
    postgres_host: LocalHost, local_host: LocalHost, tables: TableServiceClient
) -> None:
    load(tables, "cases", ORG, ROWS)
    files = {}
    for name, host in {"postgres": postgres_host, "tables": local_host}.items():
        api = api_for(host)
        created = api.post("/exports", json={"format": "CSV", "exportType": "FLAT_FILE", "includeOverflow": True})
        assert created.status_code == 202, created.text
        job = api.wait_for(created.json()["jobId"], "completed")
        assert job["totalRows"] == ROWS
        files[name] = download_csv(api, job["jobId"])
    assert len(files["postgres"]) == ROWS
    assert files["postgres"] == files["tables"]  # row for row, value for value


# ---- the service over a real server, step by step --------------------------------------------------------------


@pytest.fixture
def source_on(database: str) -> Iterator[Any]:
    pools = []

    def make(schema: str = "public", **overrides: Any) -> SourceRun:
        settings = source_settings(database, postgres_schema=schema, **overrides)
        pool = open_pool(settings)
        pools.append(pool)
        return run_on(PostgresRowSource(pool, schema=schema, page_rows=500), settings)

    yield make
    for pool in pools:
        pool.close()


def broken_views(dsn: str, change: str) -> str:
    """A schema of its own holding the reference views, one of them changed as `change` says."""
    schema = f"broken_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for view in ("export_cases", "export_case_records", "export_tickets"):
            connection.execute(
                sql.SQL("CREATE VIEW {} AS SELECT * FROM public.{}").format(
                    sql.Identifier(schema, view), sql.Identifier(view)
                )
            )
        connection.execute(sql.SQL(change).format(schema=sql.Identifier(schema)))
    return schema


CONTRACT_BREAKS = {
    "a view is missing": ("DROP VIEW {schema}.export_cases", "no view", "export_cases", None),
    "a column is missing": (
        "DROP VIEW {schema}.export_case_records; CREATE VIEW {schema}.export_case_records AS "
        "SELECT organization_id, case_key, kind, position FROM public.export_case_records",
        "has no column",
        "export_case_records",
        "template_id",
    ),
    "a time without a zone": (
        "DROP VIEW {schema}.export_cases; CREATE VIEW {schema}.export_cases AS SELECT organization_id, case_key, "
        "case_id, case_number, status, priority, created_at::timestamp AS created_at, closed_at, sla_due_at, "
        "category_id, category_name, category_code, subcategory_name, source_channel, is_anonymous, "
        "reporter_relationship, assigned_to_name, assigned_to_email, business_unit_id, business_unit_name, "
        "business_unit_code, location_id, location_name, location_country, location_region, outcome, outcome_reason, "
        "has_remediation, remediation_status, subject_count, attachment_count, template_id, custom_fields "
        "FROM public.export_cases",
        "timestamp",
        "export_cases",
        "created_at",
    ),
    "a key of text": (
        "DROP VIEW {schema}.export_tickets; CREATE VIEW {schema}.export_tickets AS SELECT organization_id, "
        "ticket_key::text AS ticket_key, ticket_id, number, title, description, status, priority, team_id, team_name, "
        "assignee_id, assignee_name, requester_name, requester_email, created_at, updated_at, closed_at, tags, "
        "custom_fields FROM public.export_tickets",
        "text",
        "export_tickets",
        "ticket_key",
    ),
}


@pytest.mark.parametrize("name", sorted(CONTRACT_BREAKS))
def test_a_view_that_breaks_the_contract_fails_the_job_naming_the_view_and_column(
    database: str, source_on: Any, name: str
) -> None:
    change, wording, view, column = CONTRACT_BREAKS[name]
    schema = broken_views(database, change)
    run = source_on(schema)
    dataset = {"dataset": "tickets"} if view == "export_tickets" else {"exportType": "FLAT_FILE"}
    job_id = run.create(WHO, dataset)
    run.drain()
    status, message = run.status(WHO, job_id)
    assert status is JobStatus.FAILED
    assert message is not None and wording in message and f"{schema}.{view}" in message
    if column:
        assert column in message
    assert run.sink.blobs == {}
    assert not any(run.sink.staged.values())


def test_an_unreachable_server_is_retried_and_fails_the_job_clearly_on_the_last_attempt() -> None:
    closed = f"host=127.0.0.1 port={free_port()} user=postgres dbname=none"
    settings = source_settings(closed, postgres_connect_timeout_seconds=1, max_attempts=3)
    pool = open_pool(settings)
    try:
        run = run_on(PostgresRowSource(pool), settings)
        job_id = run.create(WHO, {})
        message = run.queue.messages[0]
        for attempt in (1, 2):
            with pytest.raises(Exception) as raised:  # the host re-delivers the message
                run.service.run_step(message, attempt=attempt)
            assert "ExportFailed" not in type(raised.value).__name__
            assert run.status(WHO, job_id)[0] in (JobStatus.QUEUED, JobStatus.RUNNING)
        run.queue.messages.clear()
        run.service.run_step(message, attempt=3)
        status, reason = run.status(WHO, job_id)
        assert status is JobStatus.FAILED
        assert reason is not None and "3 attempts" in reason and "Traceback" not in reason
        assert run.sink.blobs == {}
    finally:
        pool.close()


@dataclass
class SwitchableSource:
    """The source a test swaps between steps (a server that was slow, then is quick again)."""

    current: RowSource

    def read(self, query: RowQuery, after: str | None) -> Iterator[dict[str, Any]]:
        return self.current.read(query, after)

    def count(self, query: RowQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        return self.current.count(query, after, limit)


def test_a_statement_timeout_is_retried_and_the_retry_writes_the_same_file(database: str) -> None:
    # Every statement on these views waits 0.2 s once, longer than the impatient sessions allow.
    slow = broken_views(
        database,
        "CREATE OR REPLACE VIEW {schema}.export_cases AS SELECT c.* FROM public.export_cases c, "
        "(SELECT pg_sleep(0.2)) AS pause",
    )
    impatient_settings = source_settings(database, postgres_statement_timeout_seconds=0.05)
    patient_settings = source_settings(database)
    pools = [open_pool(impatient_settings), open_pool(patient_settings)]
    try:
        source = SwitchableSource(PostgresRowSource(pools[0], schema=slow, page_rows=500))
        run = run_on(source, patient_settings)
        job_id = run.create(WHO, {"exportType": "CASES_ONLY"})
        message = run.queue.pop()
        with pytest.raises(psycopg.errors.QueryCanceled):
            run.service.run_step(message, attempt=1)
        assert run.status(WHO, job_id)[0] in (JobStatus.QUEUED, JobStatus.RUNNING)
        source.current = PostgresRowSource(pools[1], schema=slow, page_rows=500)
        run.service.run_step(message, attempt=2)
        run.drain()
        assert run.status(WHO, job_id)[0] is JobStatus.COMPLETED
        undisturbed = run_on(PostgresRowSource(pools[1], page_rows=700), patient_settings)
        again = undisturbed.create(WHO, {"exportType": "CASES_ONLY"})
        undisturbed.drain()
        resumed = run.service.jobs.get(WHO.organization_id, job_id)
        first = undisturbed.service.jobs.get(WHO.organization_id, again)
        assert resumed is not None and first is not None
        assert run.service.get(WHO, job_id).total_rows == ROWS
        assert run.sink.blobs[resumed.blob_name] == undisturbed.sink.blobs[first.blob_name]
        assert resumed.file_sha256 == first.file_sha256
        assert again
    finally:
        for pool in pools:
            pool.close()


def test_the_tag_preview_reads_one_case_and_its_records_from_postgresql(database: str, source_on: Any) -> None:
    run = source_on()
    tags = build_tag_service(run.service)
    for tag in fixed_tags():
        tags.create(WHO, TagCreate.model_validate(tag))
    with psycopg.connect(database) as connection:
        found = connection.execute(
            "SELECT case_id FROM export_cases c WHERE organization_id = %s AND EXISTS (SELECT 1 FROM "
            "export_case_records r WHERE r.organization_id = c.organization_id AND r.case_key = c.case_key "
            "AND r.kind = 'INV') ORDER BY case_key LIMIT 1",
            [ORG],
        ).fetchone()
    assert found is not None
    values = {value.column_name: value for value in tags.preview(WHO, found[0])}
    assert values["hours_spent"].value is not None


def test_a_work_message_for_a_case_export_reads_only_its_own_organization(database: str, source_on: Any) -> None:
    with psycopg.connect(database, autocommit=True) as connection:
        load_postgres(connection, "pg-other", 50)
    run = source_on()
    job_id = run.create(WHO, {"exportType": "CASES_ONLY"})
    run.drain()
    view = run.service.get(WHO, job_id)
    assert view.status is JobStatus.COMPLETED and view.total_rows == ROWS
    assert isinstance(run.queue, FakeWorkQueue) and not run.queue.messages


def test_the_source_reads_in_read_only_sessions_with_a_statement_timeout_in_utc(database: str) -> None:
    """What a read replica needs: the service's sessions can write nothing, and give times in UTC."""
    pool = open_pool(source_settings(database, postgres_statement_timeout_seconds=7))
    try:
        with pool.connection() as connection:
            shown = {
                name: str(connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0])  # type: ignore[index]
                for name in ("default_transaction_read_only", "statement_timeout", "TimeZone", "plan_cache_mode")
            }
            assert shown == {
                "default_transaction_read_only": "on",
                "statement_timeout": "7s",
                "TimeZone": "UTC",
                "plan_cache_mode": "force_custom_plan",
            }
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                connection.execute("CREATE TABLE written_by_the_export_service (a integer)")
    finally:
        pool.close()


def test_a_read_stopped_early_gives_back_every_connection_and_a_whole_read_sees_every_row_once(
    database: str,
) -> None:
    # Pages of 100 rows: while one page is turned into rows the next is being fetched.
    pool = open_pool(source_settings(database, postgres_pool_max=2))
    try:
        source = PostgresRowSource(pool, page_rows=100)
        query = RowQuery("cases", ORG, (), ("CaseId",))
        keys = [row["key"] for row in source.read(query, None)]
        assert len(keys) == len(set(keys)) == ROWS and keys == sorted(keys)
        stopped = source.read(query, None)
        assert isinstance(stopped, Generator)
        assert next(stopped)["key"] == keys[0]
        stopped.close()  # a batch's end: the reader stops with a page fetched ahead
        # Both connections can be taken at once again: the page read ahead holds none.
        with pool.connection(timeout=10) as first, pool.connection(timeout=10) as second:
            assert first.execute("SELECT 1").fetchone() == second.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
