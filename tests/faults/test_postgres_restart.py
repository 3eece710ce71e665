"""The PostgreSQL source restarts mid-export: the export completes with exactly the undisturbed file, or fails
clearly. The undisturbed file is read from Table storage holding the same data: both sources give the same bytes.

The steps run in this process, through the app's own adapters on the hosts' storage, so the restart lands
exactly between two batches (the first batch written, more to come), with the pool holding
connections the restart cut; the HTTP host shows and serves the job as users see it.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from exports.composition import build_service
from exports.models import WorkMessage
from shared.settings import Settings
from shared.storage.clients import StorageClients
from tests.faults.harness import FAULT_ENV, LEDGER, ROWS, Exports, Storage, new_org, start_front
from tests.support.azurite import Azurite
from tests.support.postgres import PrivatePostgres
from tools.load_cases import load
from tools.load_postgres import apply_reference_schema
from tools.load_postgres import load as load_postgres


def test_an_export_reading_postgresql_while_it_restarts_completes_exactly_or_fails_clearly(app_dir: Path) -> None:
    server = PrivatePostgres().start()  # its own: the restart must not disturb the other tests
    azurite = Azurite(in_memory=True).start()  # and its own storage, so no other worker takes the work
    storage = Storage(azurite.connection_string)
    org = new_org()
    load(storage.tables, "cases", org, ROWS)
    dsn = server.create_database("faults")
    with psycopg.connect(dsn, autocommit=True) as connection:
        apply_reference_schema(connection)
        load_postgres(connection, org, ROWS)
    env = {"AzureWebJobsStorage": azurite.connection_string, **FAULT_ENV}
    front = start_front(env, app_dir)  # HTTP and timer only: no worker takes the steps
    settings = Settings(
        storage_connection_string=azurite.connection_string,
        source="postgres",
        postgres_url=dsn,
        postgres_connect_timeout_seconds=2,
        rows_per_batch=int(FAULT_ENV["EXPORTS_ROWS_PER_BATCH"]),
        chunk_rows=int(FAULT_ENV["EXPORTS_CHUNK_ROWS"]),
    )
    worker = build_service(settings, clients=StorageClients(settings))
    work = storage.queue()
    failed_attempts = 0

    def run_next_step() -> None:
        nonlocal failed_attempts
        deadline = time.monotonic() + 30
        while True:  # the next step's message, sent by the previous step
            received = next(iter(work.receive_messages(max_messages=1, visibility_timeout=120)), None)
            if received is not None:
                break
            assert time.monotonic() < deadline, "no next step was sent"
            time.sleep(0.1)
        message = WorkMessage.model_validate_json(received.content)
        for attempt in range(1, settings.max_attempts + 1):
            try:
                worker.run_step(message, attempt=attempt)
                break
            except Exception:  # the host would deliver the message again: so does the test
                failed_attempts += 1
        work.delete_message(received)

    try:
        exports = Exports(front, storage, org)
        job_id = exports.create("CSV")
        while exports.view(job_id)["processedRows"] == 0:  # counting, then the first batch
            run_next_step()
        assert 0 < exports.view(job_id)["processedRows"] < ROWS  # mid-export: more batches to come
        server.restart()
        LEDGER.fault("PostgreSQL restarted mid-export")
        while exports.view(job_id)["status"] not in ("completed", "failed"):
            run_next_step()
        assert exports.judge(job_id, may_fail=True) == "completed"
        assert failed_attempts <= 1  # at most the step that found its pooled connections cut
    finally:
        front.stop()
        azurite.stop()
        server.stop()
