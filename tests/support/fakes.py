"""In-memory adapters behind the same ports, for fast unit tests of the core."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from exports.models import ExportJob, JobStatus, WorkMessage
from exports.models.schedule import ExportSchedule, ScheduleStatus
from exports.ports import KEY, IdempotencyRecord, JobListing, RowQuery, ScheduleListing
from shared.errors import ConcurrencyConflict, Conflict
from shared.storage.row_source import count_rows, filter_text, rows_of
from shared.storage.table_filter import check_filter
from shared.storage.table_query import TableLayout, TableQuery, holds, translate


@dataclass
class FakeJobStore:
    jobs: dict[tuple[str, str], ExportJob] = field(default_factory=dict)
    _etags: Iterator[int] = field(default_factory=itertools.count)
    # Table storage checks and writes an entity in one step: so does the fake, for tests that race threads.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def _stamp(self, job: ExportJob) -> ExportJob:
        stored = job.model_copy(deep=True, update={"etag": f"W/{next(self._etags)}"})
        self.jobs[(job.organization_id, job.job_id)] = stored
        return stored.model_copy(deep=True)

    def insert(self, job: ExportJob) -> ExportJob:
        with self._lock:
            if (job.organization_id, job.job_id) in self.jobs:
                raise Conflict("exists")
            return self._stamp(job)

    def get(self, organization_id: str, job_id: str) -> ExportJob | None:
        job = self.jobs.get((organization_id, job_id))
        return job.model_copy(deep=True) if job else None

    def replace(self, job: ExportJob) -> ExportJob:
        with self._lock:
            current = self.jobs.get((job.organization_id, job.job_id))
            if current is None or current.etag != job.etag:
                raise ConcurrencyConflict("etag")
            return self._stamp(job)

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: JobStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> JobListing:
        jobs = sorted((j for (org, _), j in self.jobs.items() if org == organization_id), key=lambda j: j.job_id)
        jobs = [
            j
            for j in jobs
            if (created_by_id is None or j.created_by_id == created_by_id) and (status is None or j.status is status)
        ]
        start = int(continuation_token or 0)
        page = jobs[start : start + page_size]
        more = start + page_size < len(jobs)
        return JobListing([j.model_copy(deep=True) for j in page], str(start + page_size) if more else None)

    def list_expired(self, now: datetime) -> Iterator[ExportJob]:
        for job in list(self.jobs.values()):
            if job.expires_at is not None and job.expires_at < now and not job.is_cleaned_up:
                yield job.model_copy(deep=True)

    def list_stalled(self, updated_before: datetime) -> Iterator[ExportJob]:
        for job in list(self.jobs.values()):
            if job.updated_at < updated_before and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                yield job.model_copy(deep=True)

    def list_pending_events(self, updated_before: datetime) -> Iterator[ExportJob]:
        for job in list(self.jobs.values()):
            if job.event_pending and job.updated_at < updated_before:
                yield job.model_copy(deep=True)

    def count_ids(self, organization_id: str, first_id: str, end_id: str, limit: int) -> int:
        found = sum(1 for org, job_id in list(self.jobs) if org == organization_id and first_id <= job_id < end_id)
        return min(found, max(limit, 0))


@dataclass
class FakeIdempotencyStore:
    records: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)

    def claim(self, organization_id: str, key: str, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # One atomic step, as Table storage's insert: two threads claiming the same key never both win.
        existing = self.records.setdefault((organization_id, key), record)
        return None if existing is record else existing

    def get(self, organization_id: str, key: str) -> IdempotencyRecord | None:
        return self.records.get((organization_id, key))


@dataclass
class FakeWorkQueue:
    messages: list[WorkMessage] = field(default_factory=list)

    def send(self, message: WorkMessage, *, delay: timedelta | None = None) -> None:
        self.messages.append(message)

    def pop(self) -> WorkMessage:
        return self.messages.pop(0)


@dataclass
class FakeRowSource:
    """Entity sets held as Table storage holds them (tables of PartitionKey/RowKey entities), read through
    the same translation as the Table storage adapter, terms evaluated as Table storage evaluates them."""

    tables: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    layout: TableLayout = field(default_factory=TableLayout)
    reads: int = 0

    def add(self, table: str, entities: Sequence[dict[str, Any]]) -> None:
        for entity in entities:
            partition = self.tables.setdefault(table, {}).setdefault(entity["PartitionKey"], {})
            partition[entity["RowKey"]] = dict(entity)

    def read(self, query: RowQuery, after: str | None) -> Iterator[dict[str, Any]]:
        self.reads += 1
        translated = translate(query, after, self.layout)
        yield from rows_of(translated, self.read_table(translated.table_query, translated.after))

    def count(self, query: RowQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        keys_only = RowQuery(query.entity_set, query.organization_id, query.predicates, (KEY,))
        translated = translate(keys_only, after, self.layout)
        return count_rows(rows_of(translated, self.read_table(translated.table_query, translated.after)), limit)

    def read_table(self, query: TableQuery, after: str | None) -> Iterator[dict[str, Any]]:
        # The filter Table storage would get: refused here as the real adapter refuses it.
        check_filter(filter_text(query, after))
        partition = self.tables.get(query.table, {}).get(query.partition, {})
        for key in sorted(partition):
            if after is not None and key <= after:
                continue
            entity = partition[key]
            if all(holds(c.op, entity.get(c.prop), c.value) for c in query.conditions):
                yield dict(entity)


@dataclass
class FakeBlobSink:
    staged: dict[str, dict[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    properties: dict[str, dict[str, str | None]] = field(default_factory=dict)
    fail_after_stages: int | None = None
    stage_calls: int = 0

    def stage(self, blob_name: str, block_id: str, data: bytes) -> None:
        self.stage_calls += 1
        self.staged.setdefault(blob_name, {})[block_id] = bytes(data)
        if self.fail_after_stages is not None and self.stage_calls >= self.fail_after_stages:
            self.fail_after_stages = None
            raise ConnectionError("simulated crash after staging a block")

    def commit(
        self,
        blob_name: str,
        block_ids: Sequence[str],
        *,
        content_type: str,
        content_disposition: str,
        content_encoding: str | None = None,
    ) -> int:
        staged = self.staged.get(blob_name, {})
        self.blobs[blob_name] = b"".join(staged[block_id] for block_id in block_ids)
        self.properties[blob_name] = {
            "content_type": content_type,
            "content_disposition": content_disposition,
            "content_encoding": content_encoding,
        }
        return len(self.blobs[blob_name])

    def discard(self, blob_name: str) -> None:
        self.blobs.pop(blob_name, None)
        self.staged.pop(blob_name, None)

    def exists(self, blob_name: str) -> bool:
        return blob_name in self.blobs

    def read(self, blob_name: str, offset: int, length: int) -> bytes:
        return self.blobs[blob_name][offset : offset + length]

    def write_once(self, blob_name: str, data: bytes, *, content_type: str, content_disposition: str) -> bytes:
        if blob_name not in self.blobs:
            self.blobs[blob_name] = bytes(data)
            self.properties[blob_name] = {
                "content_type": content_type,
                "content_disposition": content_disposition,
                "content_encoding": None,
            }
        return self.blobs[blob_name]


@dataclass
class FakeLinkSigner:
    signed: list[tuple[str, timedelta]] = field(default_factory=list)

    def sign(self, blob_name: str, *, file_name: str, valid_for: timedelta) -> str:
        self.signed.append((blob_name, valid_for))
        return f"https://blobs.example/{blob_name}?file={quote(file_name)}&valid={int(valid_for.total_seconds())}"


@dataclass
class FakeTagStore:
    tags: dict[tuple[str, int], Any] = field(default_factory=dict)
    _etags: Iterator[int] = field(default_factory=itertools.count)

    def list(self, organization_id: str) -> list[Any]:
        return sorted((t for (org, _), t in self.tags.items() if org == organization_id), key=lambda t: t.tag_slot)

    def get(self, organization_id: str, slot: int) -> Any:
        return self.tags.get((organization_id, slot))

    def _check(self, tag: Any, ignore: Any = None) -> None:
        for other in self.list(tag.organization_id):
            if ignore is not None and other.tag_slot == ignore.tag_slot:
                continue
            if other.tag_slot == tag.tag_slot:
                raise Conflict(f"Tag slot {tag.tag_slot} is already in use")
            if (other.source_entity_type, other.source_field_path, other.template_id) == (
                tag.source_entity_type,
                tag.source_field_path,
                tag.template_id,
            ):
                raise Conflict(f"{tag.source_field_path} is already tagged in slot {other.tag_slot}")
            if other.column_name == tag.column_name:
                raise Conflict(f"Column name {tag.column_name} is already used by the tag in slot {other.tag_slot}")

    def insert(self, tag: Any) -> Any:
        self._check(tag)
        stored = tag.model_copy(update={"etag": str(next(self._etags))})
        self.tags[(tag.organization_id, tag.tag_slot)] = stored
        return stored

    def replace(self, tag: Any, previous: Any) -> Any:
        current = self.tags.get((previous.organization_id, previous.tag_slot))
        if current is None or current.etag != previous.etag:
            raise ConcurrencyConflict("etag")
        self._check(tag, ignore=previous)
        del self.tags[(previous.organization_id, previous.tag_slot)]
        return self.insert(tag)

    def delete(self, tag: Any) -> None:
        self.tags.pop((tag.organization_id, tag.tag_slot), None)


@dataclass
class FakeRunStore:
    runs: dict[str, bytes] = field(default_factory=dict)

    def write(self, name: str, data: bytes) -> None:
        self.runs[name] = data

    def read(self, name: str, offset: int, length: int) -> bytes:
        return self.runs[name][offset : offset + length]

    def delete_all(self, prefix: str) -> None:
        for name in [name for name in self.runs if name.startswith(prefix)]:
            del self.runs[name]


@dataclass
class FakeScheduleStore:
    """Schedules in memory, ETag-guarded like Table storage; `before_due` runs at the start of every `due()`
    (a test holds two timers there with a barrier, so both see the same due schedule)."""

    schedules: dict[tuple[str, str], ExportSchedule] = field(default_factory=dict)
    before_due: Callable[[], object] | None = None
    _etags: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def _stamp(self, schedule: ExportSchedule) -> ExportSchedule:
        stored = schedule.model_copy(deep=True, update={"etag": f"W/{next(self._etags)}"})
        self.schedules[(schedule.organization_id, schedule.schedule_id)] = stored
        return stored.model_copy(deep=True)

    def insert(self, schedule: ExportSchedule) -> ExportSchedule:
        with self._lock:
            if (schedule.organization_id, schedule.schedule_id) in self.schedules:
                raise Conflict("exists")
            return self._stamp(schedule)

    def get(self, organization_id: str, schedule_id: str) -> ExportSchedule | None:
        found = self.schedules.get((organization_id, schedule_id))
        return found.model_copy(deep=True) if found else None

    def replace(self, schedule: ExportSchedule) -> ExportSchedule:
        with self._lock:
            current = self.schedules.get((schedule.organization_id, schedule.schedule_id))
            if current is None or current.etag != schedule.etag:
                raise ConcurrencyConflict("etag")
            return self._stamp(schedule)

    def delete(self, schedule: ExportSchedule) -> None:
        with self._lock:
            current = self.schedules.get((schedule.organization_id, schedule.schedule_id))
            if current is None or current.etag != schedule.etag:
                raise ConcurrencyConflict("etag")
            del self.schedules[(schedule.organization_id, schedule.schedule_id)]

    def list(
        self,
        organization_id: str,
        *,
        created_by_id: str | None,
        status: ScheduleStatus | None,
        page_size: int,
        continuation_token: str | None,
    ) -> ScheduleListing:
        found = sorted(
            (s for (org, _), s in self.schedules.items() if org == organization_id
             and (created_by_id is None or s.created_by.user_id == created_by_id)
             and (status is None or s.status == status)),
            key=lambda s: s.schedule_id,
        )
        start = int(continuation_token or 0)
        more = start + page_size < len(found)
        page = [s.model_copy(deep=True) for s in found[start : start + page_size]]
        return ScheduleListing(page, str(start + page_size) if more else None)

    def due(self, now: datetime) -> Iterator[ExportSchedule]:
        if self.before_due is not None:
            self.before_due()
        for schedule in list(self.schedules.values()):
            if schedule.status == "active" and schedule.next_run_at <= now:
                yield schedule.model_copy(deep=True)
