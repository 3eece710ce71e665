"""Measures (does not assert) how long a 404 takes for a missing job id, another organization's job id and
another user's job id, through the local host on a private Azurite. Times are never asserted in tests; this
prints them so a person can see the three answers fall in the same time class.

    .venv/bin/python -m tests.security.measure_not_found_timing [--rounds 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

from tests.conftest import HOST_ENV, Api, LocalHost, principal
from tests.support.azurite import Azurite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="requests per kind (interleaved at random)")
    args = parser.parse_args()
    azurite = Azurite().start()
    host = None
    try:
        host = LocalHost({"AzureWebJobsStorage": azurite.connection_string, **HOST_ENV})
        org_a, org_b = f"org-a-{uuid.uuid4().hex[:8]}", f"org-b-{uuid.uuid4().hex[:8]}"
        owner = Api(host.base_url, principal(org_a, "owner", "access_reports"))
        colleague = Api(host.base_url, principal(org_a, "colleague", "access_reports"))
        stranger = Api(host.base_url, principal(org_b, "owner", "access_reports", "manage_system_settings"))
        job_id = owner.post("/exports", json={"format": "CSV"}).json()["jobId"]
        owner.wait_for(job_id, "completed", "failed")
        missing = job_id[:14] + uuid.uuid4().hex
        kinds = {
            "missing id, own organization": (owner, missing),
            "another organization's job": (stranger, job_id),
            "another user's job, same org": (colleague, job_id),
        }
        for caller, target in kinds.values():  # warm up connections and caches
            for _ in range(20):
                caller.get(f"/exports/{target}")
        samples: dict[str, list[float]] = {kind: [] for kind in kinds}
        order = [kind for kind in kinds for _ in range(args.rounds)]
        random.shuffle(order)
        for kind in order:
            caller, target = kinds[kind]
            started = time.perf_counter()
            response = caller.get(f"/exports/{target}")
            samples[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 404, response.text
        print(f"GET /exports/{{jobId}} answering 404, {args.rounds} requests each, milliseconds:")
        print(f"{'':32} {'median':>8} {'p10':>8} {'p90':>8} {'mean':>8}")
        for kind, values in samples.items():
            deciles = statistics.quantiles(values, n=10)
            print(
                f"{kind:32} {statistics.median(values):8.2f} {deciles[0]:8.2f} {deciles[-1]:8.2f} "
                f"{statistics.fmean(values):8.2f}"
            )
    finally:
        if host is not None:
            host.stop()
        azurite.stop()


if __name__ == "__main__":
    main()
