"""This project end to end: jobs created over HTTP through the local host, run by a separate worker process.

The HTTP host (`python -m devhost --only http`) lives for the whole benchmark. The queue worker
(`python -m devhost --only queue`) is started fresh for every measured export, so its VmHWM (peak
resident set) read just before it is stopped is that one export's peak, interpreter and imports
included.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import requests
from azure.data.tables import TableServiceClient

from bench.common import machine_cpu_seconds, process_cpu_seconds, vm_hwm_mb
from shared.auth import encode_principal
from tests.support.azurite import PROJECT_ROOT, free_port

ROLES = ["access_reports", "import_export_tickets", "manage_system_settings"]
# The ticket dataset's exports: the whole catalog as CSV, unsorted and sorted by title (an external merge sort).
TICKET_EXPORTS = ("tickets", "tickets/title")
_DURATION = re.compile(r"Executed 'Functions\.[^']+' \(\w+, Id=[^,]*, Duration=(\d+)ms\)")


def host_env(
    connection: str, extra: dict[str, str] | None = None, *, source: str = "tables", postgres_url: str | None = None
) -> dict[str, str]:
    """The hosts' environment; `source` "postgres" reads the cases from `postgres_url` (a libpq conninfo)."""
    env = {
        **os.environ,
        "AzureWebJobsStorage": connection,
        # Always set: an inherited EXPORTS_SOURCE (or local.settings.json's) must not change what a row measures.
        "EXPORTS_SOURCE": source,
        "EXPORTS_CLEANUP_SCHEDULE": "0 0 0 1 1 *",  # the timer stays out of the way
        "PYTHONUNBUFFERED": "1",
    }
    if source == "postgres":
        if not postgres_url:
            raise ValueError("the postgres source needs its conninfo")
        env["EXPORTS_POSTGRES_URL"] = postgres_url
    else:
        env.pop("EXPORTS_POSTGRES_URL", None)
    env.update(extra or {})
    return env


class DevHost:
    """One `python -m devhost` process; its output is kept (last lines only) for error reports."""

    def __init__(self, env: dict[str, str], *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api"
        self.lines: collections.deque[str] = collections.deque(maxlen=5000)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--app-dir", str(PROJECT_ROOT), "--port", str(self.port), *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        if not self._ready.wait(60):
            self.stop()
            raise RuntimeError("devhost did not start:\n" + "\n".join(self.lines))

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if "listening on" in line or "running without an HTTP server" in line:
                self._ready.set()

    def busy_seconds(self) -> tuple[float, int]:
        """The summed duration of the function invocations this host logged, and their number."""
        durations = [int(match.group(1)) / 1000 for line in self.lines if (match := _DURATION.search(line))]
        return sum(durations), len(durations)

    @property
    def peak_rss_mb(self) -> float:
        return vm_hwm_mb(self.process.pid)

    def stop(self) -> None:
        """Stops the host (SIGTERM: it finishes what it runs) and reads its output to the end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._pump_thread.join(timeout=30)


def headers_for(organization: str) -> dict[str, str]:
    return {"X-MS-CLIENT-PRINCIPAL": encode_principal(organization, "bench-user", "Bench", ROLES)}


def export_body(fmt: str) -> dict[str, Any]:
    """The POST body of the FLAT_FILE export `fmt`: "CSV", "JSONL", "JSON", "XLSX" or "CSV+inv"; or of a ticket
    export (`TICKET_EXPORTS`): "tickets" (every catalog column, CSV) or "tickets/title" (the same, sorted by title).

    "CSV" and the other plain formats: the 29 core case columns (RIU and investigation counts come from
    the records); "CSV+inv": the default FLAT_FILE, which adds 30 columns of up to 3 investigations.
    """
    if fmt in TICKET_EXPORTS:
        _, _, sort_field = fmt.partition("/")
        return {"dataset": "tickets", "format": "CSV", **({"sortField": sort_field} if sort_field else {})}
    base, _, extra = fmt.partition("+")
    return {"dataset": "cases", "exportType": "FLAT_FILE", "format": base, "includeInvestigations": extra == "inv"}


def run_export(
    http: DevHost,
    worker_env: dict[str, str],
    connection: str,
    organization: str,
    fmt: str,
    *,
    workers: int = 1,
    timeout: float = 3600,
    on_workers: Callable[[list[DevHost]], None] | None = None,
) -> dict[str, Any]:
    """One export from POST to `completed`, with fresh worker process(es); returns its figures.

    With `workers` > 1 the peak RSS is the largest of the workers' and busy time is summed over them.
    """
    pool = [DevHost(worker_env, "--only", "queue") for _ in range(workers)]
    try:
        if on_workers is not None:
            on_workers(pool)  # before the job exists (a profiler attaching, for instance)
        session = requests.Session()
        session.headers.update(headers_for(organization))
        machine_before = machine_cpu_seconds()
        posted = time.perf_counter()
        response = session.post(f"{http.base_url}/exports", json=export_body(fmt), timeout=30)
        if response.status_code != 202:
            raise RuntimeError(f"create {fmt} answered {response.status_code}: {response.text}")
        job_id = response.json()["jobId"]
        deadline = time.monotonic() + timeout
        while True:
            job = session.get(f"{http.base_url}/exports/{job_id}", timeout=30).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"export {job_id} still {job['status']} after {timeout}s")
            time.sleep(0.05)
        observed = time.perf_counter() - posted
        machine_after = machine_cpu_seconds()
        peak = max(host.peak_rss_mb for host in pool)
        worker_cpu = sum(process_cpu_seconds(host.process.pid) for host in pool)
    finally:
        for host in pool:
            host.stop()
    # Only once the workers have stopped: the invocation that completed the job logs its duration after the
    # job reads `completed`, and a stopping host finishes that invocation and its output is read to the end.
    busy_and_count = [host.busy_seconds() for host in pool]
    busy = sum(seconds for seconds, _ in busy_and_count)
    invocations = sum(count for _, count in busy_and_count)
    if job["status"] != "completed":
        raise RuntimeError(f"export {fmt} of {organization} ended {job['status']}: {job.get('errorMessage')}")
    created = datetime.fromisoformat(job["createdAt"])
    completed = datetime.fromisoformat(job["completedAt"])
    seconds = (completed - created).total_seconds()
    rows = int(job["totalRows"])
    return {
        "seconds": seconds,
        "observed_seconds": observed,
        "rows": rows,
        "rows_per_s": rows / seconds,
        "bytes": int(job["fileSizeBytes"] or 0),
        "worker_peak_rss_mb": peak,
        # CPU seconds of the worker processes (start-up included), and the share of the machine's cores that
        # were busy from POST to completed (every process: workers, HTTP host, Azurite, PostgreSQL, others).
        "worker_cpu_seconds": worker_cpu,
        "machine_busy": (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1e-9),
        # Time the worker spent inside its invocations: the rest is queue hand-offs between steps.
        "busy_seconds": busy,
        "busy_rows_per_s": rows / busy if busy else float("nan"),
        "invocations": invocations,
        # How the work spread over the workers: the busiest one's part of the summed busy time (1.0: one did all).
        "busiest_worker_share": max(seconds for seconds, _ in busy_and_count) / busy if busy else float("nan"),
        "batches": batches_of(connection, organization, job_id),
    }


def batches_of(connection: str, organization: str, job_id: str) -> int:
    """The job's number of export batches: the length of its checkpoint's `parts` list (of every shard's)."""
    table = TableServiceClient.from_connection_string(connection).get_table_client("exportjobs")
    checkpoint = orjson.loads(table.get_entity(organization, job_id)["CheckpointJson"])
    return len(checkpoint["parts"]) + sum(len(shard["parts"]) for shard in checkpoint.get("shards", []))
