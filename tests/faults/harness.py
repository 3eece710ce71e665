"""What the fault tests share: hosts they may kill, a reference run, file checks and the ledger."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from exports.composition import build_service
from exports.models import Checkpoint, ExportJob, JobStatus, WorkMessage
from exports.service import new_job_id
from shared.settings import WORK_QUEUE, Settings
from shared.storage.clients import StorageClients
from shared.storage.job_table import TableJobStore
from tests.conftest import ADMIN_HEADERS, Api, LocalHost, principal
from tests.support.azurite import PROJECT_ROOT
from tests.support.fakes import FakeWorkQueue

ROWS = 3_000  # with 1,000-row batches: a count step, then three export steps, the last one commits
SETTLE_TIMEOUT = 180.0

# Every fault host: small batches so an export spans many steps, stale messages re-drive quickly,
# and a killed worker's message comes back after its 5-second lease.
FAULT_ENV = {
    "EXPORTS_CLEANUP_SCHEDULE": "0 0 0 1 1 *",  # the tests run the timer through the admin API
    "EXPORTS_ROWS_PER_BATCH": "1000",
    "EXPORTS_CHUNK_ROWS": "100",
    "EXPORTS_REDRIVE_AFTER_SECONDS": "3",
    # Above any step's duration on a busy 2-core machine: the timer must not re-drive a step still running
    # (in Azure: keep it above functionTimeout; the default 900 s is).
    "EXPORTS_STALLED_AFTER_SECONDS": "30",
}
LEASE_ARGS = ("--message-lease-seconds", "5")


# ---- the ledger behind the closing table --------------------------------------------------------


@dataclass
class Ledger:
    faults: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    failed_clearly: int = 0
    rows_lost: int = 0
    rows_doubled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, kind: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.faults[kind] += count

    def outcome(self, *, completed: bool, lost: int = 0, doubled: int = 0) -> None:
        with self._lock:
            if completed:
                self.completed += 1
            else:
                self.failed_clearly += 1
            self.rows_lost += lost
            self.rows_doubled += doubled

    def table(self) -> list[str]:
        width = max([len(kind) for kind in self.faults] + [34])
        lines = [f"{'fault injected':<{width}}  count", f"{'-' * width}  -----"]
        lines += [f"{kind:<{width}}  {count:>5}" for kind, count in sorted(self.faults.items())]
        lines += [
            f"{'-' * width}  -----",
            f"{'faults injected (total)':<{width}}  {sum(self.faults.values()):>5}",
            f"{'exports completed':<{width}}  {self.completed:>5}",
            f"{'exports failed with a clear error':<{width}}  {self.failed_clearly:>5}",
            f"{'rows lost':<{width}}  {self.rows_lost:>5}",
            f"{'rows doubled':<{width}}  {self.rows_doubled:>5}",
        ]
        return lines


LEDGER = Ledger()


# ---- hosts ------------------------------------------------------------------------------------------


def fast_app_dir() -> Path:
    """function_app.py with host.json's queue settings, but a 1-second visibility timeout after a failure.

    Same max dequeue count (5) and everything else; only the wait between failed attempts is shorter,
    so a poison message takes seconds, not half a minute.
    """
    folder = Path(tempfile.mkdtemp(prefix="faults-app-"))
    for name in ("function_app.py", "exports", "shared"):
        (folder / name).symlink_to(PROJECT_ROOT / name)
    host = json.loads((PROJECT_ROOT / "host.json").read_text())
    host["extensions"]["queues"]["visibilityTimeout"] = "00:00:01"
    (folder / "host.json").write_text(json.dumps(host))
    return folder


def remove_app_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class FaultHost(LocalHost):
    """A local host the tests may SIGKILL; `--only queue` hosts have no HTTP server to wait for."""

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log_lines.append(line.rstrip())
            if line.startswith("devhost: "):
                self._ready.set()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease release, no clean-up — a crashed instance."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.save_log()

    def stop(self) -> None:
        super().stop()
        self.save_log()

    def save_log(self) -> None:
        """Each host's output, for a failure's post-mortem: $FAULT_HOST_LOGS (default /tmp/fault-hosts)."""
        folder = Path(os.environ.get("FAULT_HOST_LOGS", "/tmp/fault-hosts"))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"host-{self.process.pid}.log").write_text("\n".join(self.log_lines))

    def admin(self, function: str, body: dict[str, Any] | None = None) -> None:
        root = self.base_url.removesuffix("/api")
        response = requests.post(
            f"{root}/admin/functions/{function}", json=body or {"input": ""}, headers=ADMIN_HEADERS, timeout=30
        )
        assert response.status_code == 202, response.text


def start_worker(env: dict[str, str], app_dir: Path, *extra: str) -> FaultHost:
    return FaultHost(env, "--app-dir", str(app_dir), "--only", "queue", *LEASE_ARGS, *extra)


def start_front(env: dict[str, str], app_dir: Path) -> FaultHost:
    return FaultHost(env, "--app-dir", str(app_dir), "--only", "http,timer", *LEASE_ARGS)


# ---- storage ----------------------------------------------------------------------------------------


@dataclass
class Storage:
    """Direct clients on one Azurite (never through a fault proxy)."""

    connection_string: str

    @property
    def tables(self) -> TableServiceClient:
        return TableServiceClient.from_connection_string(self.connection_string)

    @property
    def blobs(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def queue(self, name: str = WORK_QUEUE) -> QueueClient:
        return QueueClient.from_connection_string(
            self.connection_string,
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )

    def raw_queue(self, name: str = WORK_QUEUE) -> QueueClient:
        """No encoding policy: the text goes on the queue exactly as given."""
        return QueueClient.from_connection_string(self.connection_string, name)

    def job(self, org: str, job_id: str) -> ExportJob:
        self.tables.create_table_if_not_exists("exportjobs")
        job = TableJobStore(self.tables.get_table_client("exportjobs")).get(org, job_id)
        assert job is not None, f"no job {job_id} in {org}"
        return job

    def blob_exists(self, blob_name: str) -> bool:
        return bool(self.blobs.get_blob_client("exports", blob_name).exists())

    def blob_names(self) -> set[str]:
        container = self.blobs.get_container_client("exports")
        return {blob.name for blob in container.list_blobs()} if container.exists() else set()

    def source_ids(self, org: str) -> list[str]:
        table = self.tables.get_table_client("cases")
        entities = table.query_entities("PartitionKey eq @org", parameters={"org": org}, select=["CaseId"])
        return [str(entity["CaseId"]) for entity in entities]

    def send_work(self, body: str) -> None:
        self.queue().send_message(body)

    def send_step(self, org: str, job_id: str, seq: int) -> None:
        self.send_work(WorkMessage(org_id=org, job_id=job_id, seq=seq).model_dump_json(by_alias=True))

    def drain(self, name: str = WORK_QUEUE) -> None:
        """Loses every message on the queue, as a storage incident would."""
        self.queue(name).clear_messages()


# ---- the reference: the same export, run undisturbed --------------------------------------------


def reference_bytes(storage: Storage, job: ExportJob) -> bytes:
    """Runs a copy of `job` (same request, columns and `created_at`) start to end in this process,
    one step after the other with nothing going wrong, through the real storage adapters, with the
    default batch sizes — so the comparison also shows the bytes do not depend on where batches fall.
    """
    settings = Settings(storage_connection_string=storage.connection_string)
    work = FakeWorkQueue()
    service = build_service(settings, clients=StorageClients(settings), work=work)
    now = datetime.now(UTC)
    copy = job.model_copy(
        deep=True,
        update={
            "job_id": new_job_id(now) + "-ref",
            "blob_name": f"reference-{uuid.uuid4().hex}-{job.blob_name}",
            "status": JobStatus.QUEUED,
            "stage": None,
            "progress": 0,
            "total_rows": None,
            "processed_rows": 0,
            "file_size_bytes": None,
            "expires_at": None,
            "error_message": None,
            "error_details": None,
            "started_at": None,
            "completed_at": None,
            "updated_at": now,
            "checkpoint": Checkpoint(),
            "etag": None,
        },
    )
    service.jobs.insert(copy)
    service.work.send(WorkMessage(org_id=copy.organization_id, job_id=copy.job_id, seq=0))
    while work.messages:
        service.run_step(work.pop())
    done = service.jobs.get(copy.organization_id, copy.job_id)
    assert done is not None and done.status is JobStatus.COMPLETED, done
    blob = storage.blobs.get_blob_client("exports", copy.blob_name)
    content = blob.download_blob().readall()
    blob.delete_blob()
    storage.tables.get_table_client("exportjobs").delete_entity(copy.organization_id, copy.job_id)
    return content


# ---- files ------------------------------------------------------------------------------------------


def file_ids(content: bytes, file_format: str) -> list[str]:
    if file_format == "CSV":
        assert content.startswith(b"\xef\xbb\xbf")
        return [row["case_id"] for row in csv.DictReader(io.StringIO(content[3:].decode("utf-8"), newline=""))]
    if file_format == "JSONL":
        return [orjson.loads(line)["case_id"] for line in content.splitlines() if line.strip()]
    if file_format == "JSON":
        return [item["case_id"] for item in orjson.loads(content)]
    raise AssertionError(f"no id reader for {file_format}")


def lost_and_doubled(expected: list[str], got: list[str]) -> tuple[int, int]:
    want, have = Counter(expected), Counter(got)
    lost = sum((want - have).values())
    doubled = sum((have - want).values()) + sum(count - 1 for count in have.values() if count > 1)
    return lost, doubled


# ---- exports ------------------------------------------------------------------------------------------

FORMATS = ("CSV", "JSONL", "JSON")


@dataclass
class Exports:
    """Creates exports through the HTTP host and judges how each one ended."""

    front: FaultHost
    storage: Storage
    org: str

    @property
    def api(self) -> Api:
        return Api(self.front.base_url, principal(self.org, "analyst-1", "access_reports"))

    def create(self, file_format: str = "CSV") -> str:
        response = self.api.post("/exports", json={"format": file_format, "exportType": "FLAT_FILE"})
        assert response.status_code == 202, response.text
        return str(response.json()["jobId"])

    def view(self, job_id: str) -> dict[str, Any]:
        response = self.api.get(f"/exports/{job_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def settle(
        self, job_ids: list[str], timeout: float = SETTLE_TIMEOUT, *, rescue: FaultHost | None = None
    ) -> dict[str, dict[str, Any]]:
        """Waits until every job has ended. With `rescue`, a job that stops moving gets the timer."""
        deadline = time.monotonic() + timeout
        ended: dict[str, dict[str, Any]] = {}
        last_move: dict[str, tuple[Any, float]] = {}
        while True:
            for job_id in job_ids:
                if job_id in ended:
                    continue
                view = self.view(job_id)
                if view["status"] in ("completed", "failed", "cancelled"):
                    ended[job_id] = view
                    continue
                marker = (view["status"], view["stage"], view["processedRows"])
                if last_move.get(job_id, (None, 0.0))[0] != marker:
                    last_move[job_id] = (marker, time.monotonic())
                elif rescue is not None and time.monotonic() - last_move[job_id][1] > 45:
                    LEDGER.fault("stalled job handed to the timer")
                    rescue.admin("clean_up_exports")
                    last_move[job_id] = (marker, time.monotonic())
            if len(ended) == len(job_ids):
                return ended
            if time.monotonic() > deadline:
                still = {j: self.view(j) for j in job_ids if j not in ended}
                raise AssertionError(f"exports still not ended after {timeout}s: {still}")
            time.sleep(0.3)

    def through_fault(self, fault: Callable[[], None], label: str, runs: int, *, rescue: FaultHost) -> list[str]:
        """Exports `runs` files, each with `fault` striking mid-export (some batches written, more to
        come); returns how each ended, after judging it."""
        outcomes = []
        for _ in range(runs):
            job_id = self.create("CSV")
            deadline = time.monotonic() + 60
            while self.view(job_id)["processedRows"] == 0:
                assert time.monotonic() < deadline, "the export never started"
                time.sleep(0.05)
            fault()
            LEDGER.fault(label)
            self.settle([job_id], timeout=240, rescue=rescue)
            outcomes.append(self.judge(job_id, may_fail=True))
        return outcomes

    def judge(self, job_id: str, *, may_fail: bool = False) -> str:
        """Checks one ended export and records it: the file is the undisturbed one, or it failed clearly."""
        view = self.view(job_id)
        job = self.storage.job(self.org, job_id)
        if view["status"] == "failed" and may_fail:
            message = view.get("errorMessage") or ""
            assert len(message) > 20 and "Traceback" not in message, f"unclear failure: {view}"
            assert not self.storage.blob_exists(job.blob_name), "a failed export left a file behind"
            LEDGER.outcome(completed=False)
            return "failed"
        assert view["status"] == "completed", view
        content = requests.get(view["downloadUrl"], timeout=60).content
        assert len(content) == view["fileSizeBytes"]
        lost, doubled = lost_and_doubled(self.storage.source_ids(self.org), file_ids(content, job.format.value))
        LEDGER.outcome(completed=True, lost=lost, doubled=doubled)
        assert (lost, doubled) == (0, 0), f"{job_id}: {lost} rows lost, {doubled} rows doubled"
        assert view["totalRows"] == view["processedRows"] == len(self.storage.source_ids(self.org))
        assert content == reference_bytes(self.storage, job), f"{job_id}: file differs from an undisturbed run"
        # Whatever the fault, the manifest's hash is the hash of the file as downloaded.
        sha256 = hashlib.sha256(content).hexdigest()
        assert view["manifest"]["file"]["sha256"] == sha256, f"{job_id}: the manifest's SHA-256 is not the file's"
        return "completed"


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"
