"""Workers die: SIGKILL at random points during exports; every export still comes out exact."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.faults.harness import FORMATS, LEDGER, Exports, FaultHost, Storage, start_worker


def test_every_export_survives_its_worker_being_killed_at_random_points(
    front: FaultHost, storage: Storage, loaded_org: str, host_env: dict[str, str], app_dir: Path, fault_runs: int
) -> None:
    exports = Exports(front, storage, loaded_org)
    chance = random.Random(fault_runs)
    jobs = [exports.create(FORMATS[i % len(FORMATS)]) for i in range(fault_runs)]
    worker = start_worker(host_env, app_dir)
    try:
        kills = 0
        while kills < fault_runs:
            time.sleep(chance.uniform(0.2, 2.0))
            if all(exports.view(job)["status"] in ("completed", "failed") for job in jobs):
                break
            worker.kill()  # mid-step: blocks staged or not, checkpoint saved or not, next message sent or not
            kills += 1
            worker = start_worker(host_env, app_dir)
        LEDGER.fault("worker SIGKILLed mid-export", kills)
        exports.settle(jobs, rescue=front)
    finally:
        worker.stop()
    assert kills >= 1
    for job_id in jobs:
        assert exports.judge(job_id) == "completed"
