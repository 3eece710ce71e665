"""The lifecycle under pressure: stalled jobs and the timer, cancellation mid-batch, clean-up racing downloads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.faults.harness import FAULT_ENV, LEDGER, Exports, FaultHost, Storage, start_front, start_worker
from tests.support.stepping import WorkMessages, drained

# Stalled after 1 s, failed after one re-drive, files expire 8.6 s after they complete.
STRICT = {
    **FAULT_ENV,
    "EXPORTS_STALLED_AFTER_SECONDS": "1",
    "EXPORTS_MAX_REDRIVES": "1",
    "EXPORTS_CASE_EXPIRY_HOURS": "0.0024",
    "EXPORTS_TICKET_EXPIRY_HOURS": "0.0024",
}


@pytest.fixture(scope="module")
def strict_env(host_env: dict[str, str]) -> dict[str, str]:
    return {**host_env, **STRICT}


@pytest.fixture(scope="module")
def strict_front(strict_env: dict[str, str], app_dir: Path) -> Iterator[FaultHost]:
    host = start_front(strict_env, app_dir)
    yield host
    host.stop()


def wait_until_running(exports: Exports, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while exports.view(job_id)["processedRows"] == 0:
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.05)


def strand(exports: Exports, storage: Storage, front: FaultHost, job_id: str) -> None:
    """Mid-export, its next work message is lost: the job sits in `running` with nothing to move it.

    The test is the worker here (the front host has no queue listener): it runs the first step (counting and
    the first batch) through the admin API, then drops the message that step queued."""
    work = WorkMessages(storage.queue(), exports.org)
    with drained(front.base_url) as host:
        (first,) = work.take()
        host.run(first)
    lost = work.take()
    assert [message["jobId"] for message in lost] == [job_id]
    view = exports.view(job_id)
    assert view["status"] == "running" and 0 < view["processedRows"] < view["totalRows"], view
    LEDGER.fault("work message lost mid-export")


def wait_for_its_steps(storage: Storage, job_id: str) -> None:
    """Until no work message is left, running or waiting (the count includes invisible ones): every step
    the job had in flight or queued has run to its end."""
    deadline = time.monotonic() + 60
    while storage.queue().get_queue_properties().approximate_message_count:
        assert time.monotonic() < deadline, f"steps of {job_id} still on the queue"
        time.sleep(0.1)


def run_timer(front: FaultHost, storage: Storage, org: str, job_id: str, redrives: int) -> None:
    time.sleep(1.2)  # longer than EXPORTS_STALLED_AFTER_SECONDS
    front.admin("clean_up_exports")
    deadline = time.monotonic() + 30
    while True:
        job = storage.job(org, job_id)
        if job.checkpoint.redrives >= redrives or job.status.is_final:
            return
        assert time.monotonic() < deadline, f"the timer did not re-drive {job_id}"
        time.sleep(0.2)


def test_the_timer_redrives_a_job_stuck_in_running_from_its_checkpoint(
    strict_front: FaultHost, storage: Storage, loaded_org: str, strict_env: dict[str, str], app_dir: Path
) -> None:
    exports = Exports(strict_front, storage, loaded_org)
    job_id = exports.create("CSV")
    strand(exports, storage, strict_front, job_id)
    run_timer(strict_front, storage, loaded_org, job_id, redrives=1)
    assert storage.job(loaded_org, job_id).status.value == "running"
    worker = start_worker(strict_env, app_dir)
    try:
        exports.settle([job_id])
    finally:
        worker.stop()
    assert exports.judge(job_id) == "completed"


def test_the_timer_fails_a_job_that_stays_stuck_after_its_redrives(
    strict_front: FaultHost, storage: Storage, loaded_org: str, strict_env: dict[str, str], app_dir: Path
) -> None:
    exports = Exports(strict_front, storage, loaded_org)
    job_id = exports.create("CSV")
    strand(exports, storage, strict_front, job_id)
    run_timer(strict_front, storage, loaded_org, job_id, redrives=1)
    storage.drain()  # the re-drive's message is lost too
    LEDGER.fault("work message lost")
    time.sleep(1.2)
    strict_front.admin("clean_up_exports")
    view = exports.settle([job_id], timeout=30)[job_id]
    assert view["status"] == "failed"
    assert view["errorMessage"] == (
        "The export stopped making progress and was retried 1 times; please request it again."
    )
    assert exports.judge(job_id, may_fail=True) == "failed"


def test_cancellation_wins_over_a_running_batch(
    strict_front: FaultHost, storage: Storage, loaded_org: str, strict_env: dict[str, str], app_dir: Path,
    fault_runs: int,
) -> None:
    exports = Exports(strict_front, storage, loaded_org)
    chance = random.Random(7)
    worker = start_worker(strict_env, app_dir)
    try:
        for _ in range(max(2, fault_runs // 4)):
            job_id = exports.create("CSV")
            wait_until_running(exports, job_id)
            time.sleep(chance.uniform(0, 1.5))  # counting, exporting, or committing
            cancelled = exports.api.post(f"/exports/{job_id}/cancel")
            LEDGER.fault("cancel during a running export")
            if cancelled.status_code == 409:  # it had already completed
                exports.settle([job_id])
                assert exports.judge(job_id) == "completed"
                continue
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            wait_for_its_steps(storage, job_id)  # the steps still queued or running see the cancel
            assert exports.view(job_id)["status"] == "cancelled"
            assert not storage.blob_exists(storage.job(loaded_org, job_id).blob_name), "a cancelled export has a file"
    finally:
        worker.stop()


def test_cleanup_racing_downloads_never_leaves_a_working_link_to_a_deleted_file(
    strict_front: FaultHost, storage: Storage, loaded_org: str, strict_env: dict[str, str], app_dir: Path
) -> None:
    exports = Exports(strict_front, storage, loaded_org)
    worker = start_worker(strict_env, app_dir)
    try:
        job_id = exports.create("CSV")
        done = exports.settle([job_id])[job_id]
    finally:
        worker.stop()
    content = requests.get(done["downloadUrl"], timeout=30).content
    stop = threading.Event()

    def clean_up_repeatedly() -> None:
        while not stop.wait(0.3):
            strict_front.admin("clean_up_exports")

    links: list[str] = []
    timer = threading.Thread(target=clean_up_repeatedly, daemon=True)
    timer.start()
    try:
        deadline = time.monotonic() + 30
        while not storage.job(loaded_org, job_id).is_cleaned_up:
            assert time.monotonic() < deadline, "clean-up never removed the expired file"
            view = exports.view(job_id)
            download = exports.api.get(f"/exports/{job_id}/download")
            for link in (view["downloadUrl"], download.headers.get("Location")):
                if link:
                    links.append(link)
                    fetched = requests.get(link, timeout=30)
                    # Either the whole file, or refused: never a 200 for something else.
                    assert fetched.status_code in (200, 403, 404), fetched.status_code
                    if fetched.status_code == 200:
                        assert fetched.content == content
            time.sleep(0.1)
    finally:
        stop.set()
        timer.join()
    LEDGER.fault("clean-up racing downloads")
    assert links, "no link was handed out before the clean-up"
    assert not storage.blob_exists(storage.job(loaded_org, job_id).blob_name)
    assert exports.view(job_id)["downloadUrl"] is None
    assert exports.api.get(f"/exports/{job_id}/download").status_code == 410
    for link in links:  # every link ever handed out has expired with the file
        assert requests.get(link, timeout=30).status_code == 403
