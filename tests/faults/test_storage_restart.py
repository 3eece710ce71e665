"""Storage restarts mid-export (Azurite with on-disk data): completed and exact, or failed clearly."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.harness import (
    FAULT_ENV,
    LEDGER,
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
    outcomes = []
    try:
        exports = Exports(front, storage, org)
        for _ in range(max(1, fault_runs // 10)):
            job_id = exports.create("CSV")
            deadline = time.monotonic() + 60
            while exports.view(job_id)["processedRows"] == 0:  # mid-export: some batches written, more to come
                assert time.monotonic() < deadline, "the export never started"
                time.sleep(0.05)
            azurite.restart()
            LEDGER.fault("storage restarted mid-export")
            exports.settle([job_id], timeout=240, rescue=front)
            outcomes.append(exports.judge(job_id, may_fail=True))
    finally:
        worker.stop()
        front.stop()
        azurite.stop()
    assert outcomes
