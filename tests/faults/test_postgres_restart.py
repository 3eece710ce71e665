"""The PostgreSQL source restarts mid-export: the export completes with exactly the undisturbed file, or fails
clearly. The undisturbed file is read from Table storage holding the same data: both sources give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.faults.harness import (
    FAULT_ENV,
    ROWS,
    Exports,
    Storage,
    new_org,
    start_front,
    start_worker,
)
from tests.support.azurite import Azurite
from tests.support.postgres import PrivatePostgres
from tools.load_cases import load
from tools.load_postgres import apply_reference_schema
from tools.load_postgres import load as load_postgres


def test_an_export_reading_postgresql_while_it_restarts_completes_exactly_or_fails_clearly(
    app_dir: Path, fault_runs: int
) -> None:
    server = PrivatePostgres().start()  # its own: the restart must not disturb the other tests
    azurite = Azurite(in_memory=True).start()  # and its own hosts' storage, so no other worker takes the work
    storage = Storage(azurite.connection_string)
    org = new_org()
    load(storage.tables, "cases", org, ROWS)
    dsn = server.create_database("faults")
    with psycopg.connect(dsn, autocommit=True) as connection:
        apply_reference_schema(connection)
        load_postgres(connection, org, ROWS)
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        **FAULT_ENV,
        "EXPORTS_SOURCE": "postgres",
        "EXPORTS_POSTGRES_URL": dsn,
        "EXPORTS_POSTGRES_CONNECT_TIMEOUT_SECONDS": "2",
    }
    front = start_front(env, app_dir)
    worker = start_worker(env, app_dir)
    try:
        exports = Exports(front, storage, org)
        outcomes = exports.through_fault(
            server.restart, "PostgreSQL restarted mid-export", max(1, fault_runs // 3), rescue=front
        )
    finally:
        worker.stop()
        front.stop()
        azurite.stop()
        server.stop()
    assert outcomes
