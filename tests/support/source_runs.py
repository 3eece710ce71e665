"""The export service over a real row source, every other port in memory: exports driven step by step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exports.composition import build_service
from exports.models import CreateExportRequest, JobStatus
from exports.ports import FixedClock, RowSource
from exports.service import ExportService
from shared.auth import Principal
from shared.settings import Settings
from tests.support.fakes import (
    FakeBlobSink,
    FakeIdempotencyStore,
    FakeJobStore,
    FakeLinkSigner,
    FakeRunStore,
    FakeTagStore,
    FakeWorkQueue,
)
from tests.support.lifecycle_fakes import FakeAuditLog, FakeEventQueues, FakeLimitStore, FakeWebhookSender


def source_settings(dsn: str, **overrides: Any) -> Settings:
    """Small batches and shards, so a few thousand rows take several steps and shards."""
    values: dict[str, Any] = {"rows_per_batch": 1_000, "chunk_rows": 100, "block_size_bytes": 64 * 1024, **overrides}
    return Settings(storage_connection_string="UseDevelopmentStorage=true", postgres_url=dsn, **values)


@dataclass
class SourceRun:
    service: ExportService
    queue: FakeWorkQueue
    sink: FakeBlobSink
    settings: Settings

    def create(self, principal: Principal, body: dict[str, Any]) -> str:
        """A new export of `body` (a CSV unless it names a format)."""
        job, _ = self.service.create(principal, CreateExportRequest.model_validate({"format": "CSV", **body}))
        return job.job_id

    def drain(self, *, attempt: int = 1) -> None:
        ran = 0
        while self.queue.messages:
            self.service.run_step(self.queue.pop(), attempt=attempt)
            ran += 1
            assert ran < 10_000, "the export never ends"

    def status(self, principal: Principal, job_id: str) -> tuple[JobStatus, str | None]:
        view = self.service.get(principal, job_id)
        return view.status, view.error_message

    def export(self, principal: Principal, body: dict[str, Any]) -> bytes:
        """The completed file of one export, run to its end."""
        job_id = self.create(principal, body)
        self.drain()
        status, message = self.status(principal, job_id)
        assert status is JobStatus.COMPLETED, message
        job = self.service.jobs.get(principal.organization_id, job_id)
        assert job is not None
        return self.sink.blobs[job.blob_name]


def run_on(source: RowSource, settings: Settings) -> SourceRun:
    queue, sink = FakeWorkQueue(), FakeBlobSink()
    service = build_service(
        settings,
        jobs=FakeJobStore(),
        idempotency=FakeIdempotencyStore(),
        work=queue,
        source=source,
        sink=sink,
        signer=FakeLinkSigner(),
        tags=FakeTagStore(),
        runs=FakeRunStore(),
        events=FakeEventQueues(),
        audit=FakeAuditLog(),
        limits=FakeLimitStore(),
        webhooks=FakeWebhookSender(),
        clock=FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        monotonic=lambda: 0.0,
    )
    return SourceRun(service, queue, sink, settings)
