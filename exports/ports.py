"""The small interfaces the core needs from storage. Azure adapters live in shared/storage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from exports.events import CallbackTarget, ExportEvent, RequestRejectedEvent
from exports.models import (
    AuditEntry,
    ExportJob,
    JobStatus,
    NotificationMessage,
    ReportFieldTag,
    TagAuditEntry,
    WorkMessage,
)
from exports.models.schedule import ExportSchedule, ScheduleStatus

PredicateOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in"]
EntitySet = Literal["cases", "case_records", "tickets"]

# Every row a source returns carries its unit's key under this name: a case's or a ticket's own key, and
# for a case record the key of its case. Keys are text whose order is the source's order.
KEY = "key"
# A case record also carries its own key under this name (`{caseKey}|{kind}|{position}`), which warnings name.
RECORD = "record"


@dataclass(frozen=True)
class Predicate:
    """One typed condition on a field of an entity set; predicates are AND-ed, `in` is an OR of equals.

    A row whose value is missing or of another type than the predicate's value never satisfies it
    (`ne` included): a text "7" is neither equal to nor greater than the number 3.
    """

    field: str
    op: PredicateOp
    value: Any

    @property
    def comparisons(self) -> int:
        return len(self.value) if self.op == "in" else 1


@dataclass(frozen=True)
class RowQuery:
    """Rows of one entity set of one organization, in key order, that satisfy every predicate.

    `fields` is the projection (None: every field); `schema` names the fields' stored types when the
    dataset knows them: (field, "datetime" | "int64" | "double" | "binary" | "string" | "int32" | "bool").
    A source types every value as it is stored, never as the schema expects; the schema only says which
    fields are doubles, whose whole values some sources send like integers. The field `key` may be
    compared too (`eq` finds one unit: a case's records, say).
    """

    entity_set: EntitySet
    organization_id: str
    predicates: tuple[Predicate, ...] = ()
    fields: tuple[str, ...] | None = None
    schema: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class JobListing:
    jobs: list[ExportJob]
    continuation_token: str | None


@dataclass(frozen=True)
class IdempotencyRecord:
    job_id: str
    request_hash: str


class JobStore(Protocol):
    def insert(self, job: ExportJob) -> ExportJob:
        """Adds a new job; raises Conflict if the id exists. Returns it with its ETag."""

    def get(self, organization_id: str, job_id: str) -> ExportJob | None: ...

    def replace(self, job: ExportJob) -> ExportJob:
        """Writes the job if its ETag still matches; raises ConcurrencyConflict otherwise."""

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: JobStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> JobListing:
        """Newest first."""

    def list_expired(self, now: datetime) -> Iterator[ExportJob]:
        """Completed, cancelled or failed jobs past expiry whose files are not cleaned up yet."""

    def list_stalled(self, updated_before: datetime) -> Iterator[ExportJob]:
        """Queued or running jobs that have not changed since the given time."""

    def list_pending_events(self, updated_before: datetime) -> Iterator[ExportJob]:
        """Final jobs whose event is still to publish (the outbox flag), unchanged since the given time."""

    def count_ids(self, organization_id: str, first_id: str, end_id: str, limit: int) -> int:
        """How many of the organization's jobs have an id in [first_id, end_id), whatever their state; counting
        stops at `limit`. Reads only the ids: a range of one partition, no entity is written."""


class IdempotencyStore(Protocol):
    def claim(self, organization_id: str, key: str, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Records the key if new and returns None; returns the existing record otherwise."""

    def get(self, organization_id: str, key: str) -> IdempotencyRecord | None:
        """The record of a key, or None; records nothing."""


class WorkQueue(Protocol):
    def send(self, message: WorkMessage, *, delay: timedelta | None = None) -> None: ...


class RowSource(Protocol):
    """Where an export reads its rows: Table storage (shared/storage) or PostgreSQL (shared/postgres)."""

    def read(self, query: RowQuery, after: str | None) -> Iterator[dict[str, Any]]:
        """Rows whose unit key is greater than `after`, in key order, fetched lazily page by page."""

    def count(self, query: RowQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        """Counts up to `limit` matching rows after `after`; returns (count, last key, or None when done)."""


class BlobSink(Protocol):
    def stage(self, blob_name: str, block_id: str, data: bytes) -> None: ...

    def commit(
        self,
        blob_name: str,
        block_ids: Sequence[str],
        *,
        content_type: str,
        content_disposition: str,
        content_encoding: str | None = None,
    ) -> int:
        """Commits the block list as the blob's content; returns the blob's size in bytes."""

    def discard(self, blob_name: str) -> None:
        """Deletes the blob and any uncommitted blocks; a missing blob is fine."""

    def exists(self, blob_name: str) -> bool: ...

    def read(self, blob_name: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes of the committed blob from `offset` (fewer only at its end)."""

    def write_once(self, blob_name: str, data: bytes, *, content_type: str, content_disposition: str) -> bytes:
        """Creates the blob with `data` unless it exists; returns its content as stored, never overwriting it."""


class LinkSigner(Protocol):
    def sign(self, blob_name: str, *, file_name: str, valid_for: timedelta) -> str:
        """A read-only URL for one blob that downloads as an attachment named `file_name`."""


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class SystemClock:
    def now(self) -> datetime:
        from datetime import UTC

        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock tests move by hand."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta


class TagStore(Protocol):
    """An organization's tagged fields. Slots, source paths and column names are unique per organization."""

    def list(self, organization_id: str) -> list[ReportFieldTag]: ...

    def get(self, organization_id: str, slot: int) -> ReportFieldTag | None: ...

    def insert(self, tag: ReportFieldTag) -> ReportFieldTag:
        """Raises Conflict naming what is taken: the slot, the source path or the column name."""

    def replace(self, tag: ReportFieldTag, previous: ReportFieldTag) -> ReportFieldTag:
        """Replaces `previous` (ETag-matched) with `tag`, possibly in another slot; Conflict as insert."""

    def delete(self, tag: ReportFieldTag) -> None: ...


class RunStore(Protocol):
    """Temporary sorted runs of a sorted export (external merge sort), deleted when the job ends."""

    def write(self, name: str, data: bytes) -> None: ...

    def read(self, name: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`; fewer (or none) at the end of the run."""

    def delete_all(self, prefix: str) -> None: ...


class EventQueues(Protocol):
    """The events queue (and callers' reply queues), and the queue of webhook deliveries to make."""

    def publish(self, event: ExportEvent | RequestRejectedEvent, *, queue: str | None = None) -> None:
        """Puts the event on the events queue, or on the named reply queue."""

    def send_notification(self, message: NotificationMessage, *, delay: timedelta | None = None) -> None: ...

    def queue_exists(self, name: str) -> bool:
        """Whether a queue of that name exists (a reply queue must, before a request naming it is taken)."""


DeliveryOutcome = Literal["delivered", "refused", "timeout", "unreachable"]


@dataclass(frozen=True)
class DeliveryResult:
    """How one webhook POST went: `delivered` (a 2xx answer), `refused` (any other answer, its status in
    `status_code`), `timeout` (no whole answer within the attempt's deadline), `unreachable` (no connection,
    a failed TLS handshake, or an answer that is not HTTP)."""

    outcome: DeliveryOutcome
    status_code: int | None = None


class WebhookSender(Protocol):
    def post(
        self, target: CallbackTarget, body: bytes, headers: dict[str, str], *, timeout: float
    ) -> DeliveryResult:
        """One POST to one of the target's checked addresses, within `timeout` seconds in all; never raises
        for anything the receiver does, and follows no redirect."""


class AuditLog(Protocol):
    """Append-only: there is no update and no delete."""

    def append(self, organization_id: str, entry: AuditEntry, *, key: str | None = None) -> None:
        """Adds a row; a `key` names a row that may be appended twice (a retried transition): once only."""

    def list_for_job(self, organization_id: str, job_id: str) -> list[AuditEntry]:
        """The job's rows, oldest first."""

    def append_tag_event(self, organization_id: str, entry: TagAuditEntry) -> None:
        """Adds a row of the tag admin (a change or a preview)."""

    def list_tag_events(
        self, organization_id: str, *, continuation_token: str | None, limit: int
    ) -> tuple[list[TagAuditEntry], str | None]:
        """The organization's tag rows, newest first: at most `limit`, and the token of the next page (None at
        the end). A token this method did not return raises MalformedRequest."""


@dataclass
class LimitRecord:
    """A per-organization limit: the jobs holding running slots."""

    job_ids: list[str]
    etag: str | None = None


class LimitStore(Protocol):
    def read(self, organization_id: str, key: str) -> LimitRecord: ...

    def write(self, organization_id: str, key: str, record: LimitRecord) -> None:
        """Creates (etag None) or replaces (ETag-matched) the record; raises ConcurrencyConflict if it lost."""


# ---- scheduled exports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleListing:
    schedules: list[ExportSchedule]
    continuation_token: str | None


class ScheduleStore(Protocol):
    """Export schedules, one partition per organization; every change is ETag-guarded."""

    def insert(self, schedule: ExportSchedule) -> ExportSchedule:
        """Adds a new schedule; raises Conflict if the id exists. Returns it with its ETag."""

    def get(self, organization_id: str, schedule_id: str) -> ExportSchedule | None: ...

    def replace(self, schedule: ExportSchedule) -> ExportSchedule:
        """Writes the schedule if its ETag still matches; raises ConcurrencyConflict otherwise."""

    def delete(self, schedule: ExportSchedule) -> None:
        """Removes the schedule if its ETag still matches; raises ConcurrencyConflict otherwise."""

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: ScheduleStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> ScheduleListing:
        """Newest first."""

    def due(self, now: datetime) -> Iterator[ExportSchedule]:
        """Active schedules of every organization whose next run is at or before `now`."""
