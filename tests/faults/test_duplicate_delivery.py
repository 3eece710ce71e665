"""At-least-once delivery: every work message twice, one out of order, two workers racing on one job."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import FAULT_ENV, FORMATS, LEDGER, Exports, FaultHost, Storage, start_worker
from tests.support.azurite import Azurite, connection_string
from tests.support.faulty_proxy import Fault, FaultyProxy, Request


class DeliverTwice:
    """Every work message the app sends is put on the queue twice; one copy of `late` arrives seconds later."""

    def __init__(self, late: int | None) -> None:
        self.sent = itertools.count(1)
        self.late = late
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Fault | None:
        if request.method != "POST" or not request.path.endswith("/export-work/messages"):
            return None
        with self.lock:
            number = next(self.sent)
        return Fault("duplicate", copy_visible_after=4 if number == self.late else None)


@pytest.fixture
def twice_env(fault_azurite: Azurite, storage: Storage) -> Iterator[tuple[dict[str, str], FaultyProxy]]:
    """App settings whose work-queue sends go through a proxy that delivers each message twice."""
    proxy = FaultyProxy(fault_azurite.queue_port, DeliverTwice(late=3)).start()
    conn = connection_string(fault_azurite.blob_port, proxy.port, fault_azurite.table_port)
    env = {"AzureWebJobsStorage": storage.connection_string, "EXPORTS_STORAGE_CONNECTION_STRING": conn, **FAULT_ENV}
    yield env, proxy
    proxy.stop()


def run_exports(
    front: FaultHost, storage: Storage, org: str, workers: list[FaultHost], count: int, proxy: FaultyProxy
) -> list[str]:
    exports = Exports(front, storage, org)
    before = storage.blob_names()
    jobs = []
    for i in range(count):
        job_id = exports.create(FORMATS[i % len(FORMATS)])
        # The first step's message came from the HTTP host: deliver it twice as well, and the second
        # step's message before the first has run (out of order: it is ahead, and must be dropped).
        storage.send_step(org, job_id, 0)
        storage.send_step(org, job_id, 1)
        jobs.append(job_id)
    try:
        exports.settle(jobs, rescue=front)
    finally:
        for worker in workers:
            worker.stop()
    LEDGER.fault("work message delivered twice", proxy.injected["duplicate"] + count)
    LEDGER.fault("work message out of order", count + 1)
    assert proxy.injected["duplicate"] > count
    # Exactly one file and one manifest per export: duplicates staged into the same blob and committed the
    # same list, and wrote the same manifest once.
    written = storage.blob_names() - before
    assert len({name for name in written if not name.endswith(".manifest.json")}) == count
    assert len({name for name in written if name.endswith(".manifest.json")}) == count
    for job_id in jobs:
        assert exports.judge(job_id) == "completed"
    return jobs


def test_every_work_message_delivered_twice_and_out_of_order_leaves_the_same_files(
    front: FaultHost,
    storage: Storage,
    loaded_org: str,
    app_dir: Path,
    fault_runs: int,
    twice_env: tuple[dict[str, str], FaultyProxy],
) -> None:
    env, proxy = twice_env
    worker = start_worker(env, app_dir)
    run_exports(front, storage, loaded_org, [worker], max(1, fault_runs // 3), proxy)


def test_two_workers_racing_on_the_same_jobs_write_one_file_without_doubled_rows(
    front: FaultHost,
    storage: Storage,
    loaded_org: str,
    app_dir: Path,
    fault_runs: int,
    twice_env: tuple[dict[str, str], FaultyProxy],
) -> None:
    env, proxy = twice_env
    workers = [start_worker(env, app_dir), start_worker(env, app_dir)]
    run_exports(front, storage, loaded_org, workers, max(1, fault_runs // 3), proxy)
