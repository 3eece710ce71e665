"""Storage restarts mid-export (Azurite with on-disk data): completed and exact, or failed clearly."""

from __future__ import annotations

from pathlib import Path

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
from tools.load_cases import load


def test_an_export_running_while_storage_restarts_completes_exactly_or_fails_clearly(
    app_dir: Path, fault_runs: int
) -> None:
    azurite = Azurite().start()  # its own: the restart must not disturb the other tests
    storage = Storage(azurite.connection_string)
    env = {"AzureWebJobsStorage": azurite.connection_string, **FAULT_ENV}
    org = new_org()
    load(storage.tables, "cases", org, ROWS)
    front = start_front(env, app_dir)
    worker = start_worker(env, app_dir)
    try:
        exports = Exports(front, storage, org)
        outcomes = exports.through_fault(
            azurite.restart, "storage restarted mid-export", max(1, fault_runs // 10), rescue=front
        )
    finally:
        worker.stop()
        front.stop()
        azurite.stop()
    assert outcomes
