"""The export service's face: one method per use case, each use case built on use from only the ports it needs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from exports.commands import Commands
from exports.events import Resolver, system_resolver
from exports.housekeeping import Housekeeping
from exports.intake import Intake
from exports.job_ids import new_job_id as new_job_id  # re-exported: the fault tests name jobs with it
from exports.limits import OrganizationLimits
from exports.messages import InvalidRequestMessage
from exports.models import (
    AuditTrail,
    CreateExportRequest,
    ExportJob,
    ExportRequestMessage,
    JobPage,
    JobStatus,
    JobView,
    NotificationMessage,
    Retention,
    WorkMessage,
)
from exports.outbox import Outbox
from exports.ports import (
    AuditLog,
    BlobSink,
    Clock,
    EventQueues,
    IdempotencyStore,
    JobStore,
    LimitStore,
    LinkSigner,
    RowSource,
    RunStore,
    SystemClock,
    TagStore,
    WebhookSender,
    WorkQueue,
)
from exports.queries import Queries
from exports.webhook_delivery import WebhookDeliveries
from exports.worker import Worker
from shared.auth import Principal
from shared.settings import Settings

log = logging.getLogger(__name__)

@dataclass
class ExportService:
    settings: Settings
    jobs: JobStore
    idempotency: IdempotencyStore
    work: WorkQueue
    source: RowSource
    sink: BlobSink
    signer: LinkSigner
    tags: TagStore
    runs: RunStore
    events: EventQueues
    audit: AuditLog
    limits: LimitStore
    webhooks: WebhookSender
    clock: Clock = field(default_factory=SystemClock)
    monotonic: Callable[[], float] = time.monotonic
    resolve: Resolver = system_resolver
    # The days the daily quota found full, per organization (exports/limits.py): kept for the service's life.
    _full_days: set[tuple[str, date]] = field(default_factory=set, repr=False)

    # ---- limits: exports/limits.py ------------------------------------------------------------------

    @property
    def _org_limits(self) -> OrganizationLimits:
        return OrganizationLimits(self.settings, self.limits, self.jobs, self.work, self.clock, self._full_days)

    def _take_daily_quota(self, organization_id: str, at: datetime) -> None:
        self._org_limits.take_daily_quota(organization_id, at)

    def _take_running_slot(self, job: ExportJob, message: WorkMessage) -> bool:
        return self._org_limits.take_running_slot(job, message)

    # ---- the outbox: exports/outbox.py ---------------------------------------------------------------

    @property
    def _outbox(self) -> Outbox:
        return Outbox(self.settings, self.jobs, self.events, self.audit, self.clock, self._org_limits)

    def republish_pending(self) -> int:
        return self._outbox.republish_pending()

    # ---- webhook deliveries: exports/webhook_delivery.py ----------------------------------------------

    @property
    def _deliveries(self) -> WebhookDeliveries:
        # Built on each use from the current ports: a test (or the bench) may swap a port on the service.
        return WebhookDeliveries(self.settings, self.jobs, self.events, self.webhooks, self.clock, self.resolve)

    def deliver_notification(self, message: NotificationMessage) -> None:
        self._deliveries.deliver(message)

    @property
    def _retention(self) -> Retention:
        return Retention(ticket_hours=self.settings.ticket_expiry_hours, case_hours=self.settings.case_expiry_hours)

    # ---- intake: exports/intake.py -------------------------------------------------------------

    @property
    def _intake(self) -> Intake:
        return Intake(
            settings=self.settings, jobs=self.jobs, idempotency=self.idempotency, work=self.work, tags=self.tags,
            events=self.events, clock=self.clock, resolve=self.resolve, outbox=self._outbox,
            # Looked up on the service, so a caller (a test) may replace the quota with its own.
            take_quota=self._take_daily_quota,
        )

    def create(
        self,
        principal: Principal,
        request: CreateExportRequest,
        *,
        idempotency_key: str | None = None,
        source: str = "http",
        client: str | None = None,
        reply_queue: str | None = None,
    ) -> tuple[ExportJob, bool]:
        """Records the job and queues its first step. Returns (job, created) — False for a repeat."""
        return self._intake.create(
            principal, request, idempotency_key=idempotency_key, source=source, client=client,
            reply_queue=reply_queue,
        )

    def take_request(self, message: ExportRequestMessage | InvalidRequestMessage) -> ExportJob | None:
        """A request from another system via the request queue: created exactly as over HTTP, or refused."""
        return self._intake.take_request(message)

    # ---- queries and commands: exports/queries.py, exports/commands.py --------------------------

    @property
    def _queries(self) -> Queries:
        return Queries(self.settings, self.jobs, self.signer, self.idempotency, self.audit, self.clock, self._outbox)

    @property
    def _commands(self) -> Commands:
        return Commands(self.jobs, self.clock, self._retention, self._outbox, self._queries, self._worker.writer)

    def get(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        return self._queries.get(principal, job_id, client=client)

    def list(
        self,
        principal: Principal,
        *,
        status: JobStatus | None,
        page_size: int | None,
        continuation_token: str | None,
        whole_organization: bool,
    ) -> JobPage:
        return self._queries.list(
            principal, status=status, page_size=page_size, continuation_token=continuation_token,
            whole_organization=whole_organization,
        )

    def download_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        return self._queries.download_link(principal, job_id, client=client)

    def manifest_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        return self._queries.manifest_link(principal, job_id, client=client)

    def audit_trail(self, principal: Principal, job_id: str) -> AuditTrail:
        return self._queries.audit_trail(principal, job_id)

    def cancel(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        return self._commands.cancel(principal, job_id, client=client)

    def delete(self, principal: Principal, job_id: str, *, client: str | None = None) -> None:
        self._commands.delete(principal, job_id, client=client)

    # ---- the worker and the timer: exports/worker.py, exports/housekeeping.py -------------------

    @property
    def _worker(self) -> Worker:
        # Built on each use from the current ports: a test (or the bench) may swap a port on the service.
        return Worker(
            settings=self.settings, jobs=self.jobs, work=self.work, source=self.source, sink=self.sink,
            runs=self.runs, clock=self.clock, monotonic=self.monotonic, outbox=self._outbox,
            org_limits=self._org_limits, retention=self._retention,
        )

    def run_step(self, message: WorkMessage, *, attempt: int = 1) -> None:
        """Processes one queue message: one bounded step of one job, safe to repeat."""
        self._worker.run_step(message, attempt=attempt)

    def redrive(self, job: ExportJob) -> None:
        self._worker.redrive(job)

    def _fail(self, job: ExportJob, message: str, details: dict[str, object] | None) -> None:
        self._worker.fail(job, message, details)

    def reject_work_message(self, body: bytes, reason: str, *, attempt: int) -> None:
        self._worker.reject_work_message(body, reason, attempt=attempt)

    def redrive_stalled(self) -> int:
        return Housekeeping(self.settings, self.jobs, self.clock, self._worker).redrive_stalled()

    def clean_up(self) -> int:
        return Housekeeping(self.settings, self.jobs, self.clock, self._worker).clean_up()

    # ---- scheduled exports: exports/schedules.py and exports/scheduling.py create jobs through it --------

    @property
    def intake(self) -> Intake:
        return self._intake

    # ---- helpers ---------------------------------------------------------------------------------
